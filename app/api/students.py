"""A school's students (API-v1.md): the list the counter and integrations use, and adding one.

* ``GET /schools/{sid}/students`` — the school's officer and teachers, and the district admin:
  ``{"id", "name", "class_name", "card_code", "balance"}``. Never aid status. Alliance leads
  (who see counts only) and clerks (who use the counter's card look-up) get 403.
* ``POST /schools/{sid}/students`` — the school's officer or the district admin:
  ``{"name", "class_name", "student_no"?}`` → 201 with the student. ``class_name`` is matched
  against the school's classes: 三年级(2)班, 三年级2班, 3年级2班 and 3-2 all name the same class.
  ``gender`` and ``id_number`` may be sent too; the gender is otherwise taken from the ID number
  (or a G-学籍号), and stays unknown if neither is given.

``card_code`` is the student's active counter card (a new student gets one at once; students
imported or added through the pages get theirs when the officer prints cards); ``balance`` comes
from the points ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from app.api.blueprint import ApiBlueprint
from app.api.fields import InputSchema, Name
from app.api.pagination import PageArgs, page_schema, paginate
from app.api.schemas import OutputSchema
from app.auth.access import roles_required
from app.auth.roles import Role
from app.common import ValidationFailed
from app.counter.operations import issue_card
from app.extensions import db
from app.org.models import SchoolClass
from app.registry import operations, queries
from app.registry import validation as v
from app.registry.access import roster_filter
from app.registry.models import Student

bp = ApiBlueprint(
    "api_students", __name__, description="A school's students (no aid status, ever)."
)

READERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.TEACHER)
WRITERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
CLASS_NAME_MAX = 30


class StudentSchema(OutputSchema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    class_name = ma.fields.String(
        allow_none=True, metadata={"description": "Like 三年级(2)班; null without a class."}
    )
    card_code = ma.fields.String(
        allow_none=True, metadata={"description": "The student's card; null until one is issued."}
    )
    balance = ma.fields.Integer(
        allow_none=True, metadata={"description": "Points balance; null without a points ledger."}
    )


class StudentListArgs(PageArgs):
    status = ma.fields.String(
        load_default="enrolled",
        validate=ma.validate.OneOf(("enrolled", "left", "all")),
        metadata={"description": "enrolled (default), left or all."},
    )


class StudentCreateSchema(InputSchema):
    name = Name(required=True, max_length=50)
    class_name = Name(
        required=True,
        max_length=CLASS_NAME_MAX,
        metadata={"description": "三年级(2)班, 三年级2班, 3年级2班 or 3-2."},
    )
    student_no = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=32)
    )
    gender = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.OneOf(("M", "F"))
    )
    id_number = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=18)
    )


def _school(sid: int):
    return queries.roster_school_or_404(sid, current_user)


def school_in_scope(view: Callable) -> Callable:
    """404 for a school outside the caller's scope, before the body or query is read."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _school(kwargs.get("sid"))
        return view(*args, **kwargs)

    return wrapped


def _card_codes(student_ids: list[int]) -> dict[int, str]:
    """Each student's active card code, in one query."""
    from app.counter.models import Card

    if not student_ids:
        return {}
    return dict(
        db.session.execute(
            select(Card.student_id, Card.code).where(
                Card.student_id.in_(student_ids), Card.status == "active"
            )
        ).all()
    )


def _out(students: list[Student]) -> list[dict]:
    ids = [s.id for s in students]
    balances = queries.balances(ids)
    cards = _card_codes(ids)
    return [
        {
            "id": s.id,
            "name": s.name,
            "class_name": queries.class_name_zh(s.school_class),
            "card_code": cards.get(s.id),
            "balance": balances.get(s.id),
        }
        for s in students
    ]


@bp.route("/schools/<id:sid>/students")
@school_in_scope
@bp.arguments(StudentListArgs, location="query")
@bp.response(200, page_schema(StudentSchema))
@roles_required(*READERS)
def list_students(args, sid: int):
    """The school's students in class order; 404 outside the caller's scope."""
    school = _school(sid)
    stmt = queries.roster_statement(
        school, current_user, queries.RosterFilter(status=args.pop("status"))
    )
    page = paginate(stmt, args)
    return {"items": _out(page.items), "total": page.total}


@bp.route("/schools/<id:sid>/students", methods=["POST"])
@school_in_scope
@bp.arguments(StudentCreateSchema)
@bp.response(201, StudentSchema)
@roles_required(*WRITERS)
def create_student(body, sid: int):
    """Put a student on the school's roster; ``class_name`` must name one of its classes."""
    school = _school(sid)
    class_id = queries.resolve_class(school, body["class_name"])
    if class_id is None:
        raise ValidationFailed(
            _("No class of this school is called %(name)s.", name=body["class_name"]),
            field="class_name",
        )
    gender = body.get("gender")
    student_no = body.get("student_no")
    if not gender and not body.get("id_number") and student_no:
        # A national student number G + the ID number carries the gender.
        number = v.normalise_student_no(student_no)
        if number.startswith("G") and v.student_no_problem(number) is None:
            gender = v.gender_from_id(number[1:])
    data = operations.StudentInput(
        name=body["name"],
        gender=gender,
        class_id=class_id,
        student_no=student_no,
        id_number=body.get("id_number"),
    )
    try:
        student = operations.add_student(school, data)
        issue_card(student, user_id=current_user.id)  # API-v1: "the student with a new card_code"
        db.session.commit()
    except IntegrityError as exc:  # the same number added by a concurrent request
        db.session.rollback()
        raise ValidationFailed(
            _("This student number is already on a roster."), field="student_no"
        ) from exc
    stmt = (
        select(Student)
        .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
        .options(contains_eager(Student.school_class))
        .where(Student.id == student.id, roster_filter(current_user))
    )
    return _out([db.session.scalars(stmt).one()])[0]
