"""Who is calling the API, and may they call this view (runs before every API view).

Two ways in (API-v1.md, "Auth"):

* ``Authorization: Bearer <token>`` — scripts, the counter, integrations. When the header is
  present it alone decides: a bad, revoked or disabled-user token is 401 even if the request also
  carries a valid session cookie. No CSRF check: a browser never adds this header on its own.
* The browser's session cookie, as for the pages. Then unsafe methods (POST, PUT, PATCH, DELETE)
  must carry the page's CSRF token in ``X-CSRFToken``: CSRFProtect's automatic check is switched
  off for the API blueprints and done here instead, only for cookie-authenticated calls.

Public views ignore credentials altogether (the caller acts as anonymous), so ``/health`` never
touches the database for an ``Authorization`` header and still answers 503 when it is down.

Then the view's declared access (:mod:`app.auth.access`) is enforced here too, before webargs
parses anything: 401 for no or bad credentials, 403 for a role the view does not allow. The
decorators on the view check again; the guard only makes the order of checks independent of the
order of decorators.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Response, abort, current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from webargs.flaskparser import abort as abort_with

from app.auth.access import PUBLIC, access_of
from app.auth.models import ApiToken, User
from app.auth.sessions import load_user_from_bearer
from app.common import utcnow
from app.database import end_reading, is_sqlite, read_only, wants_write, write_intent
from app.extensions import csrf, db

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_TOUCH_EVERY = timedelta(seconds=60)
DEFAULT_API_MAX_CONTENT_LENGTH = 1024 * 1024  # JSON bodies are small: 200 lines fit in 20 KB


def _set_request_user(user: User | None) -> None:
    # Flask-Login caches the request's user in g; this is how its own loaders store it.
    current_app.login_manager._update_request_context_with_user(user)


def _authenticate() -> User | None:
    if "Authorization" in request.headers:
        user = load_user_from_bearer(request)
        _set_request_user(user)
        if user is not None:
            touch_token(g.api_token_id)
        return user
    user = current_user._get_current_object()
    return user if user.is_authenticated else None


def api_guard() -> None:
    """``before_request`` of every API blueprint."""
    g.api_request = True
    limit = current_app.config.get("API_MAX_CONTENT_LENGTH", DEFAULT_API_MAX_CONTENT_LENGTH)
    app_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    request.max_content_length = min(limit, app_limit) if app_limit else limit

    access = access_of(current_app.view_functions.get(request.endpoint))
    if access is None:  # ApiBlueprint refuses such views; never serve one by accident
        log.error("API view %s declares no access", request.endpoint)
        abort(403)
    if access == PUBLIC:
        _set_request_user(None)
        return

    view = current_app.view_functions.get(request.endpoint)
    if request.method in SAFE_METHODS:
        user = _authenticate()
    else:
        # A writing request authenticates in a reading transaction, so that on SQLite the
        # writer lock is not held while the token, the user and the session are looked up;
        # the view's writes then begin their own write transaction. A view marked
        # @reads_before_writing goes on reading in this transaction and ends it itself.
        with read_only():
            user = _authenticate()
        if not getattr(view, "reads_before_writing", False):
            end_reading(db.session)
    if user is None:
        if "Authorization" in request.headers:
            message = _("The API token is missing, invalid or revoked.")
        else:
            message = _("Send an API token (Authorization: Bearer …) or log in.")
        abort_with(401, message=message)
    if (
        request.method not in SAFE_METHODS
        and not g.get("bearer_auth")
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        csrf.protect()  # raises CSRFError -> 400 csrf_failed (app/errors.py)
    if isinstance(access, frozenset) and user.role not in access:
        abort(403)


def reads_before_writing(view: F) -> F:
    """Mark a writing API view that reads what it needs in the transaction the guard opened to
    authenticate (inside :func:`app.database.read_only`) and then calls
    :func:`app.database.end_reading` itself before it writes (the counter's checkout)."""
    view.reads_before_writing = True  # type: ignore[attr-defined]
    return view


def add_www_authenticate(response: Response) -> Response:
    """RFC 6750: a 401 names the scheme the client should use."""
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="aixin"')
    return response


def touch_token(token_id: int) -> None:
    """Record when a token was last used, at most once a minute.

    Like ``app.auth.sessions._touch``, this normally writes in its own short transaction so a
    GET stays a reader. On SQLite, when the request's own transaction is already a writer (an
    unsafe method: ``BEGIN IMMEDIATE``, holding the writer lock), a second connection would wait
    for that lock forever; the update then rides in the request's transaction instead.
    """
    # When the token was last used, as the bearer loader read it (g.api_token_last_used_at);
    # otherwise one small query.
    if "api_token_last_used_at" in g:
        last_used_at = g.api_token_last_used_at
    else:
        last_used_at = db.session.scalar(
            select(ApiToken.last_used_at).where(ApiToken.id == token_id)
        )
    now = utcnow()
    if last_used_at and now - last_used_at < TOKEN_TOUCH_EVERY:
        return
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if is_sqlite(db.engine) and wants_write():
        db.session.execute(stmt)
        return
    try:
        with write_intent(True), db.engine.begin() as conn:
            conn.execute(stmt)
    except SQLAlchemyError:  # bookkeeping only: never fail the caller's request for it
        log.warning("could not record the use of API token %s", token_id, exc_info=True)
