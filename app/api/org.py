"""Schools in the caller's scope: the first list and the first scoped lookup of the API."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.api.blueprint import ApiBlueprint
from app.api.pagination import PageArgs, page_schema, scoped_page
from app.api.schemas import OutputSchema
from app.auth.access import staff_required
from app.auth.scope import get_scoped_or_404
from app.org.models import School

bp = ApiBlueprint("api_org", __name__, description="Schools in the caller's scope.")


class SchoolSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    alliance_id = ma.fields.Integer(allow_none=True)
    is_lead = ma.fields.Boolean(
        required=True, metadata={"description": "The lead school (牵头学校) of its alliance."}
    )


@bp.route("/schools")
@bp.arguments(PageArgs, location="query")
@bp.response(200, page_schema(SchoolSchema))
@staff_required
def list_schools(args):
    """Schools in scope: the district's, the alliance's, or the user's own school."""
    stmt = select(School).options(joinedload(School.alliance)).order_by(School.id)
    return scoped_page(stmt, current_user, args)


@bp.route("/schools/<id:sid>")
@bp.response(200, SchoolSchema)
@staff_required
def get_school(sid: int):
    """One school; 404 if it does not exist or lies outside the caller's scope."""
    return get_scoped_or_404(School, sid, current_user)
