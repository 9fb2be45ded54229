"""The points ledger's part of ``flask ledger check``."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.ledgers import CheckResult, register_check
from app.points.models import AllowancePosting, ExpiryPosting, PointAccount, PointEntry


@register_check
def check_points() -> CheckResult:
    """Every balance = the sum of its entries = the last entry's balance_after; every
    allowance posting (and every non-empty year-start reset) has its entry; points issued −
    spent = the sum of balances."""
    problems: list[str] = []
    sums = dict(
        db.session.execute(
            select(PointEntry.student_id, func.sum(PointEntry.points)).group_by(
                PointEntry.student_id
            )
        ).all()
    )
    last = select(func.max(PointEntry.id)).group_by(PointEntry.student_id).scalar_subquery()
    last_balance = dict(
        db.session.execute(
            select(PointEntry.student_id, PointEntry.balance_after).where(PointEntry.id.in_(last))
        ).all()
    )
    balances = dict(db.session.execute(select(PointAccount.student_id, PointAccount.balance)).all())
    for student_id in sorted(set(sums) | set(balances)):
        balance = balances.get(student_id, 0)
        if sums.get(student_id, 0) != balance:
            problems.append(
                f"student {student_id}: balance {balance} but entries add up to "
                f"{sums.get(student_id, 0)}"
            )
        if student_id in last_balance and last_balance[student_id] != balance:
            problems.append(
                f"student {student_id}: balance {balance} but the last entry left "
                f"{last_balance[student_id]}"
            )
    for posting_id, student_id, month in db.session.execute(
        select(AllowancePosting.id, AllowancePosting.student_id, AllowancePosting.month).where(
            AllowancePosting.entry_id.is_(None)
        )
    ):
        problems.append(
            f"allowance {month} of student {student_id}: posting {posting_id} has no entry"
        )
    for posting_id, student_id, year in db.session.execute(
        select(ExpiryPosting.id, ExpiryPosting.student_id, ExpiryPosting.school_year).where(
            ExpiryPosting.points > 0, ExpiryPosting.entry_id.is_(None)
        )
    ):
        problems.append(f"reset {year} of student {student_id}: posting {posting_id} has no entry")
    total_entries = sum(sums.values())
    total_balances = sum(balances.values())
    if total_entries != total_balances:
        problems.append(
            f"points issued − spent = {total_entries} but balances add up to {total_balances}"
        )
    return CheckResult("points", len(balances), problems)
