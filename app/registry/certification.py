"""家庭经济困难学生认定 — the aid certification workflow (教财〔2018〕16号), one student per school
year.

    draft ──submit──▶ class_review ──class review──▶ school_review ──decide──▶ publicity (公示)
      │                                                     │                    │  objections
      ▼ withdraw                                            ▼ reject             ▼ upheld → rejected
    withdrawn                                            rejected    window over, none open
                                                                                 ▼
                                                             confirmed ──file (备案)──▶ filed

Within the year a confirmed or filed certification may change level, or be revoked, with a
reason (:func:`change_level`, 动态调整). Each school year starts afresh: an application belongs to
one student and one school year, and :func:`copy_last_year` starts this year's draft from last
year's certification.

Who may do what (each function checks it and raises :class:`NotAllowed`, a 403):

| transition                     | who                                                        |
|--------------------------------|------------------------------------------------------------|
| create, edit, submit, withdraw | the head teacher of the student's class, or the officer    |
| class review                   | the head teacher of the class (the officer, if it has none) |
| decide, objections, level      | the school's aid officer                                   |
| copy last year's               | the school's aid officer                                   |
| file (备案)                    | a district admin of the school's district                  |

Reading an application at all is :func:`app.registry.access.application_filter`'s business: a
user who may not read it gets a 404 from the view before any of these run. The family's written
pledge (书面承诺) takes the place of income certificates, and nothing here asks a student to state
hardship in front of others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, select, update

from app.auth.roles import Role
from app.common import DomainError, ValidationFailed, has_control_chars, local_today, utcnow
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry.models import (
    LEVELS,
    SPECIAL_GROUPS,
    AidApplication,
    AidLevelChange,
    AidObjection,
    Student,
)

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from app.auth.models import User

LEVEL_LABELS = {
    "severe": _l("Severe hardship"),  # 特别困难
    "moderate": _l("Moderate hardship"),  # 比较困难
    "general": _l("General hardship"),  # 一般困难
}
CATEGORY_LABELS = {
    "poverty_alleviated": _l("Family lifted out of poverty"),
    "monitored": _l("Monitored for relapse into poverty"),
    "dibao": _l("Minimum living allowance (dibao)"),
    "dibao_edge": _l("Household on the edge of dibao"),
    "tekun": _l("Extreme-poverty support"),
    "orphan": _l("Orphan"),
    "de_facto_orphan": _l("Child without de-facto support"),
    "disabled": _l("Disabled student or child of disabled parents"),
    "martyr": _l("Child of a martyr"),
    "other": _l("Other"),
}
STATUS_LABELS = {
    "draft": _l("Draft"),
    "class_review": _l("Class review"),
    "school_review": _l("School review"),
    "publicity": _l("Public notice"),
    "confirmed": _l("Certified"),
    "filed": _l("Filed with the district"),
    "rejected": _l("Not certified"),
    "withdrawn": _l("Withdrawn"),
}
assert set(LEVEL_LABELS) == set(LEVELS)
assert set(CATEGORY_LABELS) == set(SPECIAL_GROUPS)

# An application in one of these is "open": a student has at most one per school year.
OPEN_STATUSES = ("draft", "class_review", "school_review", "publicity", "confirmed", "filed")
CERTIFIED_STATUSES = ("confirmed", "filed")
IN_PROGRESS_STATUSES = ("draft", "class_review", "school_review", "publicity")
TEXT_LIMIT = 2000


class NotAllowed(DomainError):
    """The user's role or relation to the student does not allow this step (403)."""

    code = "forbidden"
    status = 403


class WrongStatus(DomainError):
    """The application is not at the step this action belongs to (409)."""

    code = "wrong_status"


# ---------------------------------------------------------------- school years and working days


def school_year_of(day: date) -> int:
    """The school year a day falls in: it starts on 1 September (2026 = 2026–2027)."""
    return day.year if day.month >= 9 else day.year - 1


def current_school_year() -> int:
    return school_year_of(local_today())


def school_year_label(year: int) -> str:
    """2026–2027学年 / 2026–2027 school year."""
    return _("%(start)d–%(end)d school year", start=year, end=year + 1)


