"""Read helpers of the roster: scoped look-ups, the roster list, class names and history.

Every look-up of a student adds :func:`app.registry.access.roster_filter` to the user's scope,
so a role that may not read the roster finds nothing (404), whatever the id. Aid status is not
read here: the aid office's queries live in ``aid_queries.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import abort
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404, scoped
from app.extensions import db
from app.org.models import GRADE_NAMES_ZH, School, SchoolClass
from app.registry import validation as v
from app.registry.access import in_aid_office, roster_filter
from app.registry.models import CARE_FLAGS, Student, StudentMove

if TYPE_CHECKING:
    from app.auth.models import User

LEFT_STATUSES = ("graduated", "transferred_out", "left")
FLAGS = ("boarding", *CARE_FLAGS)
MAX_ID = 2**31 - 1


# ---------------------------------------------------------------- look-ups


def student_or_404(student_id: Any, user: User) -> Student:
    """A student the user may read on the roster; 404 otherwise (also for unknown ids)."""
    try:
        student_id = int(student_id)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < student_id <= MAX_ID:
        abort(404)
    stmt = (
        select(Student)
        .where(Student.id == student_id, roster_filter(user))
        .options(contains_eager(Student.school_class))
        .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
    )
    student = db.session.scalars(scoped(stmt, user, Student)).first()
    if student is None:
        abort(404)
    return student


def roster_school_or_404(school_id: Any, user: User) -> School:
    """A school whose roster the user may read."""
    school = get_scoped_or_404(School, school_id, user)
    if user.role not in (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.TEACHER):
        abort(404)
    return school


# ---------------------------------------------------------------- the roster list


@dataclass
class RosterFilter:
    q: str | None = None
    class_id: int | None = None
    status: str = "enrolled"  # enrolled | left | all
    flag: str | None = None  # one of FLAGS
    import_batch: str | None = None  # the students one roster import added


def roster_statement(school: School, user: User, flt: RosterFilter) -> Select:
    """The school's students in class order, each with its class in the same query."""
    stmt = (
        select(Student)
        .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
        .options(contains_eager(Student.school_class))
        .where(Student.school_id == school.id, roster_filter(user))
    )
    if flt.status == "enrolled":
        stmt = stmt.where(Student.status == "enrolled")
    elif flt.status == "left":
        stmt = stmt.where(Student.status.in_(LEFT_STATUSES))
    if flt.class_id is not None:
        stmt = stmt.where(Student.class_id == flt.class_id)
    if flt.flag in FLAGS:
        stmt = stmt.where(getattr(Student, flt.flag).is_(True))
    if flt.import_batch:
        stmt = stmt.where(Student.import_batch == flt.import_batch)
    if flt.q:
        stmt = stmt.where(_search(flt.q, user))
    return scoped(stmt, user, Student).order_by(
        SchoolClass.grade.is_(None),
        SchoolClass.grade,
        SchoolClass.number,
        Student.name,
        Student.id,
    )


def _search(q: str, user: User):
    """A name contains the text; the aid office may also look up a full 学籍号 or ID number.

    Numbers match whole only: a teacher (who sees them masked) cannot probe digit by digit.
    """
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conditions = [Student.name.like(pattern, escape="\\")]
    if in_aid_office(user):
        number = v.normalise_student_no(q)
        conditions += [Student.student_no == number, Student.id_number == number]
    return or_(*conditions)


def status_counts(school: School) -> dict[str, int]:
    """Enrolled and left students of a school."""
    rows = db.session.execute(
        select(Student.status, func.count())
        .where(Student.school_id == school.id)
        .group_by(Student.status)
    ).all()
    counts = {status: int(n) for status, n in rows}
    return {
        "enrolled": counts.get("enrolled", 0),
        "left": sum(counts.get(s, 0) for s in LEFT_STATUSES),
    }


@dataclass
class SchoolRow:
    school: School
    enrolled: int
    classes: int


def roster_schools(user: User) -> list[SchoolRow]:
    """The schools a district admin may pick, with their enrolled students and classes."""
    enrolled = (
        select(Student.school_id, func.count().label("n"))
        .where(Student.status == "enrolled")
        .group_by(Student.school_id)
        .subquery()
    )
    classes = (
        select(SchoolClass.school_id, func.count().label("n"))
        .where(SchoolClass.active.is_(True))
        .group_by(SchoolClass.school_id)
        .subquery()
    )
    stmt = (
        select(School, func.coalesce(enrolled.c.n, 0), func.coalesce(classes.c.n, 0))
        .outerjoin(enrolled, enrolled.c.school_id == School.id)
        .outerjoin(classes, classes.c.school_id == School.id)
        .options(joinedload(School.alliance))
        .order_by(School.active.desc(), School.alliance_id.is_(None), School.alliance_id, School.id)
    )
    return [
        SchoolRow(school, int(n), int(c))
        for school, n, c in db.session.execute(scoped(stmt, user, School)).all()
    ]


