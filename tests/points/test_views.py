"""The points pages: a student's points, awards and corrections, the rules pages, finding a
student without any ranking, and what teachers and clerks never see."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from app.common import local_today
from app.extensions import db
from app.points import operations as ops
from app.points.models import PointEntry, PointRule
from tests.conftest import login, post_form
from tests.points import support as s
from tests.registry import aid_support as aid


@pytest.fixture
def kid(world):
    return s.student(world.school_a1, world.class_a1, name="王小明")


def main_of(response) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r"<main.*?</main>", html, re.S)
    return match.group(0) if match else html


def _english(client):
    client.set_cookie("aixin_lang", "en")


# ---------------------------------------------------------------- a student's page


def test_a_teacher_sees_balance_history_and_year_totals(client, login_as, world, kid):
    with s.on(local_today() - timedelta(days=2)):
        ops.credit(kid, 30, kind="volunteer", reason="扫雪 · 3 h")
        ops.spend(kid, 8, reason="铅笔")
        db.session.commit()
    login_as(world.user("teacher_a1"))
    response = client.get(f"/points/students/{kid.id}")
    assert response.status_code == 200
    page = main_of(response)
    assert 'data-testid="balance">22<' in page
    assert "扫雪 · 3 h" in page and "铅笔" in page
    assert 'data-testid="total-earned">30<' in page
    assert 'data-testid="award-form"' in page
    assert 'data-testid="adjust-form"' not in page  # corrections: aid office only


def test_the_page_is_scoped(client, login_as, world, kid):
    other = s.student(world.school_a2)
    login_as(world.user("teacher_a1"))
    assert client.get(f"/points/students/{other.id}").status_code == 404
    assert client.get("/points/students/99999999").status_code == 404


@pytest.mark.parametrize("role", ["clerk_a1", "lead_a"])
def test_clerks_and_alliance_leads_have_no_points_pages(client, login_as, world, kid, role):
    login_as(world.user(role))
    for url in (f"/points/students/{kid.id}", "/points/", "/points/rules"):
        assert client.get(url).status_code == 403, url


def test_a_teacher_awards_points_from_the_page(client, login_as, world, kid):
    login_as(world.user("teacher_a1"))
    page = f"/points/students/{kid.id}"
    response = post_form(
        client, f"{page}/award", {"kind": "award", "points": "12", "reason": "拾金不昧"}, page=page
    )
    assert response.status_code == 302
    assert s.balance(kid.id) == 12


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "award", "points": "abc", "reason": "好"},
        {"kind": "award", "points": "0", "reason": "好"},
        {"kind": "award", "points": "99999999999999999999", "reason": "好"},
        {"kind": "allowance", "points": "5", "reason": "好"},
        {"kind": "award", "points": "5", "reason": ""},
        {"kind": "award", "points": "5", "reason": "x" * 101},
    ],
)
def test_bad_award_input_is_422_never_500(client, login_as, world, kid, data):
    login_as(world.user("teacher_a1"))
    page = f"/points/students/{kid.id}"
    response = post_form(client, f"{page}/award", data, page=page)
    assert response.status_code == 422
    assert s.balance(kid.id) == 0


def test_the_award_cap_shows_the_rule_on_the_form(client, login_as, world, kid):
    s.rule(world.district, max_award_points_per_teacher_day=10)
    _english(client)
    login_as(world.user("teacher_a1"))
    page = f"/points/students/{kid.id}"
    response = post_form(
        client, f"{page}/award", {"kind": "award", "points": "11", "reason": "好"}, page=page
    )
    assert response.status_code == 409
    assert "manual awards per teacher per day" in main_of(response)


def test_an_officer_corrects_and_reverses(client, login_as, world, kid):
    entry = ops.credit(kid, 20, kind="award", reason="错记")
    ops.credit(kid, 10, kind="volunteer", reason="扫雪")
    db.session.commit()
    login_as(world.user("officer_a1"))
    page = f"/points/students/{kid.id}"
    taken = post_form(
        client, f"{page}/adjust", {"direction": "take", "points": "5", "reason": "多记"}, page=page
    )
    assert taken.status_code == 302 and s.balance(kid.id) == 25
    too_much = post_form(
        client, f"{page}/adjust", {"direction": "take", "points": "50", "reason": "x"}, page=page
    )
    assert too_much.status_code == 409 and s.balance(kid.id) == 25
    back = post_form(client, f"/points/entries/{entry.id}/reverse", {"reason": "记错"}, page=page)
    assert back.status_code == 302
    assert s.balance(kid.id) == 5
    # A teacher may not correct or reverse.
    client2 = client.application.test_client()
    login(client2, world.user("teacher_a1"))
    assert (
        post_form(
            client2, f"{page}/adjust", {"direction": "add", "points": "5", "reason": "x"}
        ).status_code
        == 403
    )
    assert (
        post_form(client2, f"/points/entries/{entry.id}/reverse", {"reason": "x"}).status_code
        == 403
    )


def test_an_entry_of_another_school_cannot_be_reversed(client, login_as, world):
    other = s.student(world.school_a2)
    entry = ops.credit(other, 9, kind="award", reason="好")
    db.session.commit()
    login_as(world.user("officer_a1"))
    response = post_form(client, f"/points/entries/{entry.id}/reverse", {"reason": "x"})
    assert response.status_code == 404
    assert s.balance(other.id) == 9


# ---------------------------------------------------------------- finding a student, no ranking


def test_finding_students_lists_names_by_class_without_balances(client, login_as, world, kid):
    rich = s.student(world.school_a1, world.class_a1, name="李富有")
    ops.credit(rich, 999, kind="award", reason="好")
    ops.credit(kid, 1, kind="award", reason="好")
    db.session.commit()
    login_as(world.user("teacher_a1"))
    response = client.get(f"/points/?class_id={world.class_a1.id}")
    page = main_of(response)
    assert response.status_code == 200
    assert "王小明" in page and "李富有" in page
    assert "999" not in page  # no balances on any list
    assert page.index("李富有") < page.index("王小明")  # by name, not by points
    assert client.get("/points/?class_id=abc&q=" + "x" * 500).status_code == 200


def test_the_district_admin_picks_a_school_first(client, login_as, world, kid):
    login_as(world.user("admin"))
    assert 'data-testid="school-picker"' in main_of(client.get("/points/"))
    found = client.get(f"/points/?school_id={world.school_a1.id}&q=小明")
    assert "王小明" in main_of(found)
    assert client.get(f"/points/?school_id={world.school_x.id}").status_code == 404


# ---------------------------------------------------------------- rules


def _rule_form(**kw):
    data = {
        "school_id": "",
        "effective_from": (local_today() + timedelta(days=1)).isoformat(),
        "points_per_hour": "12",
        "points_per_gratitude": "6",
        "max_hours_per_day": "3",
        "max_award_points_per_teacher_day": "100",
        "allowance_severe": "80",
        "allowance_moderate": "50",
        "allowance_general": "30",
    }
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def test_the_district_admin_sets_district_defaults(client, login_as, world):
    login_as(world.user("admin"))
    response = post_form(
        client, "/points/rules", _rule_form(yearly_reset="y"), page="/points/rules"
    )
    assert response.status_code == 302
    rule = db.session.scalars(db.select(PointRule)).one()
    assert (rule.school_id, rule.points_per_hour, rule.allowance_severe, rule.yearly_reset) == (
        None,
        12,
        80,
        True,
    )
    # The same day again: refused on the form, nothing edited.
    again = post_form(client, "/points/rules", _rule_form(points_per_hour="99"))
    assert again.status_code == 422
    assert db.session.scalars(db.select(PointRule.points_per_hour)).all() == [12]


def test_a_school_officer_sets_an_override_for_their_school_only(client, login_as, world):
    login_as(world.user("officer_a1"))
    response = post_form(
        client, "/points/rules", _rule_form(school_id=str(world.school_a2.id)), page="/points/rules"
    )
    assert response.status_code == 422  # not a choice they have
    ok = post_form(client, "/points/rules", _rule_form(school_id=str(world.school_a1.id)))
    assert ok.status_code == 302
    assert db.session.scalars(db.select(PointRule.school_id)).all() == [world.school_a1.id]


@pytest.mark.parametrize(
    "bad",
    [
        {"effective_from": "2020-01-01"},
        {"effective_from": "not a date"},
        {"points_per_hour": "-1"},
        {"max_hours_per_day": "25"},
        {"allowance_severe": "1e9"},
        {"max_award_points_per_teacher_day": ""},
    ],
)
def test_bad_rules_are_422(client, login_as, world, bad):
    login_as(world.user("admin"))
    response = post_form(client, "/points/rules", _rule_form(**bad), page="/points/rules")
    assert response.status_code == 422
    assert s.count(PointRule) == 0


def test_teachers_read_the_rules_without_the_allowance_part(client, login_as, world):
    s.rule(world.district, allowance_severe=77, points_per_hour=13)
    login_as(world.user("teacher_a1"))
    response = client.get("/points/rules")
    page = main_of(response)
    assert response.status_code == 200
    assert 'data-testid="in-force-per-hour">13<' in page
    assert "77" not in page and 'data-testid="rule-form"' not in page
    for word in s.LEVEL_WORDS:
        assert word not in page
    assert post_form(client, "/points/rules", _rule_form()).status_code == 403


def test_past_rules_stay_and_only_future_ones_can_be_withdrawn(client, login_as, world):
    past = s.rule(world.district, effective_from=date(2025, 9, 1))
    future = s.rule(world.district, effective_from=local_today() + timedelta(days=5))
    override = s.rule(
        world.district, world.school_a2, effective_from=local_today() + timedelta(days=5)
    )
    login_as(world.user("officer_a1"))
    assert post_form(client, f"/points/rules/{past.id}/delete").status_code == 403
    assert post_form(client, f"/points/rules/{override.id}/delete").status_code == 404
    client2 = client.application.test_client()
    login(client2, world.user("admin"))
    assert post_form(client2, f"/points/rules/{past.id}/delete").status_code == 409
    assert post_form(client2, f"/points/rules/{future.id}/delete").status_code == 302
    assert s.count(PointRule) == 2


def test_the_year_reset_button(client, login_as, world, kid):
    ops.credit(kid, 15, kind="award", reason="好")
    db.session.commit()
    login_as(world.user("officer_a1"))
    assert post_form(client, "/points/year-reset", page="/points/rules").status_code == 302
    assert s.balance(kid.id) == 15  # no rule asks for it
    s.rule(world.district, effective_from=date(2020, 1, 1), yearly_reset=True)
    assert post_form(client, "/points/year-reset").status_code == 302
    assert s.balance(kid.id) == 0
    assert s.count(PointEntry, PointEntry.kind == "expiry") == 1


# ---------------------------------------------------------------- privacy


def _certified_with_allowance(world):
    officer = world.user("officer_a1")
    kid = aid.make_student(world.school_a1, world.class_a1, name="张小红")
    aid.drive(aid.draft(kid, officer), "confirmed", world, level="severe")
    from app.points.allowance import current_month, post_monthly_allowance

    post_monthly_allowance(world.school_a1, current_month())
    ops.credit(kid, 10, kind="volunteer", reason="图书角整理")
    db.session.commit()
    return kid


@pytest.mark.parametrize("role", ["teacher_a1"])
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_no_page_a_teacher_sees_reveals_aid(client, login_as, world, role, lang):
    kid = _certified_with_allowance(world)
    assert s.balance(kid.id) == 70  # the allowance is there
    client.set_cookie("aixin_lang", lang)
    login_as(world.user(role))
    for url in (
        f"/points/students/{kid.id}",
        f"/points/?class_id={world.class_a1.id}",
        "/points/rules",
        "/activities/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = main_of(response)
        for word in (*aid.AID_WORDS, *s.LEVEL_WORDS, "allowance", "Allowance", "hardship"):
            assert word not in page, (url, word)
    student_page = main_of(client.get(f"/points/students/{kid.id}"))
    assert 'data-kind="allowance"' not in student_page
    assert student_page.count('data-kind="award"') == 1


def test_the_aid_office_sees_the_allowance_as_what_it_is(client, login_as, world):
    kid = _certified_with_allowance(world)
    login_as(world.user("officer_a1"))
    page = main_of(client.get(f"/points/students/{kid.id}"))
    assert 'data-kind="allowance"' in page