def school_year_bounds(year: int) -> tuple[date, date]:
    return date(year, 9, 1), date(year + 1, 8, 31)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the Monday after."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def publicity_window(decided_on: date, working_days: int) -> tuple[date, date]:
    """The 公示 window for a decision made on ``decided_on``: it starts that day (or the next
    working day when the decision falls on a weekend) and its last day is the
    ``working_days``-th working day counting the first, so "5 working days" decided on a Monday
    shows Monday to Friday.

    Working days are Monday to Friday. Public holidays (国庆, 春节 …) and the make-up working
    weekends around them are NOT modelled: a school that decides just before a holiday should
    set a longer ``School.publicity_days`` for that round.
    """
    start = next_working_day(decided_on)
    end, counted = start, 1
    while counted < max(working_days, 1):
        end += timedelta(days=1)
        if is_working_day(end):
            counted += 1
    return start, end


# ---------------------------------------------------------------- who may do what


def is_officer_of(user: User, school_id: int) -> bool:
    return user.role == Role.SCHOOL_OFFICER and user.school_id == school_id


def is_head_teacher_of(user: User, class_id: int | None) -> bool:
    if user.role != Role.TEACHER or class_id is None:
        return False
    school_class = db.session.get(SchoolClass, class_id)
    return (
        school_class is not None
        and school_class.head_teacher_id == user.id
        and school_class.school_id == user.school_id
    )


def may_fill(user: User, school_id: int, class_id: int | None) -> bool:
    """Filling in an application on the family's behalf: the head teacher or the officer."""
    return is_officer_of(user, school_id) or is_head_teacher_of(user, class_id)


def may_class_review(user: User, application: AidApplication) -> bool:
    if is_head_teacher_of(user, application.class_id):
        return True
    if not is_officer_of(user, application.school_id):
        return False
    # A class without a head teacher account: the officer records its review group's result.
    school_class = application.school_class
    return school_class is None or school_class.head_teacher_id is None


def may_file(user: User, application: AidApplication) -> bool:
    return (
        user.role == Role.DISTRICT_ADMIN
        and application.school is not None
        and application.school.district_id == user.district_id
    )


def allowed_actions(user: User, application: AidApplication) -> set[str]:
    """The steps ``user`` may take on ``application`` now (the page shows only these forms)."""
    status = application.status
    actions: set[str] = set()
    if status == "draft" and may_fill(user, application.school_id, application.class_id):
        actions |= {"edit", "submit", "withdraw"}
    if status == "class_review" and may_class_review(user, application):
        actions.add("class_review")
    officer = is_officer_of(user, application.school_id)
    if status == "school_review" and officer:
        actions.add("decide")
    if status == "publicity" and officer:
        actions.add("objection")
    if officer and any(o.resolved_at is None for o in application.objections):
        actions.add("resolve")
    if status in CERTIFIED_STATUSES and application.level is not None and officer:
        actions.add("level")
    if status == "confirmed" and may_file(user, application):
        actions.add("file")
    if officer and _may_copy_forward(application):
        actions.add("copy")
    return actions


def _may_copy_forward(application: AidApplication) -> bool:
    """Last year's certification, of a student still here, not yet started this year."""
    if application.status not in CERTIFIED_STATUSES or application.level is None:
        return False
    next_year = application.school_year + 1
    if next_year != current_school_year():  # last year's, into this year's re-certification
        return False
    student = application.student
    if student.status != "enrolled" or student.school_id != application.school_id:
        return False
    return open_application(student.id, next_year) is None


def _require(allowed: bool) -> None:
    if not allowed:
        raise NotAllowed(_("Your role does not allow this step for this student."))


def _require_status(application: AidApplication, *statuses: str) -> None:
    if application.status not in statuses:
        raise WrongStatus(
            _(
                "This application is at the step “%(status)s”; the action belongs to another step.",
                status=STATUS_LABELS[application.status],
            )
        )


# ---------------------------------------------------------------- input


@dataclass
class ApplicationInput:
    """What is filled in on the family's behalf."""

    categories: list[str] = field(default_factory=list)
    situation: str | None = None
    written_pledge: bool = False
    pledge_signed_on: date | None = None


