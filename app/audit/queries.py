"""Reading the audit log: the district admin's filtered, paginated list and readable diffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from app.audit.models import AuditEvent
from app.audit.operations import SECRET
from app.auth.models import User
from app.auth.roles import Role
from app.auth.scope import scoped
from app.common import local_zone
from app.extensions import db

PER_PAGE = 50

# Actions written by the session hook and by record_event(); other domains add their own
# (reveal, export …). The list only feeds the filter's suggestions and the labels: any action
# stored in the log can be filtered on.
ACTION_LABELS = {
    "create": _l("created"),
    "update": _l("changed"),
    "delete": _l("deleted"),
    "login": _l("logged in"),
    "login_failed": _l("failed login"),
    "logout": _l("logged out"),
    "reset_password": _l("password reset"),
    "revoke_all_tokens": _l("all API tokens revoked"),
}

OBJECT_LABELS = {
    "user": _l("User"),
    "api_token": _l("API token"),
    "district": _l("District"),
    "alliance": _l("Alliance"),
    "school": _l("School"),
    "school_class": _l("Class"),
    "leadership_member": _l("Leadership group member"),
}

FIELD_LABELS = {
    "username": _l("Username"),
    "display_name": _l("Name"),
    "name": _l("Name"),
    "role": _l("Role"),
    "active": _l("Active"),
    "phone": _l("Phone"),
    "school_id": _l("School"),
    "alliance_id": _l("Alliance"),
    "district_id": _l("District"),
    "password_hash": _l("Password"),
    "token_hash": _l("Token"),
    "revoked_at": _l("Revoked"),
    "head_teacher_id": _l("Head teacher"),
    "lead_school_id": _l("Lead school"),
    "reason": _l("Reason"),
    "created_at": _l("Created"),
    "last_login_at": _l("Last login"),
    "password_changed_at": _l("Password set"),
    "last_used_at": _l("Last used"),
    "prefix": _l("Starts with"),
    "locale": _l("Language"),
    "stage": _l("Stage"),
    "address": _l("Address"),
    "supermarket_manager": _l("Love supermarket in charge"),
    "supermarket_manager_phone": _l("Phone of the person in charge"),
    "grade": _l("Grade"),
    "number": _l("Class number"),
    "note": _l("Note"),
    "position": _l("Position"),
    "group_role": _l("Role in the group"),
    "sort_order": _l("Order"),
    "code": _l("Code"),
    "city": _l("City"),
    "aid_centre_name": _l("Aid centre"),
}

# Defence in depth: whatever a writer stored, a field whose name says it holds a secret is
# never shown (the hook already stores "***" for columns listed in __audit_secret__).
_SECRET_WORDS = ("password", "secret", "token_hash", "key_hash")
_MAX_VALUE = 200


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def object_label(object_type: str) -> str:
    label = OBJECT_LABELS.get(object_type)
    return str(label) if label is not None else object_type


def audited_object_types() -> list[str]:
    """Table names of the audited models, plus "user" (login events), for the filter."""
    names = {"user"}
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if getattr(cls, "__audited__", False):
            names.add(cls.__tablename__)
    return sorted(names)


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    date_from: date | None = None  # local dates, both ends included
    date_to: date | None = None


def local_day_start(day: date) -> datetime:
    """The naive-UTC instant at which ``day`` starts in the deployment's time zone."""
    start = datetime.combine(day, time.min, tzinfo=local_zone())
    return start.astimezone(UTC).replace(tzinfo=None)


def events_query(user: User, filters: AuditFilters) -> Select:
    """The user's district's events, newest first, narrowed by the filters."""
    if user.role != Role.DISTRICT_ADMIN:  # the view checks too; never widen by mistake
        raise PermissionError("only district admins browse the audit log")
    stmt = scoped(select(AuditEvent), user)
    if filters.actor:
        stmt = stmt.where(AuditEvent.actor_label.icontains(filters.actor, autoescape=True))
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.date_from:
        stmt = stmt.where(AuditEvent.created_at >= local_day_start(filters.date_from))
    if filters.date_to:
        end = local_day_start(filters.date_to + timedelta(days=1))
        stmt = stmt.where(AuditEvent.created_at < end)
    return stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


