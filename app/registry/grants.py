"""Aid grants (资助发放): programmes with their default amounts, disbursements to students,
totals and the export.

Programmes belong to the district and are managed by its admin; each belongs to one of the
policy's four aid modes (政府资助, 社会捐助, 共同体互助, 学校自助). A school's aid officer records
what was paid to whom — one student at a time or a batch of certified students — with the
programme's default amount for the student's stage and boarding suggested. All money is in fen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.auth.roles import Role
from app.common import ValidationFailed, has_control_chars, local_today
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry.certification import NotAllowed, school_year_of
from app.registry.models import AID_MODES, AidGrant, AidProgramme, Student

if TYPE_CHECKING:
    from app.auth.models import User

AID_MODE_LABELS = {
    "government": _l("Government aid"),  # 政府资助
    "social": _l("Social donation"),  # 社会捐助
    "alliance": _l("Alliance mutual aid"),  # 共同体互助
    "school": _l("School self-help"),  # 学校自助
}
assert set(AID_MODE_LABELS) == set(AID_MODES)

# Default yearly amounts are kept per stage and boarding (the 生活补助 standard differs).
AMOUNT_KEYS = ("primary_boarding", "primary_day", "lower_secondary_boarding", "lower_secondary_day")
AMOUNT_KEY_LABELS = {
    "primary_boarding": _l("Primary, boarding (yuan per year)"),
    "primary_day": _l("Primary, day pupil (yuan per year)"),
    "lower_secondary_boarding": _l("Lower secondary, boarding (yuan per year)"),
    "lower_secondary_day": _l("Lower secondary, day pupil (yuan per year)"),
}
MAX_AMOUNT_FEN = 100_000_000  # ¥1,000,000: a typo guard, far above any real grant


def yuan(fen: int | None) -> str:
    """12345 → "123.45" (grouped: 125000 → "1,250.00")."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


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


def _require_admin(user: User, district_id: int) -> None:
    if user.role != Role.DISTRICT_ADMIN or user.district_id != district_id:
        raise NotAllowed(_("Only the district aid centre manages aid programmes."))


def _require_officer(user: User, school_id: int) -> None:
    if user.role != Role.SCHOOL_OFFICER or user.school_id != school_id:
        raise NotAllowed(_("Only the school's aid officer records grants."))


# ---------------------------------------------------------------- programmes


@dataclass
class ProgrammeInput:
    name: str
    aid_mode: str
    description: str | None = None
    amounts_fen: dict[str, int | None] | None = None
    active: bool = True


def _clean_programme(data: ProgrammeInput, district_id: int, exclude_id: int | None) -> dict:
    name = _text(data.name, "name", 100, required=True)
    if data.aid_mode not in AID_MODES:
        raise ValidationFailed(_("Choose an aid mode."), field="aid_mode")
    amounts: dict[str, int] = {}
    for key, value in (data.amounts_fen or {}).items():
        if key not in AMOUNT_KEYS:
            raise ValidationFailed(_("Unknown amount."), field=key)
        if value is None:
            continue
        if not 0 < int(value) <= MAX_AMOUNT_FEN:
            raise ValidationFailed(_("Enter an amount greater than 0."), field=key)
        amounts[key] = int(value)
    taken = select(func.count()).where(
        AidProgramme.district_id == district_id, AidProgramme.name == name
    )
    if exclude_id is not None:
        taken = taken.where(AidProgramme.id != exclude_id)
    if db.session.scalar(taken):
        raise ValidationFailed(_("A programme with this name already exists."), field="name")
    return {
        "name": name,
        "aid_mode": data.aid_mode,
        "description": _text(data.description, "description", 2000),
        "amounts_fen": amounts,
        "active": bool(data.active),
    }


def create_programme(district_id: int, data: ProgrammeInput, *, user: User) -> AidProgramme:
    """A new aid programme of the district (district admin)."""
    _require_admin(user, district_id)
    programme = AidProgramme(district_id=district_id, **_clean_programme(data, district_id, None))
    db.session.add(programme)
    db.session.flush()
    return programme


def update_programme(programme: AidProgramme, data: ProgrammeInput, *, user: User) -> None:
    """Rename, re-describe, change default amounts or (de)activate a programme."""
    _require_admin(user, programme.district_id)
    for key, value in _clean_programme(data, programme.district_id, programme.id).items():
        setattr(programme, key, value)
    db.session.flush()


def programmes_of(district_id: int, *, active_only: bool = False) -> list[AidProgramme]:
    stmt = select(AidProgramme).where(AidProgramme.district_id == district_id)
    if active_only:
        stmt = stmt.where(AidProgramme.active.is_(True))
    return list(db.session.scalars(stmt.order_by(AidProgramme.id)).all())


