"""Writing the audit log.

Every insert, update and delete of a model marked ``__audited__ = True`` is recorded by a
session hook with the changed columns (secret columns, listed in ``__audit_secret__``, show only
that they changed; bookkeeping columns in ``__audit_ignore__`` alone make no update event).
Actions that are not row changes — logins, failed logins, reveals of personal data, exports —
call :func:`record_event` themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
import decimal
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from app.common import utcnow
from app.extensions import db

_cli_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_actor", default=None)
SECRET = "***"  # noqa: S105 - the mask shown for secret columns


@contextlib.contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Name the actor for writes made outside a request (CLI commands, the demo loader)."""
    token = _cli_actor.set(label)
    try:
        yield
    finally:
        _cli_actor.reset(token)


def _actor() -> tuple[int | None, str, int | None]:
    """(user id, label, district id) of whoever is acting now."""
    if has_request_context():
        try:
            user = current_user._get_current_object()
        except Exception:  # noqa: BLE001 - no login manager context: anonymous
            user = None
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id, user.username, user.district_id
        return None, "anonymous", None
    return None, _cli_actor.get() or "system", None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def _row(
    action: str,
    object_type: str,
    object_id: int | None,
    changes: dict | None,
    district_id: int | None,
    school_id: int | None,
) -> dict[str, Any]:
    actor_id, actor_label, actor_district = _actor()
    return {
        "created_at": utcnow(),
        "actor_id": actor_id,
        "actor_label": actor_label[:100],
        "action": action[:40],
        "object_type": object_type[:40],
        "object_id": object_id,
        "district_id": district_id if district_id is not None else actor_district,
        "school_id": school_id,
        "ip": (request.remote_addr if has_request_context() else None),
        "changes": changes,
    }


def record_event(
    action: str,
    object_type: str,
    object_id: int | None = None,
    *,
    changes: dict[str, Any] | None = None,
    district_id: int | None = None,
    school_id: int | None = None,
    actor_label: str | None = None,
) -> None:
    """Record an action that is not a plain row change (login, reveal, export …)."""
    from app.audit.models import AuditEvent

    row = _row(action, object_type, object_id, changes, district_id, school_id)
    if actor_label:
        row["actor_label"] = actor_label[:100]
    db.session.add(AuditEvent(**row))


def _changes(obj: Any, action: str) -> dict[str, Any]:
    state = inspect(obj)
    secret = getattr(type(obj), "__audit_secret__", frozenset())
    ignored = getattr(type(obj), "__audit_ignore__", frozenset())
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in ignored and action == "update":
            continue
        hist = state.attrs[key].history
        if action == "create":
            value = getattr(obj, key)
            if value is None:
                continue
            out[key] = SECRET if key in secret else _plain(value)
        elif action == "update" and hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old == new:
                continue
            out[key] = [SECRET, SECRET] if key in secret else [_plain(old), _plain(new)]
        elif action == "delete":
            out[key] = SECRET if key in secret else _plain(getattr(obj, key))
    return out


def _audited(obj: Any) -> bool:
    return getattr(type(obj), "__audited__", False)


def _after_flush(session: Session, flush_context: Any) -> None:  # noqa: ARG001
    from app.audit.models import AuditEvent

    rows = []
    for action, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            if not _audited(obj):
                continue
            if action == "update" and not session.is_modified(obj, include_collections=False):
                continue
            changes = _changes(obj, action)
            if action == "update" and not changes:
                continue
            rows.append(
                _row(
                    action,
                    obj.__tablename__,
                    getattr(obj, "id", None),
                    changes,
                    getattr(obj, "district_id", None),
                    getattr(obj, "school_id", None),
                )
            )
    if rows:
        _fill_districts_from_schools(session, rows)
        session.connection().execute(insert(AuditEvent.__table__), rows)


def _fill_districts_from_schools(session: Session, rows: list[dict[str, Any]]) -> None:
    """Objects of a school (a class, a leadership member) carry no district of their own, and
    outside a request there is no actor's district either: take the school's."""
    from sqlalchemy import select

    from app.org.models import School

    wanted = {r["school_id"] for r in rows if r["district_id"] is None and r["school_id"]}
    if not wanted:
        return
    districts = dict(
        session.connection()
        .execute(select(School.id, School.district_id).where(School.id.in_(wanted)))
        .all()
    )
    for row in rows:
        if row["district_id"] is None and row["school_id"] in districts:
            row["district_id"] = districts[row["school_id"]]


def install_audit_hook() -> None:
    """Listen on every session of Flask-SQLAlchemy (called once by create_app)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
