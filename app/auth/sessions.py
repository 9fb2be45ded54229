"""Server-side sessions and bearer tokens behind Flask-Login (ASVS 7.x).

The signed cookie holds only a random session key. Each request looks the key's hash up in
``user_session``: a revoked session, a disabled user, an idle or over-age session is refused at
once — which a plain cookie session cannot do. ``last_seen_at`` is written at most once a minute,
in its own short write transaction, so reading pages stays cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from sqlalchemy import bindparam, select, update

from app.auth.models import ApiToken, User, UserSession
from app.common import utcnow
from app.database import wants_write, write_intent
from app.extensions import db, login_manager

TOKEN_PREFIX = "axt_"  # noqa: S105 - a visible prefix, not a secret
_LAST_SEEN_GRANULARITY = timedelta(seconds=60)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _client_ip() -> str | None:
    return request.remote_addr if request else None


def start_session(user: User) -> str:
    """Open a new server-side session for a user who just proved who they are.

    The old cookie session is cleared first, so no id survives from before login (fixation).
    """
    session.clear()
    key = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            key_hash=hash_secret(key),
            ip=_client_ip(),
            user_agent=(request.user_agent.string or "")[:200] if request else None,
        )
    )
    user.session_key = key
    return key


def end_session(key: str | None) -> None:
    if key:
        db.session.execute(
            update(UserSession)
            .where(UserSession.key_hash == hash_secret(key), UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    session.clear()


def revoke_all_sessions(user_id: int, *, except_key: str | None = None) -> None:
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if except_key:
        stmt = stmt.where(UserSession.key_hash != hash_secret(except_key))
    db.session.execute(stmt.values(revoked_at=utcnow()))


@login_manager.user_loader
def load_user_from_session(key: str) -> User | None:
    now = utcnow()
    row = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.key_hash == hash_secret(key))
    ).first()
    if row is None:
        return None
    user_session, user = row
    cfg = current_app.config
    idle = timedelta(minutes=cfg["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    if (
        user_session.revoked_at is not None
        or not user.active
        or now - user_session.last_seen_at > idle
        or now - user_session.created_at > absolute
    ):
        g.session_expired = user_session.revoked_at is None and user.active
        return None
    if now - user_session.last_seen_at > _LAST_SEEN_GRANULARITY:
        _touch(user_session.id, now)
    user.session_key = key
    return user


def _touch(session_id: int, now) -> None:
    stmt = update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
    if wants_write():
        # A writing request: its own transaction (which on SQLite holds the writer lock) takes
        # the update along. A second connection would wait for that lock forever.
        db.session.execute(stmt)
        return
    # A reading request: a short write transaction of its own, so the request's transaction
    # stays a reader (on SQLite a reader that starts writing can fail at once with SQLITE_BUSY).
    with write_intent(True), db.engine.begin() as conn:
        conn.execute(stmt)


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


_TOKENS = ApiToken.__table__
_TOKEN_AND_USER = (
    select(User, _TOKENS.c.id, _TOKENS.c.revoked_at, _TOKENS.c.last_used_at)
    .join(_TOKENS, _TOKENS.c.user_id == User.id)
    .where(_TOKENS.c.token_hash == bindparam("b_hash"))
)


@login_manager.request_loader
def load_user_from_bearer(req) -> User | None:
    header = req.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":  # the scheme is case-insensitive (RFC 7235)
        return None
    g.bearer_attempted = True
    secret = header[7:].strip()
    if not secret or len(secret) > 200:
        return None
    # The user as an object (it becomes current_user), the token as plain columns: one query,
    # and no second ORM object to build on every API call.
    row = db.session.execute(_TOKEN_AND_USER, {"b_hash": hash_secret(secret)}).first()
    if row is None:
        return None
    user, token_id, revoked_at, last_used_at = row
    if revoked_at is not None or not user.active:
        return None
    g.api_token_id = token_id
    g.api_token_last_used_at = last_used_at
    g.bearer_auth = True
    user.session_key = None
    return user
