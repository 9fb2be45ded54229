"""The counter's API: look up a scanned card, redeem a cart (idempotent), void a checkout."""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify, make_response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.api.auth import reads_before_writing
from app.api.blueprint import ApiBlueprint
from app.api.fields import FreeText, Id, InputSchema, Lines, Quantity
from app.api.schemas import OutputSchema
from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.common import isoformat_local
from app.counter import operations as counter
from app.counter.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeyRequired,
    run_once,
    stored_answer,
)
from app.counter.models import Redemption
from app.database import end_reading
from app.extensions import db
from app.points.models import PointAccount
from app.registry.models import Student

bp = ApiBlueprint("api_counter", __name__, description="The 爱心超市 counter.")

COUNTER_ROLES = (Role.CLERK, Role.SCHOOL_OFFICER, Role.ALLIANCE_LEAD, Role.DISTRICT_ADMIN)


class CardSchema(OutputSchema):
    student_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    class_name = ma.fields.String(allow_none=True)
    balance = ma.fields.Integer(required=True)
    photo_url = ma.fields.String(allow_none=True)


class RedemptionLineIn(InputSchema):
    item_id = Id(required=True)
    quantity = Quantity(required=True)


class RedemptionIn(InputSchema):
    card_code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    lines = Lines(RedemptionLineIn, required=True)


class RedemptionLineOut(OutputSchema):
    item_id = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(required=True)
    points = ma.fields.Integer(required=True)


class RedemptionOut(OutputSchema):
    id = ma.fields.Integer(required=True)
    points_spent = ma.fields.Integer(required=True)
    balance_after = ma.fields.Integer(required=True)
    created_at = ma.fields.String(required=True)
    lines = ma.fields.List(ma.fields.Nested(RedemptionLineOut), required=True)


class VoidIn(InputSchema):
    reason = FreeText(load_default=None)


class VoidOut(OutputSchema):
    id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    balance_after = ma.fields.Integer(required=True)


def _balance(student_id: int) -> int:
    return (
        db.session.scalar(select(PointAccount.balance).where(PointAccount.student_id == student_id))
        or 0
    )


@bp.route("/counter/cards/<string:card_code>")
@bp.response(200, CardSchema)
@roles_required(*COUNTER_ROLES)
def get_card(card_code: str):
    """The student behind a scanned card: name, class and balance — nothing about aid.

    404 for an unknown card or one of another school; 409 ``card_revoked`` for a replaced card.
    """
    card = counter.find_card(card_code, current_user)
    student = db.session.get(Student, card.student_id)
    return {
        "student_id": student.id,
        "name": student.name,
        "class_name": student.school_class.name if student.school_class else None,
        "balance": _balance(student.id),
        # Only the school's counter may load it (no-store); null when there is no photo.
        "photo_url": url_for("counter.card_photo", card_code=card.code) if student.photo else None,
    }


def _answer(checkout: counter.Checkout) -> dict:
    return {
        "id": checkout.id,
        "points_spent": checkout.points_spent,
        "balance_after": checkout.balance_after,
        # The server's time in the school's zone: the slip prints this, not the PC's clock.
        "created_at": isoformat_local(checkout.created_at),
        "lines": [
            {"item_id": line.item_id, "quantity": line.quantity, "points": line.points}
            for line in checkout.lines
        ],
    }


@bp.route("/counter/redemptions", methods=["POST"])
@bp.arguments(RedemptionIn)
@bp.response(201, RedemptionOut)
@bp.alt_response(
    409,
    description="insufficient_points, out_of_stock, limit_exceeded, "
    "card_revoked or idempotency_conflict",
)
@bp.doc(
    parameters=[
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
            "description": "One per cart: a retry with the same key and body returns "
            "the first answer and changes nothing.",
        }
    ]
)
@roles_required(*COUNTER_ROLES)
@reads_before_writing
def create_redemption(args):
    """Redeem a cart: points and stock go down together, or nothing happens.

    Reads first (a stored answer for a retried key; the card and the items), then one short
    write transaction: the key's claim, the ledgers, the stored answer.
    """
    key = request.headers.get("Idempotency-Key", "")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise IdempotencyKeyRequired(_("Send an Idempotency-Key header (1–128 characters)."))
    clerk_id = current_user.id
    stored = stored_answer(clerk_id, key, args)
    if stored is None:
        cart = counter.read_cart(
            clerk=current_user,
            card_code=args["card_code"],
            lines=[counter.Line(line["item_id"], line["quantity"]) for line in args["lines"]],
        )
        end_reading(db.session)
        stored = run_once(clerk_id, key, args, lambda: (201, _answer(counter.check_out(cart))))
        db.session.commit()
    status, answer, replayed = stored
    response = make_response(jsonify(answer), status)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/counter/redemptions/<id:redemption_id>/void", methods=["POST"])
@bp.arguments(VoidIn)
@bp.response(200, VoidOut)
@roles_required(*COUNTER_ROLES)
def void_redemption(args, redemption_id: int):
    """Void a checkout (the clerk on the same day; the school officer and above later)."""
    redemption = get_scoped_or_404(Redemption, redemption_id, current_user)
    counter.void_redemption(
        redemption, user=current_user, reason=args.get("reason") or _("Voided at the counter")
    )
    db.session.commit()
    return {
        "id": redemption.id,
        "status": redemption.status,
        "balance_after": _balance(redemption.student_id),
    }