# ---------------------------------------------------------------- defaults


def student_stage(student: Student) -> str | None:
    """ "primary" (grades 1–6) or "lower_secondary" (7–9), from the class, else the school."""
    school_class = student.school_class
    if school_class is not None:
        if 1 <= school_class.grade <= 6:
            return "primary"
        if 7 <= school_class.grade <= 9:
            return "lower_secondary"
        return None
    stage = student.school.stage if student.school is not None else None
    return {"primary": "primary", "middle": "lower_secondary"}.get(stage or "")


def default_amount(programme: AidProgramme, student: Student) -> int | None:
    """The programme's yearly amount for this student's stage and boarding, if it sets one."""
    stage = student_stage(student)
    if stage is None:
        return None
    key = f"{stage}_{'boarding' if student.boarding else 'day'}"
    value = (programme.amounts_fen or {}).get(key)
    return int(value) if value else None


# ---------------------------------------------------------------- grants


@dataclass
class GrantInput:
    programme_id: int | None
    amount_fen: int | None
    paid_on: date | None
    school_year: int | None = None
    funding_source: str | None = None
    paid_by: str | None = None
    note: str | None = None


def _programme_for(school: School, programme_id: int | None, *, current: int | None = None):
    programme = db.session.get(AidProgramme, programme_id) if programme_id else None
    if programme is None or programme.district_id != school.district_id:
        raise ValidationFailed(_("Choose a programme."), field="programme_id")
    if not programme.active and programme.id != current:
        raise ValidationFailed(_("This programme is no longer active."), field="programme_id")
    return programme


def _clean_grant(data: GrantInput, school: School, *, current_programme: int | None = None):
    programme = _programme_for(school, data.programme_id, current=current_programme)
    if data.amount_fen is None or not 0 < data.amount_fen <= MAX_AMOUNT_FEN:
        raise ValidationFailed(_("Enter an amount greater than 0."), field="amount")
    if data.paid_on is None or not date(2000, 1, 1) <= data.paid_on <= local_today():
        raise ValidationFailed(_("Enter the day it was paid (not in the future)."), field="paid_on")
    school_year = data.school_year or school_year_of(data.paid_on)
    if not school_year_of(data.paid_on) - 1 <= school_year <= school_year_of(data.paid_on):
        raise ValidationFailed(
            _("The school year must be the one of the payment day, or the one before."),
            field="school_year",
        )
    return {
        "programme_id": programme.id,
        "amount_fen": int(data.amount_fen),
        "paid_on": data.paid_on,
        "school_year": school_year,
        "funding_source": _text(data.funding_source, "funding_source", 100),
        "paid_by": _text(data.paid_by, "paid_by", 100),
        "note": _text(data.note, "note", 200),
    }


def _student_of(school: School, student_id: int | None) -> Student:
    student = db.session.get(Student, student_id) if student_id else None
    if student is None or student.school_id != school.id or student.status != "enrolled":
        raise ValidationFailed(_("Choose a student of this school."), field="student_id")
    return student


def record_grant(school: School, student_id: int | None, data: GrantInput, *, user: User):
    """One disbursement to one student of the school (the school's officer)."""
    _require_officer(user, school.id)
    student = _student_of(school, student_id)
    grant = AidGrant(
        student_id=student.id,
        school_id=school.id,
        created_by_id=user.id,
        **_clean_grant(data, school),
    )
    db.session.add(grant)
    db.session.flush()
    return grant


def record_batch(
    school: School, entries: list[tuple[int, int | None]], data: GrantInput, *, user: User
) -> list[AidGrant]:
    """The same programme, day and source for several students, each with their own amount
    (``entries``: (student_id, amount_fen)). All rows are written, or none."""
    _require_officer(user, school.id)
    if not entries:
        raise ValidationFailed(_("Choose at least one student."), field="student_ids")
    seen: set[int] = set()
    grants = []
    for student_id, amount in entries:
        if student_id in seen:
            raise ValidationFailed(_("A student is listed twice."), field="student_ids")
        seen.add(student_id)
        student = _student_of(school, student_id)
        try:
            fields = _clean_grant(GrantInput(**{**data.__dict__, "amount_fen": amount}), school)
        except ValidationFailed as exc:
            if exc.field == "amount":
                raise ValidationFailed(
                    _("Enter an amount for %(name)s.", name=student.name),
                    field=f"amount_{student_id}",
                ) from exc
            raise
        grants.append(
            AidGrant(student_id=student.id, school_id=school.id, created_by_id=user.id, **fields)
        )
    db.session.add_all(grants)
    db.session.flush()
    return grants


