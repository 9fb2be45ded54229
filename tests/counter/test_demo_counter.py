"""The demo's counter: a card for every enrolled student, a lunch break at 陇西小学 with a void
and a signed-off close, a later close awaiting sign-off, and a clean ledger after --reset."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from app.auth.models import User
from app.common import local_today, to_local
from app.counter.models import Card, DayClose, Redemption
from app.extensions import db
from app.org.models import School
from app.registry.models import Student


def _counter_days(school_id: int, clerk_id: int) -> dict:
    days = defaultdict(list)
    for r in db.session.scalars(
        select(Redemption)
        .where(Redemption.school_id == school_id, Redemption.clerk_id == clerk_id)
        .order_by(Redemption.created_at, Redemption.id)
    ):
        days[to_local(r.created_at).date()].append(r)
    return days


def test_demo_counter_cards_lunch_break_void_and_closes(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    # Every enrolled student has exactly one active card; nobody else has one.
    enrolled = set(db.session.scalars(select(Student.id).where(Student.status == "enrolled")))
    active = db.session.execute(
        select(Card.student_id, Card.code).where(Card.status == "active")
    ).all()
    assert len(enrolled) > 1000
    assert {s for s, _ in active} == enrolled and len(active) == len(enrolled)
    assert len({c for _, c in active}) == len(active)
    assert all(c.startswith("AX") and len(c) == 22 for _, c in active)

    school = db.session.scalar(select(School).where(School.name == "陇西小学"))
    clerk = db.session.scalar(select(User).where(User.username == "clerk_longxi"))
    officer = db.session.scalar(select(User).where(User.username == "officer_longxi"))
    days = _counter_days(school.id, clerk.id)
    lunch, later = sorted(days)
    assert lunch < later < local_today()

    # The lunch break: about a dozen checkouts between 12:00 and 13:00, one voided the same
    # day with the reason, and that child served again afterwards.
    served = days[lunch]
    assert 10 <= len(served) <= 14
    assert all(12 <= to_local(r.created_at).hour < 13 for r in served)
    voided = [r for r in served if r.status == "void"]
    assert len(voided) == 1
    void = voided[0]
    assert void.void_reason == "拿错了，退回" and void.voided_by_id == clerk.id
    assert to_local(void.voided_at).date() == lunch
    again = [r for r in served if r.student_id == void.student_id and r.status == "completed"]
    assert again and again[0].created_at > void.voided_at

    closes = {
        c.day: c for c in db.session.scalars(select(DayClose).where(DayClose.clerk_id == clerk.id))
    }
    signed = closes[lunch]
    assert signed.redemptions == len(served) - 1 and signed.voids == 1
    assert signed.points_taken == sum(r.points_spent for r in served if r.status == "completed")
    assert signed.signed_off_by_id == officer.id and signed.signed_off_at > signed.closed_at
    waiting = closes[later]
    assert waiting.redemptions == len(days[later]) > 0
    assert waiting.signed_off_at is None and waiting.signed_off_by_id is None

    # Loaded again from scratch: the ledger adds up.
    db.session.remove()
    again = runner.invoke(args=["demo", "--reset"])
    assert again.exit_code == 0, again.output
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == sum(
        len(v) for v in days.values()
    )
    check = runner.invoke(args=["ledger", "check"])
    assert check.exit_code == 0, check.output
    assert "points:" in check.output and "stock:" in check.output