# ---------------------------------------------------------------- classes


def class_options(school_id: int, *, include_inactive_id: int | None = None) -> list[SchoolClass]:
    """The school's active classes in order (and one inactive class a student is still in)."""
    condition = SchoolClass.active.is_(True)
    if include_inactive_id is not None:
        condition = or_(condition, SchoolClass.id == include_inactive_id)
    return list(
        db.session.scalars(
            select(SchoolClass)
            .where(SchoolClass.school_id == school_id, condition)
            .order_by(SchoolClass.grade, SchoolClass.number)
        )
    )


def class_map(school_id: int) -> dict[tuple[int, int], int]:
    """(grade, number) → class id of the school's active classes."""
    rows = db.session.execute(
        select(SchoolClass.grade, SchoolClass.number, SchoolClass.id).where(
            SchoolClass.school_id == school_id, SchoolClass.active.is_(True)
        )
    ).all()
    return {(grade, number): class_id for grade, number, class_id in rows}


def resolve_class(school: School, name: str, *, today: date | None = None) -> int | None:
    """The id of the school's active class named like 三年级(2)班 / 三年级2班 / 3年级2班 / 3-2."""
    parsed = v.parse_class_name(name, stage=school.stage, today=today)
    if parsed is None:
        return None
    return class_map(school.id).get(parsed)


def class_name_zh(school_class: SchoolClass | None) -> str | None:
    """三年级(2)班, whatever the UI language: the API's stable form of a class name."""
    if school_class is None:
        return None
    grade, number = school_class.grade, school_class.number
    grade_name = GRADE_NAMES_ZH[grade - 1] if 1 <= grade <= len(GRADE_NAMES_ZH) else str(grade)
    return f"{grade_name}年级({number})班"


# ---------------------------------------------------------------- history


@dataclass
class MoveRow:
    move: StudentMove
    from_school: str | None
    to_school: str | None
    from_class: SchoolClass | None
    to_class: SchoolClass | None
    by: str | None


def student_history(student: Student) -> list[MoveRow]:
    """Moves, class changes and leaving, newest first, with names in one query."""
    from app.auth.models import User

    from_school, to_school = aliased(School), aliased(School)
    from_class, to_class = aliased(SchoolClass), aliased(SchoolClass)
    rows = db.session.execute(
        select(
            StudentMove,
            from_school.name,
            to_school.name,
            from_class,
            to_class,
            User.display_name,
        )
        .outerjoin(from_school, StudentMove.from_school_id == from_school.id)
        .outerjoin(to_school, StudentMove.to_school_id == to_school.id)
        .outerjoin(from_class, StudentMove.from_class_id == from_class.id)
        .outerjoin(to_class, StudentMove.to_class_id == to_class.id)
        .outerjoin(User, StudentMove.created_by_id == User.id)
        .where(StudentMove.student_id == student.id)
        .order_by(StudentMove.moved_on.desc(), StudentMove.id.desc())
    ).all()
    return [MoveRow(*row) for row in rows]


def move_targets(student: Student) -> list[School]:
    """Open schools of the student's district a student may move to (not their own)."""
    return list(
        db.session.scalars(
            select(School)
            .where(
                School.district_id == student.school.district_id,
                School.active.is_(True),
                School.id != student.school_id,
            )
            .order_by(School.alliance_id.is_(None), School.alliance_id, School.id)
        )
    )


# ---------------------------------------------------------------- for the API


def balances(student_ids: list[int]) -> dict[int, int]:
    """Points balances of these students (students without an account yet have 0)."""
    if not student_ids:
        return {}
    try:
        from app.points.models import PointAccount
    except ImportError:  # the points domain is not installed: no balances to show
        return {}
    rows = db.session.execute(
        select(PointAccount.student_id, PointAccount.balance).where(
            PointAccount.student_id.in_(student_ids)
        )
    ).all()
    found = {student_id: int(balance) for student_id, balance in rows}
    return {student_id: found.get(student_id, 0) for student_id in student_ids}


# The points domain's monthly allowance reads certified levels through the registry's queries
# (issue 4, item 7); the aid office's queries live in aid_queries.py.
from app.registry.aid_queries import confirmed_levels, is_certified  # noqa: E402, F401
