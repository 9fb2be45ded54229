"""Function-level access: which roles may call a view (ASVS 8.2.1).

Every view declares its access with one of these decorators, and the decorator records it on
the function (``view.access``). ``tests/test_access_walk.py`` reads the records: a route without
one fails the suite, and every route is called by every role that may not use it.

Object-level access (which school's data) is the scope's job: see :mod:`app.auth.scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, request
from flask_login import current_user

from app.auth.roles import Role

PUBLIC = "public"
ANY_STAFF = "any_staff"


def _mark(view: Callable, access: str | frozenset[str]) -> None:
    view.access = access  # type: ignore[attr-defined]


def public(view: Callable) -> Callable:
    """Anyone, logged in or not."""
    _mark(view, PUBLIC)
    return view


def _deny_anonymous() -> Any:
    if getattr(g, "api_request", False) or request.path.startswith("/api/"):
        abort(401)
    from flask import current_app

    return current_app.login_manager.unauthorized()


def staff_required(view: Callable) -> Callable:
    """Any logged-in staff member of any role."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _deny_anonymous()
        return view(*args, **kwargs)

    _mark(wrapped, ANY_STAFF)
    return wrapped


def roles_required(*roles: Role | str) -> Callable[[Callable], Callable]:
    """Only these roles; others get 403 (anonymous: the login page, or 401 in the API)."""
    allowed = frozenset(str(r) for r in roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _deny_anonymous()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        _mark(wrapped, allowed)
        return wrapped

    return decorator


def access_of(view: Callable) -> str | frozenset[str] | None:
    return getattr(view, "access", None)