@dataclass(frozen=True)
class ChangeLine:
    field: str
    label: str
    old: str | None  # None: not a before/after pair (a created or deleted row, an event detail)
    new: str
    is_pair: bool


def _is_secret_field(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith("_at"):  # password_changed_at is a time, not a secret
        return False
    return any(word in lowered for word in _SECRET_WORDS)


# Id columns shown by name: field → the model whose name (or display name) stands for the id.
_REFERENCES = {
    "school_id": "school",
    "lead_school_id": "school",
    "alliance_id": "alliance",
    "head_teacher_id": "user",
    "user_id": "user",
    "district_id": "district",
}

Names = dict[str, dict[int, str]]


def reference_names(events: list[AuditEvent], user: User) -> Names:
    """Names of the districts, schools, alliances and users the events are about or whose
    changes refer to them by id.

    One query per kind for the whole page, each through the viewer's scope, so a name from
    outside the district is never shown (the bare id is).
    """
    from app.org.models import Alliance, District, School

    wanted: dict[str, set[int]] = {
        kind: set() for kind in ("school", "alliance", "user", "district")
    }
    for event in events:
        if event.object_type in wanted and event.object_id is not None:
            wanted[event.object_type].add(event.object_id)
        if not isinstance(event.changes, dict):
            continue
        for key, raw in event.changes.items():
            kind = _REFERENCES.get(str(key))
            if kind is None:
                continue
            for value in raw if isinstance(raw, list) else [raw]:
                if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
                    wanted[kind].add(value)
    names: Names = {kind: {} for kind in wanted}
    for kind, model, column in (
        ("district", District, District.name),
        ("school", School, School.name),
        ("alliance", Alliance, Alliance.name),
        ("user", User, User.display_name),
    ):
        if wanted[kind]:
            stmt = scoped(select(model.id, column), user, model).where(
                model.id.in_(sorted(wanted[kind]))
            )
            names[kind] = {row[0]: row[1] for row in db.session.execute(stmt)}
    return names


def object_name(event: AuditEvent, names: Names) -> str | None:
    """The name of the event's object, when it is one :func:`reference_names` looked up."""
    if event.object_id is None:
        return None
    return names.get(event.object_type, {}).get(event.object_id)


_ROLE_VALUES = frozenset(r.value for r in Role)


def _local_time(value: str) -> str:
    """A stored naive-UTC ISO time (the hook's format) in the viewer's zone and language."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return format_datetime(parsed, "medium")


def _show(field: str, value: Any, names: Names | None = None) -> str:
    if value is None or value == "":
        return "—"
    if value == SECRET:
        return SECRET
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    kind = _REFERENCES.get(field)
    if kind and names and isinstance(value, int) and value in names.get(kind, {}):
        return f"{names[kind][value]} (#{value})"
    if isinstance(value, str):
        if field == "role" and value in _ROLE_VALUES:
            return Role(value).label
        if field.endswith("_at"):
            return _local_time(value)
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_VALUE:
        text = text[: _MAX_VALUE - 1] + "…"
    return text


def describe_changes(event: AuditEvent, names: Names | None = None) -> list[ChangeLine]:
    """``changes`` as lines a person can read: old → new for updates, the values otherwise."""
    changes = event.changes
    if not isinstance(changes, dict):
        return []
    lines = []
    for key in sorted(changes, key=str):
        name = str(key)
        if name == "id":  # the object's id is shown beside it already
            continue
        raw = changes[key]
        label = str(FIELD_LABELS.get(name, name))
        secret = _is_secret_field(name)
        pair = event.action == "update" and isinstance(raw, list) and len(raw) == 2
        if pair:
            old, new = (
                (SECRET, SECRET)
                if secret
                else (
                    _show(name, raw[0], names),
                    _show(name, raw[1], names),
                )
            )
            lines.append(ChangeLine(name, label, old, new, True))
        else:
            value = SECRET if secret else _show(name, raw, names)
            lines.append(ChangeLine(name, label, None, value, False))
    return lines
