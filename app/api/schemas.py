"""Response schemas shared by the API's endpoints (request schemas build on app.api.fields)."""

from __future__ import annotations

import marshmallow as ma


class OutputSchema(ma.Schema):
    """Base of response schemas. EXCLUDE keeps ``additionalProperties: false`` out of the OpenAPI
    document: the API may grow new fields in an answer (API-v1.md) and clients must allow that."""

    class Meta:
        unknown = ma.EXCLUDE


class ErrorDetailSchema(OutputSchema):
    code = ma.fields.String(
        required=True, metadata={"description": "snake_case code, e.g. not_found"}
    )
    message = ma.fields.String(required=True, metadata={"description": "Text for a person."})
    field_errors = ma.fields.Dict(
        data_key="fields",
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "On 422: the messages of each invalid field."},
    )


class ErrorSchema(OutputSchema):
    """Every error answer of the API: ``{"error": {"code", "message", "fields"?}}``."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)