def update_grant(grant: AidGrant, data: GrantInput, *, user: User) -> None:
    """Correct a recorded grant (the audit log keeps what it was)."""
    _require_officer(user, grant.school_id)
    school = db.session.get(School, grant.school_id)
    for key, value in _clean_grant(data, school, current_programme=grant.programme_id).items():
        setattr(grant, key, value)
    db.session.flush()


def delete_grant(grant: AidGrant, *, user: User) -> None:
    """Remove a grant recorded by mistake (the audit log keeps it)."""
    _require_officer(user, grant.school_id)
    db.session.delete(grant)
    db.session.flush()


# ---------------------------------------------------------------- lists and totals


def grants_stmt(user: User, *, school_id: int | None, school_year: int, programme_id=None):
    from app.registry.access import grants_filter

    stmt = (
        select(AidGrant)
        .where(grants_filter(user), AidGrant.school_year == school_year)
        .options(
            selectinload(AidGrant.student).selectinload(Student.school_class),
            selectinload(AidGrant.programme),
        )
        .order_by(AidGrant.paid_on.desc(), AidGrant.id.desc())
    )
    if school_id is not None:
        stmt = stmt.where(AidGrant.school_id == school_id)
    if programme_id:
        stmt = stmt.where(AidGrant.programme_id == programme_id)
    return stmt


@dataclass
class Total:
    key: object
    count: int
    amount_fen: int
    students: int = 0


def totals_by_programme(school_ids, school_year: int) -> list[tuple[AidProgramme, Total]]:
    """Per programme, for these schools and this school year: grants, students, amount."""
    rows = db.session.execute(
        select(
            AidGrant.programme_id,
            func.count(),
            func.count(func.distinct(AidGrant.student_id)),
            func.sum(AidGrant.amount_fen),
        )
        .where(AidGrant.school_id.in_(school_ids), AidGrant.school_year == school_year)
        .group_by(AidGrant.programme_id)
    ).all()
    programmes = {
        p.id: p
        for p in db.session.scalars(
            select(AidProgramme).where(AidProgramme.id.in_([r[0] for r in rows]))
        )
    }
    out = [
        (programmes[pid], Total(pid, n, int(total or 0), students))
        for pid, n, students, total in rows
    ]
    return sorted(out, key=lambda pair: pair[0].id)


def totals_by_school(school_ids, school_year: int) -> dict[tuple[int, int], Total]:
    """``{(school_id, programme_id): Total}`` for a district-wide table."""
    rows = db.session.execute(
        select(
            AidGrant.school_id,
            AidGrant.programme_id,
            func.count(),
            func.count(func.distinct(AidGrant.student_id)),
            func.sum(AidGrant.amount_fen),
        )
        .where(AidGrant.school_id.in_(school_ids), AidGrant.school_year == school_year)
        .group_by(AidGrant.school_id, AidGrant.programme_id)
    ).all()
    return {
        (sid, pid): Total((sid, pid), n, int(total or 0), students)
        for sid, pid, n, students, total in rows
    }


# ---------------------------------------------------------------- export


def export_columns() -> list[str]:
    return [
        _("School"),
        _("Class"),
        _("Student"),
        _("Programme"),
        _("Aid mode"),
        _("Amount (yuan)"),
        _("Paid on"),
        _("School year"),
        _("Funding source"),
        _("Paid out by"),
        _("Note"),
    ]


def export_rows(grants: list[AidGrant], schools: dict[int, School]) -> list[list[object]]:
    rows = []
    for grant in grants:
        student = grant.student
        school_class: SchoolClass | None = student.school_class
        rows.append(
            [
                schools[grant.school_id].name if grant.school_id in schools else "",
                school_class.name if school_class else "",
                student.name,
                grant.programme.name,
                str(AID_MODE_LABELS.get(grant.programme.aid_mode, grant.programme.aid_mode)),
                grant.amount_fen / 100,
                grant.paid_on,
                grant.school_year,
                grant.funding_source or "",
                grant.paid_by or "",
                grant.note or "",
            ]
        )
    return rows


def write_table(columns: list[str], rows: list[list[object]], fmt: str, title: str) -> bytes:
    """The rows as .xlsx or .csv (UTF-8 with BOM, so Excel opens Chinese text right). Every
    cell passes the registry's one formula-injection guard, the roster export's ``escape_cell``
    (= + - @ tab CR at the start get a leading apostrophe)."""
    from app.registry.exporting import escape_cell

    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([escape_cell(c) for c in columns])
        for row in rows:
            writer.writerow([escape_cell(v.isoformat() if isinstance(v, date) else v) for v in row])
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Sheet1")
    sheet.append([escape_cell(c) for c in columns])
    for row in rows:
        sheet.append([escape_cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
