"""The points ledger under concurrency: threads, each with its own app context and session (as
separate requests or gunicorn workers would), released together by a barrier. Run on SQLite
by default and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.extensions import db
from app.points import operations as ops
from app.points.models import PointEntry
from app.registry.models import Student
from tests.inventory.stock_helpers import in_thread
from tests.points import support as s


def race(app, calls):
    """Run every call in its own thread and session, all released at once; their outcomes
    ("ok" or the refusal's code)."""
    db.session.commit()
    db.session.remove()  # the test's session must not hold a transaction (SQLite's lock)
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return in_thread(app, call)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _student(student_id):
    return db.session.get(Student, student_id)


@pytest.mark.parametrize(("each", "winners", "left"), [(10, 10, 0), (30, 3, 10)])
def test_concurrent_spends_never_take_a_balance_below_zero(app, world, each, winners, left):
    kid = s.student(world.school_a1)
    ops.credit(kid, 100, kind="volunteer", reason="储备")
    kid_id = kid.id  # read before the session goes

    def spend():
        ops.spend(_student(kid_id), each, reason="兑换")

    outcomes = race(app, [spend] * 24)
    assert outcomes.count("ok") == winners
    assert outcomes.count("insufficient_points") == 24 - winners
    assert s.balance(kid_id) == left
    assert s.count(PointEntry, PointEntry.kind == "redemption") == winners
    assert s.ledger_problems() == []


def test_concurrent_credits_and_spends_lose_no_update(app, world):
    kid = s.student(world.school_a1)
    ops.credit(kid, 20, kind="award", reason="起步")
    kid_id = kid.id

    def credit():
        ops.credit(_student(kid_id), 3, kind="award", reason="加")

    def spend():
        ops.spend(_student(kid_id), 5, reason="减")

    calls = [credit, spend] * 10
    outcomes = race(app, calls)
    spent = sum(1 for c, o in zip(calls, outcomes, strict=True) if c is spend and o == "ok")
    assert all(o == "ok" for c, o in zip(calls, outcomes, strict=True) if c is credit)
    assert s.balance(kid_id) == 20 + 30 - 5 * spent >= 0
    assert s.ledger_problems() == []


def test_one_entry_is_reversed_once_however_many_try(app, world):
    kid = s.student(world.school_a1)
    entry = ops.credit(kid, 40, kind="award", reason="记错")
    entry_id, kid_id = entry.id, kid.id

    def undo():
        ops.reverse(db.session.get(PointEntry, entry_id), reason="撤销")

    outcomes = race(app, [undo] * 8)
    assert outcomes.count("ok") == 1
    assert set(outcomes) <= {"ok", "already_reversed"}
    assert s.balance(kid_id) == 0
    assert s.ledger_problems() == []


def test_concurrent_awards_of_one_teacher_stay_under_the_daily_cap(app, world):
    s.rule(world.district, max_award_points_per_teacher_day=50)
    kids = [s.student(world.school_a1).id for _ in range(3)]
    teacher_id = world.user("teacher_a1").id

    def award(i):
        return lambda: ops.award_points(
            _student(kids[i % 3]), 10, kind="award", reason="表扬", teacher_id=teacher_id
        )

    outcomes = race(app, [award(i) for i in range(12)])
    assert outcomes.count("ok") == 5
    assert outcomes.count("rule_limit") == 7
    assert sum(s.balance(k) for k in kids) == 50
