"""Changes to the roster. (The aid workflow, grants and pairings have their own modules in this
package: certification.py, grants.py, pairing.py.)"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.audit.operations import record_event
from app.common import DomainError, ValidationFailed, has_control_chars, local_today
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry import validation as v
from app.registry.models import CARE_FLAGS, GENDERS, Student, StudentMove


@dataclass
class StudentInput:
    """One student's roster data as entered in a form, sent to the API or read from Excel."""

    name: str
    gender: str | None = None
    class_id: int | None = None
    student_no: str | None = None
    id_number: str | None = None
    birth_date: date | None = None
    ethnicity: str | None = None
    guardian_name: str | None = None
    guardian_phone: str | None = None
    address: str | None = None
    boarding: bool = False
    left_behind: bool = False
    migrant: bool = False
    orphan: bool = False
    disabled: bool = False
    single_parent: bool = False


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    value = v.fold(value)
    if not value:
        if required:
            raise ValidationFailed(_("This field is required."), field=field)
        return None
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)d characters.", n=limit), field=field)
    if has_control_chars(value):
        raise ValidationFailed(_("Control characters are not allowed."), field=field)
    return value


def clean_student(data: StudentInput, school: School, *, student_id: int | None = None) -> dict:
    """Validate and normalise roster data for ``school``; raise ValidationFailed naming a field.

    The import's dry run uses the same checks row by row (:func:`clean_student_fields`, then
    the numbers of a whole batch at once), so its messages are the form's messages.
    """
    out = clean_student_fields(data, school)
    check_numbers_unique(out, student_id=student_id)
    return out


def clean_student_fields(data: StudentInput, school: School) -> dict:
    """:func:`clean_student` without the look-up of 学籍号 and ID number on other rosters."""
    out: dict = {}
    out["name"] = _text(data.name, "name", 50, required=True)
    id_number = v.normalise_id_number(data.id_number) if data.id_number else ""
    if data.id_number is not None and v.looks_mangled_by_excel(data.id_number):
        raise ValidationFailed(
            _(
                "The ID number was turned into a number by Excel and its last "
                "digits are lost; format the column as text."
            ),
            field="id_number",
        )
    if id_number:
        problem = v.id_number_problem(id_number)
        if problem == "checksum":
            raise ValidationFailed(_("The ID number's check digit is wrong."), field="id_number")
        if problem:
            raise ValidationFailed(_("Enter an 18-character ID number."), field="id_number")
    out["id_number"] = id_number or None
    student_no = v.normalise_student_no(data.student_no) if data.student_no else ""
    if data.student_no is not None and v.looks_mangled_by_excel(data.student_no):
        raise ValidationFailed(
            _("The student number was turned into a number by Excel; format the column as text."),
            field="student_no",
        )
    if student_no and v.student_no_problem(student_no):
        raise ValidationFailed(
            _("Enter a national student number (G + ID number, or L/J + code)."), field="student_no"
        )
    out["student_no"] = student_no or None
    gender = data.gender or (v.gender_from_id(id_number) if id_number else None)
    if gender is not None and gender not in GENDERS:
        raise ValidationFailed(_("Choose the gender."), field="gender")
    out["gender"] = gender
    birth = data.birth_date or (v.birth_date_from_id(id_number) if id_number else None)
    if birth is not None and not date(1990, 1, 1) <= birth <= local_today():
        raise ValidationFailed(_("Enter a real birth date."), field="birth_date")
    out["birth_date"] = birth
    if data.class_id is not None:
        school_class = db.session.get(SchoolClass, data.class_id)
        if school_class is None or school_class.school_id != school.id:
            raise ValidationFailed(_("Choose a class of this school."), field="class_id")
    out["class_id"] = data.class_id
    out["ethnicity"] = _text(data.ethnicity, "ethnicity", 20)
    out["guardian_name"] = _text(data.guardian_name, "guardian_name", 50)
    phone = v.normalise_phone(data.guardian_phone) if data.guardian_phone else ""
    if phone and not v.phone_ok(phone):
        raise ValidationFailed(
            _("Enter a mobile number (11 digits) or a landline with its area code."),
            field="guardian_phone",
        )
    out["guardian_phone"] = phone or None
    out["address"] = _text(data.address, "address", 200)
    out["boarding"] = bool(data.boarding)
    for flag in CARE_FLAGS:
        out[flag] = bool(getattr(data, flag))
    return out


def check_numbers_unique(out: dict, *, student_id: int | None = None) -> None:
    """A 学籍号 or ID number belongs to one student in the whole deployment."""
    for column, value, message in (
        ("student_no", out.get("student_no"), _("This student number is already on a roster.")),
        ("id_number", out.get("id_number"), _("This ID number is already on a roster.")),
    ):
        if value:
            stmt = select(func.count()).where(getattr(Student, column) == value)
            if student_id is not None:
                stmt = stmt.where(Student.id != student_id)
            if db.session.scalar(stmt):
                raise ValidationFailed(message, field=column)


