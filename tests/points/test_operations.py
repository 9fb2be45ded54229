"""The points ledger's operations: credits, spending, reversals, corrections, the daily cap on
manual awards, rules with effective dates and school overrides, the school-year reset."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.common import DomainError, ValidationFailed, local_today
from app.extensions import db
from app.points import operations as ops
from app.points.models import ExpiryPosting, PointEntry, PointRule
from tests.points import support as s


@pytest.fixture
def kid(world):
    return s.student(world.school_a1, world.class_a1, name="王小明")


def test_credit_and_spend_keep_an_append_only_ledger(kid):
    first = ops.credit(kid, 30, kind="volunteer", reason="扫雪")
    spent = ops.spend(kid, 12, reason="铅笔")
    db.session.commit()
    assert (first.points, first.balance_after) == (30, 30)
    assert (spent.kind, spent.points, spent.balance_after, spent.source) == (
        "redemption",
        -12,
        18,
        "counter",
    )
    assert s.balance(kid.id) == 18
    assert s.ledger_problems() == []


def test_spending_more_than_the_balance_is_refused_and_writes_nothing(kid):
    ops.credit(kid, 5, kind="award", reason="好")
    db.session.commit()
    with pytest.raises(ops.InsufficientPoints):
        ops.spend(kid, 6, reason="书包")
    db.session.rollback()
    assert s.balance(kid.id) == 5
    assert len(s.entries(kid.id)) == 1


@pytest.mark.parametrize("bad", [0, -1, 1_000_001, True, 2.0, "5", None])
def test_points_must_be_whole_numbers_within_bounds(kid, bad):
    with pytest.raises(ValidationFailed):
        ops.credit(kid, bad, kind="award", reason="x")


def test_a_reversal_names_the_original_and_happens_once(kid):
    entry = ops.credit(kid, 20, kind="award", reason="错记")
    db.session.commit()
    undo = ops.reverse(entry, reason="记错了学生", user_id=None)
    db.session.commit()
    assert (undo.kind, undo.points, undo.reverses_id, undo.balance_after) == (
        "adjustment",
        -20,
        entry.id,
        0,
    )
    with pytest.raises(DomainError) as again:
        ops.reverse(entry, reason="再来一次")
    assert again.value.code == "already_reversed"
    db.session.rollback()
    with pytest.raises(DomainError) as nested:
        ops.reverse(undo, reason="撤销撤销")
    assert nested.value.code == "cannot_reverse"


def test_a_redemption_comes_back_as_void(kid):
    ops.credit(kid, 10, kind="award", reason="好")
    spent = ops.spend(kid, 10, reason="本子")
    back = ops.reverse(spent, reason="当天作废")
    db.session.commit()
    assert back.kind == "void" and back.points == 10 and s.balance(kid.id) == 10


def test_a_spent_credit_cannot_be_taken_back(kid):
    entry = ops.credit(kid, 10, kind="award", reason="好")
    ops.spend(kid, 8, reason="本子")
    db.session.commit()
    with pytest.raises(ops.InsufficientPoints):
        ops.reverse(entry, reason="记错")
    db.session.rollback()
    assert s.balance(kid.id) == 2


def test_the_database_refuses_a_second_reversal_of_one_entry(kid):
    """The unique index backs the check (a second compensating row cannot be inserted)."""
    from sqlalchemy.exc import IntegrityError

    entry = ops.credit(kid, 10, kind="award", reason="好")
    ops.reverse(entry, reason="错")
    db.session.commit()
    db.session.add(
        PointEntry(
            student_id=kid.id,
            school_id=kid.school_id,
            kind="adjustment",
            points=-1,
            balance_after=0,
            reverses_id=entry.id,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_adjustments_need_a_reason_and_cannot_overdraw(kid):
    with pytest.raises(ValidationFailed):
        ops.adjust(kid, 5, reason=" ", user_id=None)
    with pytest.raises(ops.InsufficientPoints):
        ops.adjust(kid, -5, reason="扣回", user_id=None)
    db.session.rollback()
    entry = ops.adjust(kid, 5, reason="补记", user_id=None)
    assert entry.kind == "adjustment" and entry.source == "correction"


def test_a_student_who_left_earns_nothing(world, kid):
    from app.registry.operations import leave_school

    leave_school(kid, status="graduated")
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        ops.credit(kid, 5, kind="award", reason="x")
    assert refused.value.code == "student_left"


# ---------------------------------------------------------------- the daily award cap


def test_manual_awards_are_capped_per_teacher_per_day_and_the_refusal_names_the_rule(world, kid):
    teacher = world.user("teacher_a1")
    s.rule(world.district, max_award_points_per_teacher_day=50)
    ops.award_points(kid, 30, kind="award", reason="好人好事", teacher_id=teacher.id)
    db.session.commit()
    with pytest.raises(ops.RuleRefused) as refused:
        ops.award_points(kid, 21, kind="award", reason="再奖", teacher_id=teacher.id)
    assert refused.value.code == "rule_limit"
    assert "50" in refused.value.message and "20" in refused.value.message
    db.session.rollback()
    # Another teacher has a cap of their own.
    other = s.student(world.school_a1, name="李华")
    ops.award_points(
        other, 50, kind="gratitude", reason="感恩", teacher_id=world.user("officer_a1").id
    )
    ops.award_points(kid, 20, kind="volunteer", reason="补登", teacher_id=teacher.id)
    db.session.commit()
    assert s.balance(kid.id) == 50


def test_rule_based_credits_do_not_use_up_the_teachers_manual_cap(world, kid):
    teacher = world.user("teacher_a1")
    s.rule(world.district, max_award_points_per_teacher_day=10)
    ops.credit(kid, 500, kind="volunteer", reason="核实时长", user_id=teacher.id, source="hours")
    ops.award_points(kid, 10, kind="award", reason="表扬", teacher_id=teacher.id)
    db.session.commit()
    assert s.balance(kid.id) == 510


def test_yesterdays_awards_do_not_count_today(world, kid):
    teacher = world.user("teacher_a1")
    s.rule(world.district, max_award_points_per_teacher_day=10)
    today = local_today()
    with s.on(today - timedelta(days=1)):
        ops.award_points(kid, 10, kind="award", reason="昨天", teacher_id=teacher.id)
        db.session.commit()
    with s.on(today):
        ops.award_points(kid, 10, kind="award", reason="今天", teacher_id=teacher.id)
        db.session.commit()


# ---------------------------------------------------------------- rules and effective dates


def test_the_rule_in_force_follows_effective_dates_and_school_overrides(world):
    d, a1, a2 = world.district, world.school_a1, world.school_a2
    s.rule(d, effective_from=date(2025, 9, 1), points_per_hour=8)
    s.rule(d, effective_from=date(2026, 3, 1), points_per_hour=12)
    s.rule(d, a1, effective_from=date(2026, 1, 1), points_per_hour=20)
    assert ops.rule_in_force(a2.id, d.id, date(2025, 12, 31)).points_per_hour == 8
    assert ops.rule_in_force(a2.id, d.id, date(2026, 3, 1)).points_per_hour == 12
    assert ops.rule_in_force(a1.id, d.id, date(2025, 12, 31)).points_per_hour == 8
    assert ops.rule_in_force(a1.id, d.id, date(2026, 1, 1)).points_per_hour == 20
    # The override replaces the district's rule for that school, also after a newer default.
    assert ops.rule_in_force(a1.id, d.id, date(2026, 6, 1)).points_per_hour == 20
    # Before any rule: the built-in defaults, unsaved.
    default = ops.rule_in_force(a2.id, d.id, date(2020, 1, 1))
    assert default.id is None and default.points_per_hour == 10
    # Another district's rules never apply.
    assert ops.rule_in_force(world.school_x.id, world.other_district.id).points_per_hour == 10


def _values(**kw):
    values = dict.fromkeys(ops.RULE_BOUNDS, 5)
    values["max_hours_per_day"] = 4
    values.update(kw)
    return values


def test_new_rules_start_today_or_later_and_never_replace_a_rule_of_the_same_day(world):
    d = world.district
    with pytest.raises(ValidationFailed) as past:
        ops.create_rule(
            district_id=d.id,
            school_id=None,
            effective_from=local_today() - timedelta(days=1),
            values=_values(),
            yearly_reset=False,
        )
    assert past.value.field == "effective_from"
    tomorrow = local_today() + timedelta(days=1)
    made = ops.create_rule(
        district_id=d.id,
        school_id=None,
        effective_from=tomorrow,
        values=_values(),
        yearly_reset=True,
    )
    db.session.commit()
    with pytest.raises(ValidationFailed):
        ops.create_rule(
            district_id=d.id,
            school_id=None,
            effective_from=tomorrow,
            values=_values(),
            yearly_reset=False,
        )
    db.session.rollback()
    # A school may have its own rule on the same day.
    ops.create_rule(
        district_id=d.id,
        school_id=world.school_a1.id,
        effective_from=tomorrow,
        values=_values(),
        yearly_reset=False,
    )
    db.session.commit()
    assert made.yearly_reset is True


@pytest.mark.parametrize(
    ("key", "value"),
    [("points_per_hour", -1), ("max_hours_per_day", 0), ("max_hours_per_day", 25),
     ("allowance_severe", 10_001), ("points_per_gratitude", True), ("points_per_hour", "5")],
)  # fmt: skip
def test_rule_values_are_checked(world, key, value):
    with pytest.raises(ValidationFailed) as bad:
        ops.create_rule(
            district_id=world.district.id,
            school_id=None,
            effective_from=local_today(),
            values=_values(**{key: value}),
            yearly_reset=False,
        )
    assert bad.value.field == key


def test_only_a_rule_that_has_not_started_can_be_withdrawn(world):
    started = s.rule(world.district, effective_from=local_today())
    future = s.rule(world.district, effective_from=local_today() + timedelta(days=3))
    with pytest.raises(DomainError) as refused:
        ops.delete_rule(started)
    assert refused.value.code == "rule_in_force"
    ops.delete_rule(future)
    db.session.commit()
    assert s.count(PointRule) == 1


# ---------------------------------------------------------------- the school-year reset


def test_the_year_start_reset_zeroes_once_and_keeps_the_year_totals(world, kid):
    from app.points.queries import year_totals

    s.rule(world.district, effective_from=date(2025, 1, 1), yearly_reset=True)
    with s.on(date(2026, 5, 10)):
        ops.credit(kid, 40, kind="volunteer", reason="植树")
        ops.spend(kid, 15, reason="文具")
        db.session.commit()
    with s.on(date(2026, 9, 1)):
        assert ops.reset_school_year(world.school_a1, 2026) == 1
        db.session.commit()
        assert s.balance(kid.id) == 0
        expiry = s.entries(kid.id, "expiry")[0]
        assert (expiry.points, expiry.balance_after, expiry.source) == (-25, 0, "expiry")
        ops.credit(kid, 7, kind="award", reason="开学")
        db.session.commit()
        # Again: claimed for the year, the new points stay.
        assert ops.reset_school_year(world.school_a1, 2026) == 0
        db.session.commit()
    assert s.balance(kid.id) == 7
    last_year = year_totals(kid.id, 2025)
    assert (last_year.earned, last_year.spent, last_year.reset) == (40, 15, 0)
    this_year = year_totals(kid.id, 2026)
    assert (this_year.earned, this_year.reset) == (7, -25)
    assert s.count(ExpiryPosting) == 1
    assert s.ledger_problems() == []


def test_no_reset_without_the_rule_and_none_before_the_year_begins(world, kid):
    ops.credit(kid, 9, kind="award", reason="好")
    db.session.commit()
    with s.on(date(2026, 9, 2)):
        assert ops.reset_school_year(world.school_a1, 2026) is None
        with pytest.raises(DomainError):
            ops.reset_school_year(world.school_a1, 2027)
    assert s.balance(kid.id) == 9


def test_a_zero_balance_is_claimed_so_later_points_survive_a_second_run(world, kid):
    s.rule(world.district, effective_from=date(2025, 1, 1), yearly_reset=True)
    with s.on(date(2026, 9, 1)):
        assert ops.expire_balance(kid, 2026) is None
        ops.credit(kid, 3, kind="award", reason="好")
        assert ops.expire_balance(kid, 2026) is None
        db.session.commit()
    assert s.balance(kid.id) == 3
