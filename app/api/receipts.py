"""``POST /api/v1/schools/{sid}/receipts``: goods received into a school's stock (API-v1.md).

The same operation as the receiving pages (``app.donations.operations.receive_goods``): every
line or none, stock up through the ledger, a certificate number for a donation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from flask_login import current_user

from app.api.blueprint import ApiBlueprint
from app.api.fields import FreeText, Id, InputSchema, Lines, Name, Quantity, StrictBool
from app.api.schemas import OutputSchema
from app.auth.access import roles_required
from app.auth.roles import OFFICER_AND_ABOVE
from app.auth.scope import get_scoped, get_scoped_or_404
from app.common import ValidationFailed
from app.donations import operations
from app.donations.models import Pledge
from app.extensions import db
from app.org.models import School

bp = ApiBlueprint(
    "api_receipts", __name__, description="Goods received into a school's 爱心超市 (入库)."
)


class ReceiptLineSchema(InputSchema):
    item_id = Id(required=True, metadata={"description": "A catalogue item of the district."})
    quantity = Quantity(required=True)


class ReceiptSchema(InputSchema):
    lines = Lines(ReceiptLineSchema, required=True)
    donor_name = Name(
        metadata={
            "description": "A walk-in donation by this donor (no phone needed). Not together "
            "with pledge_id or purchase."
        }
    )
    pledge_id = Id(
        metadata={
            "description": "Receive (part of) this pledge: to this school, or an alliance "
            "pledge of the school's alliance, which is thereby assigned to this school."
        }
    )
    purchase = StrictBool(
        metadata={
            "description": "true: the school's own purchase (学校自助): no donor, no "
            "certificate. Not together with donor_name or pledge_id."
        }
    )
    note = FreeText(metadata={"description": "Optional note for the school's records."})

    @ma.validates_schema
    def _one_source(self, data: dict, **kwargs: Any) -> None:
        if "pledge_id" in data and "donor_name" in data:
            raise ma.ValidationError(
                _("A pledge already names its donor: leave donor_name out."),
                field_name="donor_name",
            )
        if data.get("purchase") and ("pledge_id" in data or "donor_name" in data):
            raise ma.ValidationError(
                _("A purchase has no donor and no pledge."), field_name="purchase"
            )


class ReceiptLineOutSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    item_id = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(required=True)


class ReceiptCreatedSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    lines = ma.fields.List(ma.fields.Nested(ReceiptLineOutSchema), required=True)
    source = ma.fields.String(required=True, metadata={"enum": ["pledge", "walk_in", "purchase"]})
    pledge_id = ma.fields.Integer(allow_none=True)
    certificate_no = ma.fields.String(
        allow_none=True,
        metadata={"description": "The certificate number (捐赠证书); null for a purchase."},
    )


def school_in_scope(view: Callable) -> Callable:
    """404 for a school outside the caller's scope, before the body is even read."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        get_scoped_or_404(School, kwargs.get("sid"), current_user)
        return view(*args, **kwargs)

    return wrapped


@bp.route("/schools/<id:sid>/receipts", methods=["POST"])
@school_in_scope
@bp.arguments(ReceiptSchema)
@bp.response(201, ReceiptCreatedSchema)
@bp.alt_response(409, description="A rule said no: pledge_cancelled, pledge_closed, …")
@roles_required(*OFFICER_AND_ABOVE)
def create_receipt(body: dict, sid: int):
    """Receive goods into the school's stock; every line or none.

    What the receipt is follows from the fields given:

    * `pledge_id`: goods of that pledge. Each line is matched to the pledge's line for the same
      item, else to a pledged "other goods" line not yet named by an item (which it names).
      Goods not on the pledge, or more than the pledge still expects, are refused (422 on the
      line); record extra goods as a walk-in donation. The pledge's donor, anonymity and
      consent apply. 409 `pledge_cancelled` / `pledge_closed` when it no longer expects goods.
    * `donor_name` (without `pledge_id`): a walk-in donation by that donor (an individual,
      without a phone number), not consenting to public thanks.
    * `purchase: true`: the school's own purchase; no donor, no certificate.
    * none of these: an anonymous walk-in donation (no donor recorded); its certificate
      names the donor 爱心人士 (caring donor).

    Every donation gets a certificate number. Stock goes up through the ledger. A school
    outside the caller's scope is 404; a pledge that is not found in the caller's scope is
    422 on `pledge_id`.
    """
    pledge = None
    if "pledge_id" in body:
        pledge = get_scoped(Pledge, body["pledge_id"], current_user)
        if pledge is None:
            raise ValidationFailed(_("No such pledge."), field="pledge_id")
        source = "pledge"
    elif body.get("purchase"):
        source = "purchase"
    else:
        source = "walk_in"
    donor = (
        operations.DonorInput(name=body["donor_name"], phone=None) if "donor_name" in body else None
    )
    try:
        receipt = operations.receive_goods(
            school_id=sid,
            source=source,
            pledge=pledge,
            donor=donor,
            lines=[
                operations.ReceiptLineInput(item_id=line["item_id"], quantity=line["quantity"])
                for line in body["lines"]
            ],
            note=body.get("note") or None,
            user_id=current_user.id,
        )
    except ValidationFailed as exc:
        # The operation names the donor's own fields; in this body the name is donor_name.
        if exc.field == "name":
            exc.field = "donor_name"
        raise
    db.session.commit()
    return {
        "id": receipt.id,
        "source": receipt.source,
        "pledge_id": receipt.pledge_id,
        "certificate_no": receipt.certificate_no,
        "lines": [
            {"id": line.id, "item_id": line.item_id, "quantity": line.quantity}
            for line in receipt.lines
        ],
    }, 201
