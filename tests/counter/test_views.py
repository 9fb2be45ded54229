"""The counter pages: who sees them, what they show (never aid), today's list, the day close."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.common import local_today
from app.counter import operations as counter
from app.counter.models import Card, DayClose
from app.inventory import operations as inventory
from app.points import operations as points
from app.registry import operations as registry
from tests.conftest import csrf_token, login, post_form

AID_WORDS = ("特别困难", "比较困难", "一般困难", "资助", "困难")


@pytest.fixture
def shop(world, db):
    """School A1: a pencil in stock; a student on the monthly allowance with a card; a sale."""
    pencil = inventory.create_item(
        district_id=world.district.id, name="铅笔", category="stationery", unit="支", points=2
    )
    inventory.receive_stock(world.school_a1.id, pencil.id, 50)
    student = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="李小花", gender="F", class_id=world.class_a1.id),
    )
    points.post_allowance(student, "2026-11", 40)
    card = counter.issue_card(student)
    sale = counter.redeem(
        clerk=world.user("clerk_a1"), card_code=card.code, lines=[counter.Line(pencil.id, 3)]
    )
    db.session.commit()
    return {"pencil": pencil.id, "student": student.id, "code": card.code, "sale": sale.id}


@pytest.mark.parametrize("who", ["clerk_a1", "officer_a1"])
def test_counter_pages_render_for_clerk_and_officer(world, shop, client, login_as, who):
    login_as(world.user(who))
    page = client.get("/counter/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="counter-data"' in html and "铅笔" in html
    assert f'data-item-id="{shop["pencil"]}"' in html
    assert "<script>" not in html  # no inline code (CSP)
    today = client.get("/counter/today").get_data(as_text=True)
    assert "李小花" in today and f"redemption-{shop['sale']}" in today
    assert f"/api/v1/counter/redemptions/{shop['sale']}/void" in today
    assert client.get("/counter/close").status_code == 200


@pytest.mark.parametrize("who", ["teacher_a1", "lead_a", "admin"])
def test_counter_pages_forbidden_to_others(world, client, login_as, who):
    login_as(world.user(who))
    for path in ("/counter/", "/counter/today", "/counter/close"):
        assert client.get(path).status_code == 403, path


def test_anonymous_is_sent_to_login(client):
    assert client.get("/counter/").status_code in (302, 401)


def test_nav_shows_counter_to_clerk_only_after_dashboard(world, client, login_as):
    login_as(world.user("clerk_a1"))
    html = client.get("/dashboard").get_data(as_text=True)
    assert html.index('href="/dashboard"') < html.index('href="/counter/"')


def test_other_school_sees_none_of_it(world, shop, client, login_as):
    login_as(world.user("clerk_a2"))
    today = client.get("/counter/today").get_data(as_text=True)
    assert "李小花" not in today
    assert "铅笔" not in client.get("/counter/").get_data(as_text=True)
    token = client.get("/counter/").get_data(as_text=True).split('name="csrf-token" content="')[1]
    token = token.split('"')[0]
    card = client.get(f"/api/v1/counter/cards/{shop['code']}", headers={"X-CSRFToken": token})
    assert card.status_code == 404
    void = client.post(
        f"/api/v1/counter/redemptions/{shop['sale']}/void",
        json={"reason": "x"},
        headers={"X-CSRFToken": token},
    )
    assert void.status_code == 404


def _as(app, user):
    other = app.test_client()
    assert login(other, user).status_code == 302
    return other


def test_clerk_sees_own_checkouts_officer_all(world, shop, app, make_user):
    second = make_user("clerk", school=world.school_a1, username="clerk_a1_two")
    assert "李小花" in _as(app, world.user("clerk_a1")).get("/counter/today").get_data(as_text=True)
    assert "李小花" not in _as(app, second).get("/counter/today").get_data(as_text=True)
    officer = _as(app, world.user("officer_a1")).get("/counter/today").get_data(as_text=True)
    assert "李小花" in officer


def test_close_and_sign_off(world, shop, app, db):
    clerk = _as(app, world.user("clerk_a1"))
    page = clerk.get("/counter/close").get_data(as_text=True)
    assert 'data-testid="close-figures"' in page
    response = post_form(clerk, "/counter/close", {"note": "正常"}, page="/counter/close")
    assert response.status_code == 302
    row = db.session.scalars(select(DayClose)).one()
    assert (row.redemptions, row.points_taken, row.items_given) == (1, 6, 3)
    denied = post_form(clerk, f"/counter/close/{row.id}/sign-off", page="/counter/close")
    assert denied.status_code == 403  # a clerk does not sign off

    officer = _as(app, world.user("officer_a1"))
    html = officer.get("/counter/close").get_data(as_text=True)
    assert f"/counter/close/{row.id}/sign-off" in html
    assert post_form(officer, "/counter/close", {}, page="/counter/close").status_code == 403
    done = post_form(officer, f"/counter/close/{row.id}/sign-off", page="/counter/close")
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(DayClose, row.id).signed_off_at is not None
    # a signed-off day is not closed again
    again = post_form(clerk, "/counter/close", {}, page="/counter/close")
    assert again.status_code == 302
    assert post_form(officer, f"/counter/close/{row.id}/sign-off").status_code == 302


def test_sign_off_of_another_school_is_404(world, shop, client, login_as, db):
    row = counter.close_day(
        school_id=world.school_a1.id, clerk_id=world.user("clerk_a1").id, day=local_today()
    )
    db.session.commit()
    login_as(world.user("officer_a2"))
    assert post_form(client, f"/counter/close/{row.id}/sign-off").status_code == 404
    assert f"close-{row.id}" not in client.get("/counter/close").get_data(as_text=True)


@pytest.mark.parametrize("who", ["clerk_a1", "officer_a1"])
def test_pages_say_nothing_about_aid(world, shop, client, login_as, db, who):
    counter.close_day(
        school_id=world.school_a1.id,
        clerk_id=world.user("clerk_a1").id,
        day=local_today(),
    )
    db.session.commit()
    login_as(world.user(who))
    for path in ("/counter/", "/counter/today", "/counter/close"):
        html = client.get(path).get_data(as_text=True)
        # What the child may see: the page's content (the shared nav/footer are base.html's).
        html = html[html.index("<main") : html.index("</main>")]
        assert "李小花" in html or path != "/counter/today"
        for word in AID_WORDS:
            assert word not in html, (path, word)


# ---------------------------------------------------------------- cards


def test_officer_issues_missing_cards_and_prints_the_sheet(world, shop, app, db):
    bare = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="王小明", gender="M", class_id=world.class_a1.id),
    )
    db.session.commit()
    officer = _as(app, world.user("officer_a1"))
    assert f"class-{world.class_a1.id}" in officer.get("/counter/cards").get_data(as_text=True)
    page = f"/counter/cards/class/{world.class_a1.id}"
    assert "王小明" in officer.get(page).get_data(as_text=True)
    assert post_form(officer, page + "/issue", page=page).status_code == 302
    card = db.session.scalars(select(Card).where(Card.student_id == bare.id)).one()
    assert card.status == "active"
    sheet = officer.get(page + "/sheet").get_data(as_text=True)
    assert "王小明" in sheet and f"/counter/cards/{card.id}/qr.png" in sheet
    main = sheet[sheet.index("<main") : sheet.index("</main>")]
    for word in AID_WORDS:
        assert word not in main
    png = officer.get(f"/counter/cards/{card.id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_cards_are_scoped_and_officer_only(world, shop, app, db):
    card = db.session.scalars(select(Card).where(Card.code == shop["code"])).one()
    other = _as(app, world.user("officer_a2"))
    for path in (
        f"/counter/cards/class/{world.class_a1.id}",
        f"/counter/cards/class/{world.class_a1.id}/sheet",
        f"/counter/cards/{card.id}/qr.png",
    ):
        assert other.get(path).status_code == 404, path
    assert post_form(other, f"/counter/cards/class/{world.class_a1.id}/issue").status_code == 404
    assert (
        post_form(other, f"/counter/students/{shop['student']}/reissue", {"reason": "丢失"})
    ).status_code == 404
    clerk = _as(app, world.user("clerk_a1"))
    assert clerk.get(f"/counter/cards/{card.id}/qr.png").status_code == 403
    assert clerk.get("/counter/cards").status_code == 403


def test_reissue_revokes_the_old_code(world, shop, app, db):
    officer = _as(app, world.user("officer_a1"))
    page = f"/counter/cards/class/{world.class_a1.id}"
    empty = post_form(officer, f"/counter/students/{shop['student']}/reissue", {"reason": " "})
    assert empty.status_code == 302
    assert db.session.scalars(select(Card).where(Card.code == shop["code"])).one().status == (
        "active"
    )
    done = post_form(
        officer, f"/counter/students/{shop['student']}/reissue", {"reason": "丢失"}, page=page
    )
    assert done.status_code == 302
    db.session.expire_all()
    old = db.session.scalars(select(Card).where(Card.code == shop["code"])).one()
    assert old.status == "revoked"
    assert officer.get(f"/counter/cards/{old.id}/qr.png").status_code == 404
    token = csrf_token(officer, "/counter/")
    answer = officer.get(f"/api/v1/counter/cards/{shop['code']}", headers={"X-CSRFToken": token})
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "card_revoked"
