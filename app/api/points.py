"""Points (API-v1.md): a teacher's award, and a student's balance with its entries.

* ``POST /points/awards`` — teachers, school aid officers and district admins, for a student
  of a school in their scope (404 otherwise): ``{"student_id", "points", "kind", "reason"}`` →
  201 ``{"entry_id", "balance_after"}``. Points are JSON integers 1–1,000,000 (no strings,
  floats or booleans: 422). A rule that says no is a 409 whose code names it: ``rule_limit``
  (the cap on manual awards per teacher per day; the message names the rule and what is
  left), ``student_left``. Alliance leads see counts only and get 403.
* ``GET /students/{id}/points`` — anyone who may read the student on the roster (district
  admin, the school's officer, teachers and counter clerks): ``{"balance", "entries": [...]}``,
  newest first.

**The monthly allowance never marks a child.** Students with an aid certification get a
monthly credit. Its entry carries kind ``allowance`` only for callers in the aid office
(district admins, school aid officers). For everyone else it is presented as kind ``award``
with the reason "每月积分" (Monthly points) — the same shape as any teacher's award, which every
student can receive — so no answer a teacher, clerk or script of theirs sees reveals who is
aided. The decision lives in :func:`app.points.queries.present_entry`, shared with the pages.
"""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user

from app.api.blueprint import ApiBlueprint
from app.api.fields import Id, InputSchema, Name, Points, QueryInt
from app.api.schemas import OutputSchema
from app.auth.access import roles_required
from app.auth.roles import Role
from app.common import isoformat_local
from app.extensions import db
from app.points import operations as ops
from app.points import queries
from app.registry.queries import student_or_404

bp = ApiBlueprint(
    "api_points",
    __name__,
    description=(
        "Points (爱心积分): awards and a student's entries. Outside the aid office the monthly "
        "allowance is shown as kind `award` with reason 每月积分, like any other award."
    ),
)

AWARDERS = (Role.TEACHER, Role.SCHOOL_OFFICER, Role.DISTRICT_ADMIN)
READERS = (Role.TEACHER, Role.SCHOOL_OFFICER, Role.DISTRICT_ADMIN, Role.CLERK)
MAX_ENTRIES = 1000


class AwardSchema(InputSchema):
    student_id = Id(required=True)
    points = Points(required=True)
    kind = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(("volunteer", "gratitude", "award")),
        metadata={"enum": ["volunteer", "gratitude", "award"]},
    )
    reason = Name(required=True, metadata={"description": "Why; 1–100 characters."})


class AwardCreatedSchema(OutputSchema):
    entry_id = ma.fields.Integer(required=True)
    balance_after = ma.fields.Integer(required=True)


class EntrySchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(
        required=True,
        metadata={
            "description": (
                "volunteer, gratitude, award, redemption, void, adjustment, expiry — and "
                "allowance, for callers in the aid office only: everyone else sees the monthly "
                "allowance as `award` with reason 每月积分, so no answer marks a child as aided."
            ),
            "enum": [
                "volunteer",
                "gratitude",
                "allowance",
                "award",
                "redemption",
                "void",
                "adjustment",
                "expiry",
            ],
        },
    )
    points = ma.fields.Integer(
        required=True, metadata={"description": "Signed: negative for spending."}
    )
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(required=True, metadata={"format": "date-time"})


class StudentPointsSchema(OutputSchema):
    balance = ma.fields.Integer(required=True)
    entries = ma.fields.List(ma.fields.Nested(EntrySchema), required=True)


class EntriesArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = QueryInt(
        minimum=1,
        maximum=MAX_ENTRIES,
        load_default=MAX_ENTRIES,
        metadata={
            "description": f"The newest this many entries (default and at most {MAX_ENTRIES})."
        },
    )


@bp.route("/points/awards", methods=["POST"])
@bp.arguments(AwardSchema)
@bp.response(201, AwardCreatedSchema)
@bp.alt_response(409, description="A rule said no: `rule_limit` (daily award cap), `student_left`.")
@roles_required(*AWARDERS)
def create_award(body: dict):
    """Credit points to a student by hand, within the teacher's daily cap on manual awards."""
    student = student_or_404(body["student_id"], current_user)
    entry = ops.award_points(
        student,
        body["points"],
        kind=body["kind"],
        reason=body["reason"],
        teacher_id=current_user.id,
    )
    db.session.commit()
    return {"entry_id": entry.id, "balance_after": entry.balance_after}


@bp.route("/students/<id:student_id>/points")
@bp.arguments(EntriesArgs, location="query")
@bp.response(200, StudentPointsSchema)
@roles_required(*READERS)
def student_points(args: dict, student_id: int):
    """The student's balance and entries, newest first (404 outside the caller's scope)."""
    student = student_or_404(student_id, current_user)
    entries = list(db.session.scalars(queries.entries_stmt(student.id).limit(args["limit"])).all())
    views = queries.present_entries(entries, current_user)
    return {
        "balance": ops.balance_of(student.id),
        "entries": [
            {
                "id": v.id,
                "kind": v.kind,
                "points": v.points,
                "reason": v.reason,
                "created_at": isoformat_local(v.created_at),
            }
            for v in views
        ],
    }
