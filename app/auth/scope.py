"""Scope is enforced here, in one place (DOMAIN.md §2, CONVENTIONS.md rule 4).

Every list and every lookup of a scoped object starts from :func:`scoped`, which adds the
model's ``scope_filter(user)`` to the statement. An object outside the caller's scope is simply
not found, so pages and the API answer 404 — the same answer as for an id that never existed.

A model takes part by defining ``scope_filter(cls, user) -> ColumnElement[bool]``. Models that
belong to a school use :func:`school_filter` on their ``school_id`` column; the school tier is the
tenant boundary (ASVS 8.4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from flask import abort
from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement

from app.auth.roles import Role
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User

T = TypeVar("T")
MAX_ID = 2**31 - 1


def school_ids_in_scope(user: User) -> Select:
    """A sub-select of the ids of the schools the user may see."""
    from app.org.models import School

    return select(School.id).where(School.scope_filter(user))


def school_filter(column: Any, user: User) -> ColumnElement[bool]:
    """Condition for a ``school_id`` column: equal for school users, a sub-select above them."""
    if user.role in (Role.SCHOOL_OFFICER, Role.TEACHER, Role.CLERK):
        return column == user.school_id
    return column.in_(school_ids_in_scope(user))


def scoped(stmt: Select, user: User, model: type | None = None) -> Select:
    """Restrict a SELECT to what ``user`` may see. ``model`` defaults to the first entity."""
    if model is None:
        model = stmt.column_descriptions[0]["entity"]
    scope_filter = getattr(model, "scope_filter", None)
    if scope_filter is None:
        raise TypeError(f"{model!r} has no scope_filter(); it cannot be looked up by scope")
    return stmt.where(scope_filter(user))


def get_scoped(model: type[T], object_id: Any, user: User) -> T | None:
    """The object with this id if it lies in the user's scope, else None."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        return None
    if not 0 < object_id <= MAX_ID:  # the databases' INTEGER: larger ids would raise, not miss
        return None
    stmt = scoped(select(model).where(model.id == object_id), user, model)  # type: ignore[attr-defined]
    return db.session.scalars(stmt).first()


def get_scoped_or_404(model: type[T], object_id: Any, user: User) -> T:
    obj = get_scoped(model, object_id, user)
    if obj is None:
        abort(404)
    return obj


def in_scope(obj: Any, user: User) -> bool:
    """Whether an already-loaded object lies in scope (re-checked through the database)."""
    return get_scoped(type(obj), obj.id, user) is not None
