"""Idempotency keys for write requests (API-v1.md; the Stripe design, CORRECTNESS.md).

``run_once(user_id, key, body, work)`` around the request's write transaction:

1. claim the key: ``INSERT … ON CONFLICT DO NOTHING``. On PostgreSQL an insert that conflicts
   with a still-running first request *waits* for it to commit; on SQLite the write lock
   queues the two. Either way the second arrives after the first is done, and never runs twice;
2. if the key was there: the same body gets the stored answer back; another body gets 409
   ``idempotency_conflict``;
3. if we claimed it: ``work()`` runs and its 201 answer is stored with the key, in the same
   transaction as the ledger rows. A business-rule refusal (409: ``insufficient_points``,
   ``out_of_stock`` …) rolls the whole transaction back — ledgers and claim — and the refusal is
   then stored under the key in a short transaction of its own, so a retry gets the same 409.
   (No savepoint around every checkout: the common case pays for nothing it does not use.)
   Other refusals (400/403/404/422) propagate; the caller rolls back and the key is forgotten,
   so a corrected request can reuse it.

The caller commits after ``run_once`` returns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.common import DomainError, utcnow
from app.counter.models import IdempotencyKey
from app.extensions import db

KEEP_FOR = timedelta(hours=48)
MAX_KEY_LENGTH = 128


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status = 400


def request_hash(body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_KEYS = IdempotencyKey.__table__
# Built once per dialect (building costs more than running them on SQLite).
_CLAIM = {
    module.dialect.name: module.insert(_KEYS)
    .values(
        user_id=bindparam("b_user"),
        key=bindparam("b_key"),
        request_hash=bindparam("b_hash"),
        created_at=bindparam("b_now"),
    )
    .on_conflict_do_nothing(index_elements=["user_id", "key"])
    .returning(_KEYS.c.id)
    for module in (postgresql, sqlite)
}
_STORED = select(_KEYS.c.request_hash, _KEYS.c.status_code, _KEYS.c.response_body).where(
    _KEYS.c.user_id == bindparam("b_user"), _KEYS.c.key == bindparam("b_key")
)
_STORE = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("b_id"))
    .values(status_code=bindparam("b_status"), response_body=bindparam("b_body"))
)


def _claim(user_id: int, key: str, digest: str) -> int | None:
    """The new key row's id, or None if the key was there already."""
    dialect = db.session.get_bind().dialect.name
    return db.session.execute(
        _CLAIM[dialect], {"b_user": user_id, "b_key": key, "b_hash": digest, "b_now": utcnow()}
    ).scalar()


def _store(key_id: int, status: int, answer: dict) -> None:
    body = json.dumps(answer, ensure_ascii=False)
    db.session.execute(_STORE, {"b_id": key_id, "b_status": status, "b_body": body})


def run_once(
    user_id: int, key: str, body: object, work: Callable[[], tuple[int, dict]]
) -> tuple[int, dict, bool]:
    """(status, answer, replayed). ``work`` returns (201, answer) or raises."""
    digest = request_hash(body)
    key_id = _claim(user_id, key, digest)
    if key_id is None:
        return _replay(user_id, key, digest)
    try:
        status, answer = work()
    except DomainError as exc:
        if exc.status != 409:
            raise
        # The ledgers may be half-written: undo everything, then keep the refusal alone.
        db.session.rollback()
        key_id = _claim(user_id, key, digest)
        if key_id is None:  # a concurrent retry stored its own answer meanwhile
            return _replay(user_id, key, digest)
        status, answer = 409, {"error": {"code": exc.code, "message": exc.message}}
    _store(key_id, status, answer)
    return status, answer, False


def stored_answer(user_id: int, key: str, body: object) -> tuple[int, dict, bool] | None:
    """A retry's stored answer, read before any write (None: the key is new, or its first
    request is still running — then :func:`run_once`'s claim waits for it)."""
    stored = db.session.execute(_STORED, {"b_user": user_id, "b_key": key}).first()
    if stored is None or stored.status_code is None:
        return None
    return _replay(user_id, key, request_hash(body), stored)


def _replay(user_id: int, key: str, digest: str, stored=None) -> tuple[int, dict, bool]:  # noqa: ANN001
    if stored is None:
        stored = db.session.execute(_STORED, {"b_user": user_id, "b_key": key}).one()
    if stored.request_hash != digest:
        raise IdempotencyConflict(
            _("This Idempotency-Key was already used for a different request.")
        )
    return stored.status_code, json.loads(stored.response_body), True


def prune(older_than: timedelta = KEEP_FOR) -> int:
    """Forget keys older than ``older_than`` (at least 24 hours are kept)."""
    result = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    )
    return result.rowcount or 0
