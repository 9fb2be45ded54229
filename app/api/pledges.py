"""``POST /api/v1/pledges``: a public pledge of goods (认捐), no token needed (API-v1.md).

The same rules as the web form, through ``app.donations.operations.create_pledge``; the same
rate limit per IP, shared with the form (``pledge_rate_limit``), so a robot gains nothing by
switching between the two. 429 answers in the API's JSON error format.
"""

from __future__ import annotations

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api.blueprint import ApiBlueprint
from app.api.fields import FreeText, Id, InputSchema, Lines, Name, Quantity, StrictBool
from app.api.schemas import OutputSchema
from app.auth.access import public
from app.common import ValidationFailed
from app.donations import operations
from app.donations.models import DONOR_KINDS
from app.donations.public import pledge_rate_limit
from app.extensions import db

bp = ApiBlueprint(
    "api_pledges", __name__, description="Public pledges of goods to a school's 爱心超市."
)

DONOR_FIELDS = frozenset({"name", "phone", "kind", "organization"})

# marshmallow's own messages for these fields, so the catalog carries their translations.
LIBRARY_MESSAGES = (_l("Not a valid date."), _l("Must be one of: %(choices)s."))


class PledgeDonorSchema(InputSchema):
    name = Name(
        required=True,
        metadata={"description": "The donor, or for an organisation its contact person."},
    )
    phone = Name(
        required=True,
        max_length=32,
        metadata={
            "description": "Mobile (11 digits) or landline with area code; the donor looks the "
            "pledge up with it. Never shown publicly.",
            "example": "13800000001",
        },
    )
    organization = Name(allow_none=True, metadata={"description": "Company, union or charity."})
    kind = ma.fields.String(
        load_default="individual",
        metadata={
            "enum": list(DONOR_KINDS),
            "description": "Optional, default individual (个人/企业/工会/慈善机构/教职工).",
        },
    )
    anonymous = StrictBool(
        required=True, metadata={"description": "Shown as 爱心人士 on public pages."}
    )
    public_consent = StrictBool(
        required=True,
        metadata={"description": "The donor agrees to appear on the donor wall and check page."},
    )

    @ma.validates("phone")
    def _phone(self, value: str, **kwargs) -> None:
        try:
            operations.check_phone(value)
        except ValidationFailed as exc:
            raise ma.ValidationError(exc.message) from exc

    @ma.validates("kind")
    def _kind(self, value: str, **kwargs) -> None:
        if value not in DONOR_KINDS:
            raise ma.ValidationError(
                _("Must be one of: %(choices)s.", choices=", ".join(DONOR_KINDS))
            )


class PledgeLineSchema(InputSchema):
    item_id = Id(metadata={"description": "A catalogue item (or give a description)."})
    description = Name(
        max_length=200, metadata={"description": "Goods not in the catalogue (or give item_id)."}
    )
    quantity = Quantity(required=True)

    @ma.validates_schema
    def _one_of(self, data: dict, **kwargs) -> None:
        if ("item_id" in data) == ("description" in data):
            raise ma.ValidationError(_("Give either item_id or description."), field_name="item_id")


class PledgeSchema(InputSchema):
    donor = ma.fields.Nested(PledgeDonorSchema, required=True)
    school_id = Id(metadata={"description": "The school (or give alliance_id)."})
    alliance_id = Id(
        metadata={
            "description": "Optional instead of school_id: the alliance passes the goods to "
            "the member school that needs them most."
        }
    )
    lines = Lines(PledgeLineSchema, required=True)
    message = FreeText(allow_none=True)
    planned_date = ma.fields.Date(
        allow_none=True,
        metadata={"description": "Optional planned drop-off day (YYYY-MM-DD), within a year."},
    )

    @ma.validates_schema
    def _one_target(self, data: dict, **kwargs) -> None:
        if ("school_id" in data) == ("alliance_id" in data):
            raise ma.ValidationError(
                _("Give either school_id or alliance_id."), field_name="school_id"
            )


class PledgeCreatedSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    reference = ma.fields.String(
        required=True,
        metadata={"description": "Shown to the donor; with the phone it opens the status page."},
    )


@bp.route("/pledges", methods=["POST"])
@pledge_rate_limit
@bp.arguments(PledgeSchema)
@bp.response(201, PledgeCreatedSchema)
@bp.alt_response(429, description="Too many pledges from this address; try again later.")
@public
def create_pledge(body: dict):
    """Pledge goods to a school or an alliance; answers the pledge's reference number."""
    donor = body["donor"]
    try:
        pledge = operations.create_pledge(
            donor=operations.DonorInput(
                name=donor["name"],
                phone=donor["phone"],
                kind=donor.get("kind", "individual"),
                organization=donor.get("organization"),
            ),
            lines=[
                operations.PledgeLineInput(
                    quantity=line["quantity"],
                    item_id=line.get("item_id"),
                    description=line.get("description"),
                )
                for line in body["lines"]
            ],
            school_id=body.get("school_id"),
            alliance_id=body.get("alliance_id"),
            anonymous=donor["anonymous"],
            public_consent=donor["public_consent"],
            planned_date=body.get("planned_date"),
            message=body.get("message") or None,
        )
    except ValidationFailed as exc:
        # The operation names the donor's fields plainly; in this body they sit under "donor".
        if exc.field in DONOR_FIELDS:
            exc.field = f"donor.{exc.field}"
        raise
    db.session.commit()
    return {"id": pledge.id, "reference": pledge.reference}, 201
