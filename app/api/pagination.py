"""Lists in the API: ``{"items": [...], "total": N}`` with ``?page=`` (from 1) and ``?per_page=``
(default 50, at most 500), as API-v1.md fixes them.

A list endpoint takes :class:`PageArgs` from the query string, builds its SELECT and hands it to
:func:`scoped_page`, which adds the caller's scope, counts, and fetches one page::

    @bp.route("/schools")
    @bp.arguments(PageArgs, location="query")
    @bp.response(200, page_schema(SchoolSchema))
    @staff_required
    def list_schools(args):
        stmt = select(School).options(joinedload(School.alliance)).order_by(School.name)
        return scoped_page(stmt, current_user, args)

The query string's own schema for extra filters can inherit from :class:`PageArgs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import lazyload

from app.api.fields import QueryInt
from app.api.schemas import OutputSchema
from app.auth.scope import scoped
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
# Far beyond any real list, and small enough that (page - 1) * per_page stays a 64-bit OFFSET.
MAX_PAGE = 1_000_000


class PageArgs(ma.Schema):
    """``?page=`` and ``?per_page=``; anything outside the bounds is a 422 naming the field."""

    class Meta:
        unknown = ma.EXCLUDE  # other query parameters (cache busters …) are not ours to refuse

    page = QueryInt(
        minimum=1, maximum=MAX_PAGE, load_default=1, metadata={"description": "From 1."}
    )
    per_page = QueryInt(
        minimum=1,
        maximum=MAX_PER_PAGE,
        load_default=DEFAULT_PER_PAGE,
        metadata={"description": f"Default {DEFAULT_PER_PAGE}, at most {MAX_PER_PAGE}."},
    )


@dataclass
class Page:
    items: list[Any]
    total: int


def paginate(stmt: Select, args: dict[str, int]) -> Page:
    """One page of an (already scoped) SELECT of one entity, and the count of all its rows.

    The entity's primary key is added as the last sort key, so pages never overlap or skip
    rows when the requested order has ties.
    """
    page = args.get("page", 1)
    per_page = args.get("per_page", DEFAULT_PER_PAGE)
    entity = stmt.column_descriptions[0]["entity"]
    ordered = stmt.order_by(*inspect(entity).primary_key)
    offset = (page - 1) * per_page
    items = list(db.session.scalars(ordered.limit(per_page).offset(offset)).unique())
    if offset == 0 and len(items) < per_page:
        total = len(items)  # the first page holds everything: no COUNT needed
    else:
        counted = stmt.order_by(None).options(lazyload("*")).subquery()
        total = int(db.session.scalar(select(func.count()).select_from(counted)) or 0)
    return Page(items=items, total=total)


def scoped_page(stmt: Select, user: User, args: dict[str, int], model: type | None = None) -> Page:
    """:func:`paginate` restricted to what ``user`` may see (``app.auth.scope.scoped``)."""
    return paginate(scoped(stmt, user, model), args)


@cache
def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The schema of ``{"items": [item, ...], "total": N}`` (one class per item schema, so the
    OpenAPI document names it once: SchoolSchema -> SchoolPage)."""
    name = item_schema.__name__.removesuffix("Schema") + "Page"
    return type(
        name,
        (OutputSchema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "total": ma.fields.Integer(required=True),
        },
    )
