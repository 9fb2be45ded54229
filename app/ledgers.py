"""`flask ledger check`: re-add every ledger from its entries and check cross-table invariants.

Each domain registers a check with :func:`register_check`. A check returns a list of mismatch
descriptions (empty when all is well) and how many things it examined. The points ledger and the
stock ledger register theirs in their own packages; the organisation's invariants are here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.extensions import db


@dataclass
class CheckResult:
    name: str
    checked: int
    problems: list[str]


CheckFn = Callable[[], CheckResult]
_CHECKS: list[CheckFn] = []


def register_check(fn: CheckFn) -> CheckFn:
    if fn not in _CHECKS:
        _CHECKS.append(fn)
    return fn


def run_checks() -> list[CheckResult]:
    return [check() for check in _CHECKS]


@register_check
def check_organisation() -> CheckResult:
    """Lead schools belong to their alliance; tiers and users stay inside one district."""
    from app.auth.models import User
    from app.org.models import Alliance, School, SchoolClass

    problems: list[str] = []
    lead = aliased(School)
    rows = db.session.execute(
        select(Alliance.id, Alliance.name, lead.id, lead.alliance_id)
        .join(lead, lead.id == Alliance.lead_school_id)
        .where(lead.alliance_id.is_distinct_from(Alliance.id))
    ).all()
    problems += [
        f"alliance {a_id} ({name}): lead school {s_id} is not a member"
        for a_id, name, s_id, _ in rows
    ]
    rows = db.session.execute(
        select(School.id, School.district_id, Alliance.district_id)
        .join(Alliance, Alliance.id == School.alliance_id)
        .where(School.district_id != Alliance.district_id)
    ).all()
    problems += [
        f"school {s}: district {d} but its alliance is in district {ad}" for s, d, ad in rows
    ]
    rows = db.session.execute(
        select(User.id, User.username)
        .join(School, School.id == User.school_id)
        .where(School.district_id != User.district_id)
    ).all()
    problems += [f"user {u} ({name}): school outside the user's district" for u, name in rows]
    teacher = aliased(User)
    rows = db.session.execute(
        select(SchoolClass.id, teacher.id)
        .join(teacher, teacher.id == SchoolClass.head_teacher_id)
        .where(teacher.school_id.is_distinct_from(SchoolClass.school_id))
    ).all()
    problems += [f"class {c}: head teacher {t} is not of the class's school" for c, t in rows]
    checked = db.session.scalar(select(db.func.count()).select_from(School)) or 0
    return CheckResult("organisation", int(checked), problems)
