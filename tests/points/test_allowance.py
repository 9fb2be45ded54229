"""The monthly allowance: by level per the rule, read only through the registry's
``confirmed_levels``, idempotent per student and month (also run twice at the same moment), by
the CLI and by the aid office's button."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from app.common import ValidationFailed
from app.extensions import db
from app.points import allowance
from app.points.models import AllowancePosting, PointEntry
from tests.conftest import post_form
from tests.points import support as s
from tests.registry import aid_support as aid


@pytest.fixture
def kids(world):
    return [
        s.student(world.school_a1, world.class_a1, name=name)
        for name in ("王小明", "李华", "赵敏", "钱多多")
    ]


@pytest.fixture
def fake_levels(monkeypatch):
    """Stand in for the registry: {school_id: {student_id: level}}."""
    table: dict[int, dict[int, str]] = {}
    calls: list[tuple[int, int]] = []

    def confirmed_levels(school_id, school_year):
        calls.append((school_id, school_year))
        return dict(table.get(school_id, {}))

    monkeypatch.setattr(allowance, "confirmed_levels", confirmed_levels)
    table["calls"] = calls  # type: ignore[assignment]
    return table


def test_each_certified_student_gets_the_amount_of_their_level(world, kids, fake_levels):
    s.rule(world.district, allowance_severe=60, allowance_moderate=40, allowance_general=0)
    fake_levels[world.school_a1.id] = {
        kids[0].id: "severe",
        kids[1].id: "moderate",
        kids[2].id: "general",
    }
    with s.on(date(2026, 11, 20)):
        summary = allowance.post_monthly_allowance(world.school_a1, "2026-11")
        db.session.commit()
    assert (summary.credited, summary.already, summary.zero, summary.points) == (2, 0, 1, 100)
    assert fake_levels["calls"] == [(world.school_a1.id, 2026)]
    assert [s.balance(k.id) for k in kids] == [60, 40, 0, 0]
    entry = s.entries(kids[0].id)[0]
    assert (entry.kind, entry.reason, entry.source) == ("allowance", "每月积分", "allowance")
    assert s.ledger_problems() == []


def test_running_twice_posts_nothing_new(world, kids, fake_levels):
    fake_levels[world.school_a1.id] = {kids[0].id: "severe", kids[1].id: "general"}
    with s.on(date(2026, 11, 20)):
        first = allowance.post_monthly_allowance(world.school_a1, "2026-11")
        db.session.commit()
        fake_levels[world.school_a1.id][kids[2].id] = "moderate"  # certified since
        second = allowance.post_monthly_allowance(world.school_a1, "2026-11")
        db.session.commit()
    assert (first.credited, first.already) == (2, 0)
    assert (second.credited, second.already) == (1, 2)
    assert s.count(PointEntry, PointEntry.kind == "allowance") == 3
    with s.on(date(2026, 12, 1)):
        december = allowance.post_monthly_allowance(world.school_a1, "2026-12")
        db.session.commit()
    assert december.credited == 3


def test_the_month_is_checked(world, fake_levels):
    with s.on(date(2026, 11, 20)):
        for bad in ("2026-13", "26-11", "2026/11", "", "2026-12", "1999-01"):
            with pytest.raises(ValidationFailed):
                allowance.post_monthly_allowance(world.school_a1, bad)
        assert allowance.parse_month(" 2026-09 ") == "2026-09"


def test_the_rule_of_the_months_first_day_applies(world, kids, fake_levels):
    s.rule(world.district, effective_from=date(2026, 1, 1), allowance_severe=30)
    s.rule(world.district, effective_from=date(2026, 11, 2), allowance_severe=90)
    fake_levels[world.school_a1.id] = {kids[0].id: "severe"}
    with s.on(date(2026, 11, 20)):
        allowance.post_monthly_allowance(world.school_a1, "2026-11")
        db.session.commit()
    assert s.balance(kids[0].id) == 30


def test_students_who_left_or_moved_away_get_nothing(world, kids, fake_levels):
    from app.registry.operations import leave_school

    leave_school(kids[1], status="transferred_out")
    db.session.commit()
    other = s.student(world.school_a2, name="外校生")
    fake_levels[world.school_a1.id] = {kids[1].id: "severe", other.id: "severe"}
    with s.on(date(2026, 11, 20)):
        summary = allowance.post_monthly_allowance(world.school_a1, "2026-11")
        db.session.commit()
    assert summary.credited == 0 and s.balance(other.id) == 0


def _post_in_thread(app, school_id, month, barrier):
    from app.extensions import db as _db
    from app.org.models import School

    with app.app_context():
        try:
            barrier.wait(timeout=30)
            with s.on(date(2026, 11, 20)):
                summary = allowance.post_monthly_allowance(
                    _db.session.get(School, school_id), month
                )
                _db.session.commit()
            return summary.credited
        finally:
            _db.session.remove()


def test_two_runs_at_the_same_moment_credit_once(app, world, kids, fake_levels):
    fake_levels[world.school_a1.id] = {k.id: "moderate" for k in kids}
    school_id, ids = world.school_a1.id, [k.id for k in kids]
    db.session.commit()
    db.session.remove()  # the test's own session must not hold the SQLite writer lock
    barrier = threading.Barrier(4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: _post_in_thread(app, school_id, "2026-11", barrier), range(4))
        )
    assert sum(results) == 4
    assert s.count(AllowancePosting) == 4
    assert s.count(PointEntry, PointEntry.kind == "allowance") == 4
    assert all(s.balance(i) == 40 for i in ids)
    assert s.ledger_problems() == []


def test_the_real_registry_decides_who_is_certified(world):
    """Through app.registry.aid_queries.confirmed_levels: a confirmed certification counts, a
    draft does not."""
    officer = world.user("officer_a1")
    certified = aid.make_student(world.school_a1, world.class_a1, name="甲同学")
    drafted = aid.make_student(world.school_a1, world.class_a1, name="乙同学")
    aid.drive(aid.draft(certified, officer), "confirmed", world, level="severe")
    aid.draft(drafted, officer)
    with s.on(date(2026, 12, 5)):
        summary = allowance.post_monthly_allowance(world.school_a1, "2026-12")
        db.session.commit()
    assert summary.credited == 1
    assert s.balance(certified.id) == 60 and s.balance(drafted.id) == 0


def test_the_cli_credits_every_school_and_can_run_again(app, world, kids, fake_levels, runner):
    fake_levels[world.school_a1.id] = {kids[0].id: "general"}
    fake_levels[world.school_b1.id] = {s.student(world.school_b1).id: "severe"}
    db.session.commit()
    month = allowance.current_month()
    result = runner.invoke(args=["points", "allowance", "--month", month])
    assert result.exit_code == 0, result.output
    assert f"{month}: 2 students credited, 0 already had it" in result.output
    again = runner.invoke(args=["points", "allowance", "--month", month])
    assert f"{month}: 0 students credited, 2 already had it" in again.output
    one = runner.invoke(args=["points", "allowance", "--school", str(world.school_a1.id)])
    assert "0 students credited, 1 already had it" in one.output
    bad = runner.invoke(args=["points", "allowance", "--month", "2026-99"])
    assert bad.exit_code != 0


def test_the_aid_officers_button_shows_a_summary(client, login_as, world, kids, fake_levels):
    fake_levels[world.school_a1.id] = {kids[0].id: "severe", kids[1].id: "general"}
    client.set_cookie("aixin_lang", "en")
    login_as(world.user("officer_a1"))
    month = allowance.current_month()
    data = {"school_id": world.school_a1.id, "month": month}
    response = post_form(client, "/points/allowance", data)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 students credited, 0 already had it" in page
    again = post_form(client, "/points/allowance", data)
    follow = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "0 students credited, 2 already had it" in follow
    assert s.count(PointEntry, PointEntry.kind == "allowance") == 2


@pytest.mark.parametrize("key", ["teacher_a1", "clerk_a1", "lead_a"])
def test_the_button_is_for_the_aid_office_only(client, login_as, world, fake_levels, key):
    kid = s.student(world.school_a1)
    fake_levels[world.school_a1.id] = {kid.id: "severe"}
    login_as(world.user(key))
    assert client.get("/points/allowance").status_code == 403
    response = post_form(
        client, "/points/allowance", {"school_id": world.school_a1.id, "month": "2026-11"}
    )
    assert response.status_code == 403
    assert s.balance(kid.id) == 0


def test_an_officer_cannot_post_for_another_school(client, login_as, world, fake_levels):
    kid = s.student(world.school_a2)
    fake_levels[world.school_a2.id] = {kid.id: "severe"}
    login_as(world.user("officer_a1"))
    response = post_form(
        client,
        "/points/allowance",
        {"school_id": world.school_a2.id, "month": allowance.current_month()},
    )
    assert response.status_code == 422
    assert s.balance(kid.id) == 0
