"""Idempotency keys for write requests (API-v1.md; the Stripe design, CORRECTNESS.md).

``run_once(user_id, key, body, work)`` in the request's transaction:

1. claim the key: ``INSERT … ON CONFLICT DO NOTHING``. On PostgreSQL an insert that conflicts
   with a still-running first request *waits* for it to commit; on SQLite the write lock
   queues the two. Either way the second arrives after the first is done, and never runs twice;
2. if the key was there: the same body gets the stored answer back; another body gets 409
   ``idempotency_conflict``;
3. if we claimed it: ``work()`` runs inside a savepoint. A 201 or a business-rule 409 is stored
   with the key (in the same transaction as the ledger rows); other refusals (400/403/404/422)
   propagate, the caller rolls back and the key is forgotten, so a corrected request can reuse it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select, update
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


def _claim(user_id: int, key: str, digest: str) -> bool:
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    claimed = db.session.execute(
        module.insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=digest, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
    ).scalar()
    return claimed is not None


def run_once(
    user_id: int, key: str, body: object, work: Callable[[], tuple[int, dict]]
) -> tuple[int, dict, bool]:
    """(status, answer, replayed). ``work`` returns (201, answer) or raises."""
    digest = request_hash(body)
    if not _claim(user_id, key, digest):
        row = db.session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        ).one()
        if row.request_hash != digest:
            raise IdempotencyConflict(
                _("This Idempotency-Key was already used for a different request.")
            )
        return row.status_code, json.loads(row.response_body), True
    savepoint = db.session.begin_nested()
    try:
        status, answer = work()
        savepoint.commit()
    except DomainError as exc:
        if exc.status != 409:
            raise
        savepoint.rollback()
        status, answer = 409, {"error": {"code": exc.code, "message": exc.message}}
    db.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status_code=status, response_body=json.dumps(answer, ensure_ascii=False))
        .execution_options(synchronize_session=False)
    )
    return status, answer, False


def prune(older_than: timedelta = KEEP_FOR) -> int:
    """Forget keys older than ``older_than`` (at least 24 hours are kept)."""
    result = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    )
    return result.rowcount or 0