def _text(value: str | None, field_name: str, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(_("This field is required."), field=field_name)
        return None
    if len(value) > TEXT_LIMIT:
        raise ValidationFailed(_("At most %(n)d characters.", n=TEXT_LIMIT), field=field_name)
    if has_control_chars(value):
        raise ValidationFailed(_("Control characters are not allowed."), field=field_name)
    return value


def _clean(data: ApplicationInput) -> dict:
    unknown = [c for c in data.categories if c not in SPECIAL_GROUPS]
    if unknown:
        raise ValidationFailed(_("Choose categories from the list."), field="categories")
    chosen = set(data.categories)
    signed_on = data.pledge_signed_on if data.written_pledge else None
    if data.written_pledge and signed_on is None:
        signed_on = local_today()
    if signed_on is not None and not date(2000, 1, 1) <= signed_on <= local_today():
        raise ValidationFailed(_("Enter the day the pledge was signed."), field="pledge_signed_on")
    return {
        "categories": [c for c in SPECIAL_GROUPS if c in chosen],
        "situation": _text(data.situation, "situation"),
        "written_pledge": bool(data.written_pledge),
        "pledge_signed_on": signed_on,
    }


def _check_school_year(school_year: int) -> None:
    current = current_school_year()
    if school_year not in (current, current + 1):
        raise ValidationFailed(
            _("Applications are made for this school year or the next."), field="school_year"
        )


def _lock_student(student_id: int) -> None:
    """Serialise applications for one student (PostgreSQL; SQLite writers queue anyway)."""
    db.session.execute(select(Student.id).where(Student.id == student_id).with_for_update())


def open_application(student_id: int, school_year: int) -> AidApplication | None:
    """The student's open application for the year (a revoked certification is closed)."""
    stmt = select(AidApplication).where(
        AidApplication.student_id == student_id,
        AidApplication.school_year == school_year,
        AidApplication.status.in_(OPEN_STATUSES),
        ~and_(AidApplication.status.in_(CERTIFIED_STATUSES), AidApplication.level.is_(None)),
    )
    return db.session.scalars(stmt.order_by(AidApplication.id.desc())).first()


def _check_no_open(student_id: int, school_year: int) -> None:
    if open_application(student_id, school_year) is not None:
        raise DomainError(
            _(
                "This student already has an application for %(year)s.",
                year=school_year_label(school_year),
            ),
            code="application_exists",
        )


# ---------------------------------------------------------------- the transitions


def create_application(
    student: Student, data: ApplicationInput, *, user: User, school_year: int
) -> AidApplication:
    """Start a draft on the family's behalf (head teacher of the class, or the officer)."""
    _require(may_fill(user, student.school_id, student.class_id))
    if student.status != "enrolled":
        raise DomainError(
            _("This student has left the school; their record is closed."), code="student_left"
        )
    _check_school_year(school_year)
    _lock_student(student.id)
    _check_no_open(student.id, school_year)
    application = AidApplication(
        student_id=student.id,
        school_id=student.school_id,
        class_id=student.class_id,
        school_year=school_year,
        status="draft",
        created_by_id=user.id,
        **_clean(data),
    )
    db.session.add(application)
    db.session.flush()
    return application


def update_application(application: AidApplication, data: ApplicationInput, *, user: User) -> None:
    """Correct a draft."""
    _require(may_fill(user, application.school_id, application.class_id))
    _require_status(application, "draft")
    for key, value in _clean(data).items():
        setattr(application, key, value)
    db.session.flush()


def submit_application(application: AidApplication, *, user: User) -> None:
    """Hand the draft to the class review group. The family's signed 书面承诺 is required."""
    _require(may_fill(user, application.school_id, application.class_id))
    _require_status(application, "draft")
    if not application.written_pledge:
        raise ValidationFailed(
            _("The family's signed written pledge is required before the application goes on."),
            field="written_pledge",
        )
    if not application.categories:
        raise ValidationFailed(_("Choose at least one category (or “Other”)."), field="categories")
    if "other" in application.categories and not application.situation:
        raise ValidationFailed(
            _("Describe the family's situation when the category is “Other”."),
            field="situation",
        )
    student = application.student
    if student.status != "enrolled" or student.school_id != application.school_id:
        raise DomainError(
            _("This student is no longer on this school's roster."), code="student_left"
        )
    application.class_id = student.class_id  # the class the review group belongs to, now
    application.status = "class_review"
    application.submitted_at = utcnow()
    db.session.flush()


def withdraw_application(application: AidApplication, *, user: User) -> None:
    """Withdraw a draft (nothing was reviewed yet)."""
    _require(may_fill(user, application.school_id, application.class_id))
    _require_status(application, "draft")
    application.status = "withdrawn"
    db.session.flush()


def class_review(
    application: AidApplication, *, user: User, recommended_level: str, note: str | None
) -> None:
    """The class review group's recommendation (班级评议), recorded by the head teacher."""
    _require(may_class_review(user, application))
    _require_status(application, "class_review")
    if recommended_level not in LEVELS:
        raise ValidationFailed(_("Choose a level."), field="recommended_level")
    application.recommended_level = recommended_level
    application.class_review_note = _text(note, "note")
    application.class_reviewed_at = utcnow()
    application.class_reviewed_by_id = user.id
    application.status = "school_review"
    db.session.flush()


def decide(
    application: AidApplication,
    *,
    user: User,
    level: str | None,
    note: str | None = None,
    today: date | None = None,
) -> None:
    """The school's decision: a level, which opens the 公示 window, or a refusal with a reason."""
    _require(is_officer_of(user, application.school_id))
    _require_status(application, "school_review")
    application.decided_at = utcnow()
    application.decided_by_id = user.id
    if level is None:
        application.decision_note = _text(note, "note", required=True)
        application.level = None
        application.status = "rejected"
    else:
        if level not in LEVELS:
            raise ValidationFailed(_("Choose a level."), field="level")
        school = db.session.get(School, application.school_id)
        start, end = publicity_window(today or local_today(), school.publicity_days)
        application.decision_note = _text(note, "note")
        application.level = level
        application.publicity_start = start
        application.publicity_end = end
        application.status = "publicity"
    db.session.flush()


def record_objection(
    application: AidApplication,
    *,
    user: User,
    content: str,
    received_on: date | None = None,
) -> AidObjection:
    """Note an objection raised during the 公示 window (by phone, letter or in person)."""
    _require(is_officer_of(user, application.school_id))
    _require_status(application, "publicity")
    today = local_today()
    received_on = received_on or today
    last = min(application.publicity_end, today)
    if not application.publicity_start <= received_on <= last:
        raise ValidationFailed(
            _("An objection is received within the notice's window, and not in the future."),
            field="received_on",
        )
    objection = AidObjection(
        application_id=application.id,
        received_on=received_on,
        content=_text(content, "content", required=True),
        created_by_id=user.id,
    )
    db.session.add(objection)
    db.session.flush()
    return objection


def resolve_objection(
    objection: AidObjection, *, user: User, upheld: bool, resolution: str
) -> None:
    """Close an objection after checking it. Upheld: the certification is not granted. Not
    upheld: the application stays, and is confirmed at once if its window is already over."""
    application = objection.application
    _require(is_officer_of(user, application.school_id))
    if objection.resolved_at is not None:
        raise DomainError(_("This objection has been resolved already."), code="resolved")
    objection.resolution = _text(resolution, "resolution", required=True)
    objection.upheld = bool(upheld)
    objection.resolved_at = utcnow()
    objection.resolved_by_id = user.id
    db.session.flush()
    if application.status != "publicity":
        return
    if upheld:
        application.status = "rejected"
        db.session.flush()
    else:
        close_publicity(local_today(), application_ids=[application.id])


def _due(today: date) -> ColumnElement[bool]:
    open_objection = exists().where(
        AidObjection.application_id == AidApplication.id, AidObjection.resolved_at.is_(None)
    )
    return and_(
        AidApplication.status == "publicity",
        AidApplication.publicity_end < today,
        ~open_objection,
    )


def publicity_due(today: date, school_ids=None) -> bool:
    """Whether any window has ended and waits for :func:`close_publicity` (a cheap read)."""
    stmt = select(AidApplication.id).where(_due(today))
    if school_ids is not None:
        stmt = stmt.where(AidApplication.school_id.in_(school_ids))
    return db.session.scalar(stmt.limit(1)) is not None


def close_publicity(
    today: date | None = None, *, school_ids=None, application_ids: list[int] | None = None
) -> int:
    """Confirm every application whose 公示 window ended before ``today`` with no objection
    open. Idempotent: run by ``flask registry close-publicity`` and lazily by the aid pages.
    ``school_ids`` (ids or a sub-select) limits it to a scope. Returns how many it confirmed."""
    today = today or local_today()
    stmt = select(AidApplication).where(_due(today))
    if school_ids is not None:
        stmt = stmt.where(AidApplication.school_id.in_(school_ids))
    if application_ids is not None:
        stmt = stmt.where(AidApplication.id.in_(application_ids))
    confirmed = 0
    now = utcnow()
    for application in db.session.scalars(stmt.order_by(AidApplication.id)).all():
        # Conditional update: two runs at once (CLI and a page view) confirm each row once.
        result = db.session.execute(
            update(AidApplication)
            .where(AidApplication.id == application.id, AidApplication.status == "publicity")
            .values(status="confirmed", confirmed_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            confirmed += 1
            # Reflect it in the session, so the audit hook records the change like any other.
            db.session.expire(application, ["status", "confirmed_at"])
            _audit_confirmation(application, now)
    db.session.flush()
    return confirmed


def _audit_confirmation(application: AidApplication, now) -> None:
    from app.audit.operations import record_event

    record_event(
        "update",
        "aid_application",
        application.id,
        changes={"status": ["publicity", "confirmed"], "confirmed_at": [None, now.isoformat()]},
        school_id=application.school_id,
        district_id=application.school.district_id,
    )


def file_applications(applications: list[AidApplication], *, user: User) -> int:
    """District filing (备案) of confirmed certifications, one or many; all or none."""
    if not applications:
        raise ValidationFailed(_("Choose at least one certification to file."), field="ids")
    for application in applications:
        _require(may_file(user, application))
        _require_status(application, "confirmed")
        if application.level is None:
            raise DomainError(
                _("This certification was revoked; there is nothing to file."), code="revoked"
            )
    now = utcnow()
    for application in applications:
        application.status = "filed"
        application.filed_at = now
        application.filed_by_id = user.id
    db.session.flush()
    return len(applications)


def change_level(
    application: AidApplication, *, user: User, new_level: str | None, reason: str
) -> AidLevelChange:
    """动态调整: a new level within the school year, or revoking it (``new_level=None``)."""
    _require(is_officer_of(user, application.school_id))
    _require_status(application, *CERTIFIED_STATUSES)
    if application.level is None:
        raise DomainError(
            _("This certification was revoked; start a new application instead."),
            code="revoked",
        )
    if new_level is not None and new_level not in LEVELS:
        raise ValidationFailed(_("Choose a level."), field="new_level")
    if new_level == application.level:
        raise ValidationFailed(_("Choose a level other than the current one."), field="new_level")
    change = AidLevelChange(
        application_id=application.id,
        old_level=application.level,
        new_level=new_level,
        reason=_text(reason, "reason", required=True),
        changed_by_id=user.id,
    )
    db.session.add(change)
    application.level = new_level
    db.session.flush()
    return change


def _last_year_certified(student_id: int, school_year: int) -> AidApplication | None:
    stmt = select(AidApplication).where(
        AidApplication.student_id == student_id,
        AidApplication.school_year == school_year - 1,
        AidApplication.status.in_(CERTIFIED_STATUSES),
        AidApplication.level.is_not(None),
    )
    return db.session.scalars(stmt.order_by(AidApplication.id.desc())).first()


def copy_last_year(student: Student, *, user: User, school_year: int) -> AidApplication:
    """Start this year's re-certification as a draft from last year's: the categories and the
    situation are copied; the written pledge must be signed again."""
    _require(is_officer_of(user, student.school_id))
    previous = _last_year_certified(student.id, school_year)
    if previous is None:
        raise DomainError(
            _("This student was not certified in the previous school year."), code="no_previous"
        )
    data = ApplicationInput(
        categories=list(previous.categories or []), situation=previous.situation
    )
    return create_application(student, data, user=user, school_year=school_year)


def copy_last_year_all(school: School, *, user: User, school_year: int) -> int:
    """Drafts for every enrolled student of the school certified last year who has no
    application this year yet. Returns how many drafts were made."""
    _require(is_officer_of(user, school.id))
    _check_school_year(school_year)
    has_open = (
        select(AidApplication.id)
        .where(
            AidApplication.student_id == Student.id,
            AidApplication.school_year == school_year,
            AidApplication.status.in_(OPEN_STATUSES),
            ~and_(AidApplication.status.in_(CERTIFIED_STATUSES), AidApplication.level.is_(None)),
        )
        .exists()
    )
    certified_last_year = (
        select(AidApplication.id)
        .where(
            AidApplication.student_id == Student.id,
            AidApplication.school_year == school_year - 1,
            AidApplication.status.in_(CERTIFIED_STATUSES),
            AidApplication.level.is_not(None),
        )
        .exists()
    )
    students = db.session.scalars(
        select(Student)
        .where(
            Student.school_id == school.id,
            Student.status == "enrolled",
            certified_last_year,
            ~has_open,
        )
        .order_by(Student.id)
    ).all()
    for student in students:
        copy_last_year(student, user=user, school_year=school_year)
    return len(students)
