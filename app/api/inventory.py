"""The catalogue and a school's on-hand stock (API-v1.md)."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.api.blueprint import ApiBlueprint
from app.api.fields import InputSchema, Name, Points
from app.api.pagination import PageArgs, page_schema, scoped_page
from app.api.schemas import OutputSchema
from app.auth.access import roles_required, staff_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.common import ValidationFailed
from app.extensions import db
from app.inventory import operations
from app.inventory.models import CATEGORIES, Item, StockLevel
from app.org.models import School

bp = ApiBlueprint(
    "api_inventory", __name__, description="The district's catalogue and each school's stock."
)

UNIT_MAX = 20  # the column's length


class ItemSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    points = ma.fields.Integer(required=True, metadata={"description": "Points price."})
    category = ma.fields.String(required=True, metadata={"enum": list(CATEGORIES)})
    active = ma.fields.Boolean(required=True)


def _check_category(value: str) -> None:
    if value not in CATEGORIES:
        raise ma.ValidationError(_("Must be one of: %(choices)s.", choices=", ".join(CATEGORIES)))


class ItemCreateSchema(InputSchema):
    name = Name(required=True)
    unit = Name(required=True, max_length=UNIT_MAX)
    points = Points(required=True)
    category = ma.fields.String(
        load_default="other",
        validate=lambda value: _check_category(value),
        metadata={"enum": list(CATEGORIES), "default": "other"},
    )


class StockSchema(OutputSchema):
    item_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True, attribute="item.name")
    on_hand = ma.fields.Integer(required=True)
    points = ma.fields.Integer(required=True, attribute="item.points")


@bp.route("/items")
@bp.arguments(PageArgs, location="query")
@bp.response(200, page_schema(ItemSchema))
@staff_required
def list_items(args):
    """The caller's district catalogue, active and inactive items, by id."""
    return scoped_page(select(Item).order_by(Item.id), current_user, args)


@bp.route("/items", methods=["POST"])
@bp.arguments(ItemCreateSchema)
@bp.response(201, ItemSchema)
@roles_required(Role.DISTRICT_ADMIN)
def create_item(body):
    """Add an item to the caller's district catalogue; ``category`` defaults to "other"."""
    try:
        item = operations.create_item(district_id=current_user.district_id, **body)
        db.session.commit()
    except IntegrityError as exc:  # the same name created by a concurrent request
        db.session.rollback()
        raise ValidationFailed(_("An item with this name already exists."), field="name") from exc
    return item


@bp.route("/schools/<id:sid>/stock")
@bp.arguments(PageArgs, location="query")
@bp.response(200, page_schema(StockSchema))
@staff_required
def school_stock(args, sid: int):
    """On-hand of every item the school stocks (or has stocked); 404 outside the scope."""
    school = get_scoped_or_404(School, sid, current_user)
    stmt = (
        select(StockLevel)
        .where(StockLevel.school_id == school.id)
        .options(joinedload(StockLevel.item))
        .order_by(StockLevel.item_id)
    )
    return scoped_page(stmt, current_user, args)
