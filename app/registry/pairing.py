"""结对帮扶 — pairings of the four kinds the policy names, and their log of visits and help.

* 学校与家庭 (school–family): the school is the helping side (``helper_name``: who at the school);
* 教师与学生 (teacher–student): a teacher (or officer) account of the school helps;
* 学生与学生 (student–student): another student of the school helps;
* 家庭与家庭 (family–family): a named family helps (``helper_name``).

The helped side is always a student of the school (and their family). The school's aid officer
manages pairings; a teacher sees and logs the pairings they take part in
(:func:`app.registry.access.pairing_filter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.auth.models import User
from app.auth.roles import Role
from app.common import DomainError, ValidationFailed, has_control_chars, local_today
from app.extensions import db
from app.registry.certification import NotAllowed
from app.registry.models import PAIRING_KINDS, Pairing, PairingLog, Student

if TYPE_CHECKING:
    from app.org.models import School

PAIRING_KIND_LABELS = {
    "school_family": _l("School and family"),
    "teacher_student": _l("Teacher and student"),
    "student_student": _l("Student and student"),
    "family_family": _l("Family and family"),
}
assert set(PAIRING_KIND_LABELS) == set(PAIRING_KINDS)

LOG_KINDS = ("visit", "study_help", "material", "talk", "other")
LOG_KIND_LABELS = {
    "visit": _l("Home visit"),
    "study_help": _l("Help with studies"),
    "material": _l("Material help"),
    "talk": _l("Talk and encouragement"),
    "other": _l("Other"),
}


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(_("This field is required."), field=field)
        return None
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)d characters.", n=limit), field=field)
    if has_control_chars(value):
        raise ValidationFailed(_("Control characters are not allowed."), field=field)
    return value


def _require_officer(user: User, school_id: int) -> None:
    if user.role != Role.SCHOOL_OFFICER or user.school_id != school_id:
        raise NotAllowed(_("Only the school's aid officer manages pairings."))


def may_log(user: User, pairing: Pairing) -> bool:
    """The school's officer, or the teacher who is the helping side."""
    if user.role == Role.SCHOOL_OFFICER and user.school_id == pairing.school_id:
        return True
    return (
        user.role == Role.TEACHER
        and user.school_id == pairing.school_id
        and pairing.helper_user_id == user.id
    )


@dataclass
class PairingInput:
    kind: str
    student_id: int | None
    started_on: date | None
    helper_user_id: int | None = None
    helper_student_id: int | None = None
    helper_name: str | None = None
    note: str | None = None


def helper_teachers(school_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.school_id == school_id,
                User.active.is_(True),
                User.role.in_((Role.TEACHER.value, Role.SCHOOL_OFFICER.value)),
            )
            .order_by(User.display_name, User.id)
        ).all()
    )


def _clean(data: PairingInput, school: School) -> dict:
    if data.kind not in PAIRING_KINDS:
        raise ValidationFailed(_("Choose the kind of pairing."), field="kind")
    student = db.session.get(Student, data.student_id) if data.student_id else None
    if student is None or student.school_id != school.id or student.status != "enrolled":
        raise ValidationFailed(_("Choose a student of this school."), field="student_id")
    if data.started_on is None or not date(2000, 1, 1) <= data.started_on <= local_today():
        raise ValidationFailed(_("Enter the start day (not in the future)."), field="started_on")
    out = {
        "kind": data.kind,
        "student_id": student.id,
        "started_on": data.started_on,
        "helper_user_id": None,
        "helper_student_id": None,
        "helper_name": None,
        "note": _text(data.note, "note", 2000),
    }
    if data.kind == "teacher_student":
        helper = db.session.get(User, data.helper_user_id) if data.helper_user_id else None
        if helper is None or helper not in helper_teachers(school.id):
            raise ValidationFailed(_("Choose a teacher of this school."), field="helper_user_id")
        out["helper_user_id"] = helper.id
    elif data.kind == "student_student":
        helper_student = (
            db.session.get(Student, data.helper_student_id) if data.helper_student_id else None
        )
        if (
            helper_student is None
            or helper_student.school_id != school.id
            or helper_student.status != "enrolled"
        ):
            raise ValidationFailed(_("Choose a student of this school."), field="helper_student_id")
        if helper_student.id == student.id:
            raise ValidationFailed(
                _("A student cannot be paired with themselves."), field="helper_student_id"
            )
        out["helper_student_id"] = helper_student.id
    elif data.kind == "family_family":
        out["helper_name"] = _text(data.helper_name, "helper_name", 100, required=True)
    else:  # school_family: the school helps; a name (e.g. the class or a leader) is optional
        out["helper_name"] = _text(data.helper_name, "helper_name", 100) or school.name
    return out