def add_student(school: School, data: StudentInput) -> Student:
    """Put a student on the school's roster."""
    student = Student(school_id=school.id, status="enrolled", **clean_student(data, school))
    db.session.add(student)
    db.session.flush()
    return student


def update_student(student: Student, data: StudentInput) -> Student:
    """Correct a student's roster data (a change of school is :func:`move_student`)."""
    if student.status != "enrolled":
        raise DomainError(
            _("This student has left the school; their record is closed."), code="student_left"
        )
    for key, value in clean_student(data, student.school, student_id=student.id).items():
        setattr(student, key, value)
    db.session.flush()
    return student


def move_student(
    student: Student,
    *,
    to_school: School,
    to_class_id: int | None,
    on: date | None = None,
    reason: str | None = None,
    user_id: int | None = None,
) -> StudentMove:
    """转学: the record follows the student to another school; the move is kept as history."""
    if student.status != "enrolled":
        raise DomainError(
            _("This student has left the school; their record is closed."), code="student_left"
        )
    if to_school.id == student.school_id:
        raise ValidationFailed(_("Choose another school."), field="to_school_id")
    # The record (ID number, family) must not leave the district: a move to another district
    # is a transfer out there and a new enrolment on the other side.
    if to_school.district_id != student.school.district_id or not to_school.active:
        raise ValidationFailed(
            _("Choose an open school of the same district."), field="to_school_id"
        )
    if to_class_id is not None:
        school_class = db.session.get(SchoolClass, to_class_id)
        if school_class is None or school_class.school_id != to_school.id:
            raise ValidationFailed(_("Choose a class of the new school."), field="to_class_id")
    move = StudentMove(
        student_id=student.id,
        from_school_id=student.school_id,
        to_school_id=to_school.id,
        from_class_id=student.class_id,
        to_class_id=to_class_id,
        status_after="enrolled",
        reason=_text(reason, "reason", 200),
        moved_on=on or local_today(),
        created_by_id=user_id,
    )
    db.session.add(move)
    student.school_id = to_school.id
    student.class_id = to_class_id
    db.session.flush()
    return move


def change_class(student: Student, class_id: int | None, *, user_id: int | None = None) -> None:
    """A new class in the same school (e.g. promotion to the next grade)."""
    if student.status != "enrolled":
        raise DomainError(
            _("This student has left the school; their record is closed."), code="student_left"
        )
    if class_id is not None:
        school_class = db.session.get(SchoolClass, class_id)
        if school_class is None or school_class.school_id != student.school_id:
            raise ValidationFailed(_("Choose a class of this school."), field="class_id")
    if class_id == student.class_id:
        return
    db.session.add(
        StudentMove(
            student_id=student.id,
            from_school_id=student.school_id,
            to_school_id=student.school_id,
            from_class_id=student.class_id,
            to_class_id=class_id,
            status_after="enrolled",
            moved_on=local_today(),
            created_by_id=user_id,
        )
    )
    student.class_id = class_id
    db.session.flush()


def leave_school(
    student: Student,
    *,
    status: str,
    on: date | None = None,
    reason: str | None = None,
    user_id: int | None = None,
) -> StudentMove:
    """毕业 / 转出 / 离校: the record is closed but kept."""
    if status not in ("graduated", "transferred_out", "left"):
        raise ValidationFailed(_("Choose why the student leaves."), field="status")
    if student.status != "enrolled":
        raise DomainError(_("This student has already left."), code="student_left")
    move = StudentMove(
        student_id=student.id,
        from_school_id=student.school_id,
        to_school_id=None,
        from_class_id=student.class_id,
        to_class_id=None,
        status_after=status,
        reason=_text(reason, "reason", 200),
        moved_on=on or local_today(),
        created_by_id=user_id,
    )
    db.session.add(move)
    student.status = status
    student.left_on = move.moved_on
    db.session.flush()
    return move


REVEALABLE = ("id_number", "student_no", "guardian_phone", "address")


def reveal(student: Student, field: str) -> str | None:
    """Show one masked value in full; the audit log records who saw what, and when."""
    if field not in REVEALABLE:
        raise ValidationFailed(_("This field cannot be revealed."), field="field")
    record_event(
        "reveal",
        "student",
        student.id,
        changes={"field": field},
        school_id=student.school_id,
        district_id=student.school.district_id,
    )
    return getattr(student, field)


STUDENT_INPUT_FIELDS = tuple(f.name for f in fields(StudentInput))
