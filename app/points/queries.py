"""Read helpers of the points pages and API: a student's history and year totals, the rules,
the allowance's monthly counts (aid office only).

**How the allowance looks.** The aid office (district admin, school aid officer) sees an
allowance entry as what it is. Everyone else sees it exactly like a teacher's award: kind
``award``, reason "每月积分" (msgid "Monthly points"), no author. Every student can receive
awards, so nothing in an entry, a label or a total tells a teacher, clerk or alliance lead that
a child is in the aid registry. :func:`present_entry` is the one place that decides this; pages
and the API both call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.points.models import AllowancePosting, PointEntry, PointRule
from app.points.operations import MONTHLY_POINTS_REASON
from app.registry.access import in_aid_office
from app.registry.models import Student

if TYPE_CHECKING:
    from app.auth.models import User
    from app.org.models import School

KIND_LABELS = {
    "volunteer": _l("Volunteer service"),
    "gratitude": _l("Gratitude"),
    "allowance": _l("Monthly points"),
    "award": _l("Award"),
    "redemption": _l("Redemption"),
    "void": _l("Redemption voided"),
    "adjustment": _l("Correction"),
    "expiry": _l("School-year reset"),
}
MONTHLY_POINTS = _l("Monthly points")


@dataclass
class EntryView:
    """One entry as a given viewer may see it."""

    id: int
    kind: str  # the kind shown (an allowance is "award" outside the aid office)
    label: str
    points: int
    balance_after: int
    reason: str | None
    created_at: datetime
    by: str | None  # who made it (None: not shown)
    reverses_id: int | None
    reversible: bool  # not itself a correction, not yet reversed


def present_entry(
    entry: PointEntry, *, office: bool, reversed_ids: frozenset[int] = frozenset()
) -> EntryView:
    """``entry`` as the viewer sees it. ``office``: the viewer is in the aid office.

    Outside the aid office an allowance is an award reading "每月积分", and no entry shows
    who made it (the allowance is posted by the aid officer or a scheduled job: an author, or
    a missing one, would set it apart from the teachers' awards)."""
    kind, reason = entry.kind, entry.reason
    if kind == "allowance":
        reason = MONTHLY_POINTS_REASON  # stored data, the same in every UI language
        if not office:
            kind = "award"
    label = str(MONTHLY_POINTS) if kind == "allowance" else str(KIND_LABELS.get(kind, kind))
    by = None
    if office and entry.created_by is not None:
        by = entry.created_by.display_name
    return EntryView(
        id=entry.id,
        kind=kind,
        label=label,
        points=entry.points,
        balance_after=entry.balance_after,
        reason=reason,
        created_at=entry.created_at,
        by=by,
        reverses_id=entry.reverses_id,
        reversible=entry.reverses_id is None
        and entry.kind != "expiry"
        and entry.id not in reversed_ids,
    )


def entries_stmt(student_id: int) -> Select:
    return (
        select(PointEntry)
        .where(PointEntry.student_id == student_id)
        .options(selectinload(PointEntry.created_by))
        .order_by(PointEntry.id.desc())
    )


def reversed_among(entry_ids: list[int]) -> frozenset[int]:
    if not entry_ids:
        return frozenset()
    return frozenset(
        db.session.scalars(
            select(PointEntry.reverses_id).where(PointEntry.reverses_id.in_(entry_ids))
        )
    )


def present_entries(entries: list[PointEntry], user: User) -> list[EntryView]:
    office = in_aid_office(user)
    done = reversed_among([e.id for e in entries])
    return [present_entry(e, office=office, reversed_ids=done) for e in entries]


@dataclass
class YearTotals:
    school_year: int
    earned: int = 0  # every credit of the year (volunteer, gratitude, awards, monthly points)
    spent: int = 0  # redemptions less voids
    corrections: int = 0  # signed
    reset: int = 0  # the year-start reset (negative or 0)
    volunteer_minutes: int = 0  # verified and credited
    gratitude_activities: int = 0


def year_totals(student_id: int, school_year: int) -> YearTotals:
    """The student's totals for a school year (1 Sept – 31 Aug), from the entries; the
    year-start reset is shown apart and does not change them."""
    from app.activities.models import ActivityParticipant, HoursLog
    from app.points.operations import _local_day_bounds
    from app.registry.certification import school_year_bounds

    first, last = school_year_bounds(school_year)
    start, _end = _local_day_bounds(first)
    _start, end = _local_day_bounds(last)
    rows = db.session.execute(
        select(PointEntry.kind, func.sum(PointEntry.points))
        .where(
            PointEntry.student_id == student_id,
            PointEntry.created_at >= start,
            PointEntry.created_at < end,
        )
        .group_by(PointEntry.kind)
    ).all()
    totals = YearTotals(school_year=school_year)
    for kind, total in rows:
        total = int(total or 0)
        if kind in ("volunteer", "gratitude", "allowance", "award"):
            totals.earned += total
        elif kind in ("redemption", "void"):
            totals.spent -= total
        elif kind == "adjustment":
            totals.corrections += total
        elif kind == "expiry":
            totals.reset += total
    from app.activities.models import Activity

    totals.volunteer_minutes = int(
        db.session.scalar(
            select(func.coalesce(func.sum(HoursLog.credited_minutes), 0))
            .join(Activity, Activity.id == HoursLog.activity_id)
            .where(
                HoursLog.student_id == student_id,
                HoursLog.status.in_(("approved", "partial")),
                Activity.held_on.between(first, last),
            )
        )
        or 0
    )
    totals.gratitude_activities = int(
        db.session.scalar(
            select(func.count())
            .select_from(ActivityParticipant)
            .join(Activity, Activity.id == ActivityParticipant.activity_id)
            .where(
                ActivityParticipant.student_id == student_id,
                Activity.held_on.between(first, last),
            )
        )
        or 0
    )
    return totals


def years_of(student_id: int) -> list[int]:
    """School years in which the student has entries, newest first."""
    from app.common import to_local
    from app.registry.certification import school_year_of

    first = db.session.scalar(
        select(func.min(PointEntry.created_at)).where(PointEntry.student_id == student_id)
    )
    last = db.session.scalar(
        select(func.max(PointEntry.created_at)).where(PointEntry.student_id == student_id)
    )
    if first is None:
        return []
    a, b = school_year_of(to_local(first).date()), school_year_of(to_local(last).date())
    return list(range(b, a - 1, -1))


# ---------------------------------------------------------------- rules


def rules_of(district_id: int, school_id: int | None) -> list[PointRule]:
    """The district's rules and (with ``school_id``) that school's overrides, newest first."""
    condition = PointRule.school_id.is_(None)
    if school_id is not None:
        condition = or_(condition, PointRule.school_id == school_id)
    return list(
        db.session.scalars(
            select(PointRule)
            .where(PointRule.district_id == district_id, condition)
            .order_by(
                PointRule.school_id.is_(None).desc(),
                PointRule.effective_from.desc(),
                PointRule.id.desc(),
            )
        )
    )


# ---------------------------------------------------------------- the allowance (aid office)


def allowance_months(student_ids_of_school: Select, limit: int = 12) -> list[tuple[str, int]]:
    """(month, students credited) of the school's most recent months."""
    rows = db.session.execute(
        select(AllowancePosting.month, func.count())
        .where(AllowancePosting.student_id.in_(student_ids_of_school))
        .group_by(AllowancePosting.month)
        .order_by(AllowancePosting.month.desc())
        .limit(limit)
    ).all()
    return [(month, int(n)) for month, n in rows]


def school_student_ids(school_id: int) -> Select:
    return select(Student.id).where(Student.school_id == school_id)


# ---------------------------------------------------------------- finding a student


def find_students_stmt(
    school: School, *, q: str | None = None, class_id: int | None = None
) -> Select:
    """Enrolled students of the school by class and name: no balances, no order by points
    (nothing here ranks children)."""
    from app.org.models import SchoolClass

    stmt = (
        select(Student)
        .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.school_id == school.id, Student.status == "enrolled")
        .options(selectinload(Student.school_class))
        .order_by(
            case((SchoolClass.id.is_(None), 1), else_=0),
            SchoolClass.grade,
            SchoolClass.number,
            Student.name,
            Student.id,
        )
    )
    if class_id:
        stmt = stmt.where(Student.class_id == class_id)
    if q:
        stmt = stmt.where(Student.name.contains(q, autoescape=True))
    return stmt


def entry_kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, _("Other")))