def create_pairing(school: School, data: PairingInput, *, user: User) -> Pairing:
    """Start a pairing (the school's officer)."""
    _require_officer(user, school.id)
    pairing = Pairing(school_id=school.id, created_by_id=user.id, **_clean(data, school))
    db.session.add(pairing)
    db.session.flush()
    return pairing


def update_pairing(pairing: Pairing, data: PairingInput, *, user: User) -> None:
    _require_officer(user, pairing.school_id)
    if pairing.ended_on is not None:
        raise DomainError(_("This pairing has ended."), code="pairing_ended")
    from app.org.models import School

    school = db.session.get(School, pairing.school_id)
    for key, value in _clean(data, school).items():
        setattr(pairing, key, value)
    db.session.flush()


def end_pairing(pairing: Pairing, *, user: User, ended_on: date | None) -> None:
    _require_officer(user, pairing.school_id)
    if pairing.ended_on is not None:
        raise DomainError(_("This pairing has ended."), code="pairing_ended")
    if ended_on is None or not pairing.started_on <= ended_on <= local_today():
        raise ValidationFailed(_("Enter an end day between the start and today."), field="ended_on")
    pairing.ended_on = ended_on
    db.session.flush()


def add_log(
    pairing: Pairing, *, user: User, happened_on: date | None, kind: str, content: str
) -> PairingLog:
    """A visit or help given (the officer, or the helping teacher)."""
    if not may_log(user, pairing):
        raise NotAllowed(_("Only the helping teacher or the aid officer logs this pairing."))
    if kind not in LOG_KINDS:
        raise ValidationFailed(_("Choose the kind of help."), field="kind")
    last = min(pairing.ended_on or local_today(), local_today())
    if happened_on is None or not pairing.started_on <= happened_on <= last:
        raise ValidationFailed(
            _("Enter a day within the pairing, not in the future."), field="happened_on"
        )
    log = PairingLog(
        pairing_id=pairing.id,
        happened_on=happened_on,
        kind=kind,
        content=_text(content, "content", 2000, required=True),
        created_by_id=user.id,
    )
    db.session.add(log)
    db.session.flush()
    return log


def helpers_of(pairings: list[Pairing]) -> dict[int, str]:
    """``{pairing_id: who helps}`` for a list, in two queries."""
    user_ids = {p.helper_user_id for p in pairings if p.helper_user_id}
    student_ids = {p.helper_student_id for p in pairings if p.helper_student_id}
    users = (
        dict(
            db.session.execute(
                select(User.id, User.display_name).where(User.id.in_(user_ids))
            ).all()
        )
        if user_ids
        else {}
    )
    students = (
        dict(
            db.session.execute(
                select(Student.id, Student.name).where(Student.id.in_(student_ids))
            ).all()
        )
        if student_ids
        else {}
    )
    out = {}
    for p in pairings:
        if p.helper_user_id:
            out[p.id] = users.get(p.helper_user_id, "")
        elif p.helper_student_id:
            out[p.id] = students.get(p.helper_student_id, "")
        else:
            out[p.id] = p.helper_name or ""
    return out


def pairings_stmt(user: User, *, school_id: int | None = None, active: bool | None = None):
    from sqlalchemy.orm import selectinload

    from app.registry.access import pairing_filter

    stmt = (
        select(Pairing)
        .where(pairing_filter(user))
        .options(selectinload(Pairing.student).selectinload(Student.school_class))
        .order_by(Pairing.ended_on.is_not(None), Pairing.started_on.desc(), Pairing.id.desc())
    )
    if school_id is not None:
        stmt = stmt.where(Pairing.school_id == school_id)
    if active is True:
        stmt = stmt.where(Pairing.ended_on.is_(None))
    elif active is False:
        stmt = stmt.where(Pairing.ended_on.is_not(None))
    return stmt
