"""The API's own endpoints: health, its OpenAPI document, and who the caller is."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import jsonify
from flask_login import current_user
from flask_smorest import current_api
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.api.blueprint import ApiBlueprint
from app.api.schemas import OutputSchema
from app.auth.access import public, staff_required
from app.extensions import db

log = logging.getLogger(__name__)

bp = ApiBlueprint(
    "api", __name__, description="Health, the OpenAPI document and the caller's identity."
)


class HealthSchema(OutputSchema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok", "error"]})


class MeSchema(OutputSchema):
    """The caller's scope and the tiers above it; null below it."""

    username = ma.fields.String(required=True)
    role = ma.fields.String(
        required=True,
        metadata={
            "enum": ["district_admin", "alliance_lead", "school_officer", "teacher", "clerk"]
        },
    )
    district_id = ma.fields.Integer(required=True)
    alliance_id = ma.fields.Integer(allow_none=True, attribute="effective_alliance_id")
    school_id = ma.fields.Integer(allow_none=True)


@bp.route("/health")
@bp.response(200, HealthSchema)
@bp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
@public
def health():
    """Whether the service and its database answer."""
    try:
        db.session.execute(select(1))
    except SQLAlchemyError:
        log.exception("health check: the database is unreachable")
        db.session.rollback()
        return {"status": "error"}, 503
    return {"status": "ok"}


@bp.route("/openapi.json")
@public
def openapi_json():
    """The OpenAPI 3 document of this API, generated from the code."""
    return jsonify(current_api.spec.to_dict())


@bp.route("/me")
@bp.response(200, MeSchema)
@staff_required
def me():
    """The caller: username, role and scope."""
    return current_user
