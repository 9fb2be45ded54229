"""The monthly allowance (每月积分): students with a confirmed aid certification for the school
year get a monthly credit by their level, per the points rule in force on the month's first
day.

Who is certified, and at which level, is read only through
:func:`app.registry.aid_queries.confirmed_levels`. The credit itself is
:func:`app.points.operations.post_allowance`, which claims (student, month) once, so running
this any number of times — also twice at the same moment — credits each student once a month.

Outside the aid office the credit reads as "每月积分" and nothing else: no level, no category,
no aid wording (DOMAIN.md §4.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.common import ValidationFailed, local_today
from app.extensions import db
from app.org.models import School
from app.points import operations as ops
from app.registry.models import Student

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass
class AllowanceSummary:
    school_id: int
    month: str
    credited: int = 0  # students credited by this run
    already: int = 0  # students who had this month's allowance already
    points: int = 0  # points credited by this run
    zero: int = 0  # certified, but the rule gives their level 0 points


def parse_month(text: str | None) -> str:
    """``YYYY-MM`` of a month that has begun (in the deployment's time zone)."""
    match = _MONTH.fullmatch((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or not int(match.group(1)) >= 2000:
        raise ValidationFailed(_("Enter the month as YYYY-MM, e.g. 2026-10."), field="month")
    first = month_start(match.group(0))
    today = local_today()
    if first > today.replace(day=1):
        raise ValidationFailed(_("This month has not begun yet."), field="month")
    return match.group(0)


def month_start(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def current_month() -> str:
    return local_today().strftime("%Y-%m")


def school_year_of_month(month: str) -> int:
    from app.registry.certification import school_year_of

    return school_year_of(month_start(month))


def confirmed_levels(school_id: int, school_year: int) -> dict[int, str]:
    """The registry's answer (one indirection, so tests can stand in for the registry)."""
    from app.registry.aid_queries import confirmed_levels as registry_levels

    return registry_levels(school_id, school_year)


def post_monthly_allowance(
    school: School, month: str, *, user_id: int | None = None
) -> AllowanceSummary:
    """Credit the month's allowance to every certified student of the school who has not had
    it yet. Students in id order, so two concurrent runs take their claims in the same order."""
    month = parse_month(month)
    summary = AllowanceSummary(school_id=school.id, month=month)
    levels = confirmed_levels(school.id, school_year_of_month(month))
    if not levels:
        return summary
    rule = ops.rule_in_force(school.id, school.district_id, month_start(month))
    students = {
        s.id: s
        for s in db.session.scalars(
            select(Student).where(
                Student.id.in_(list(levels)),
                Student.school_id == school.id,
                Student.status == "enrolled",
            )
        )
    }
    for student_id in sorted(students):
        points = ops.allowance_for(levels[student_id], rule)
        if points <= 0:
            summary.zero += 1
            continue
        entry = ops.post_allowance(
            students[student_id], month, points, user_id=user_id, rule_id=rule.id
        )
        if entry is None:
            summary.already += 1
        else:
            summary.credited += 1
            summary.points += points
    return summary
