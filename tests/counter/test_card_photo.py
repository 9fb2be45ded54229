"""The child's photo at the counter (GET /counter/cards/<card_code>/photo): only the clerk and the
aid officer of the card's school see it, never from a cache; everyone and everything else gets
the same 404."""

from __future__ import annotations

import io

import pytest
from flask import url_for
from PIL import Image
from werkzeug.datastructures import FileStorage

from app.counter import operations as counter
from app.registry import operations as registry
from app.registry import photos


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (200, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def cards(world, db):
    """School A1: 王小明 with a photo and a card, 李小花 with a card and no photo."""
    pictured = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="王小明", gender="M", class_id=world.class_a1.id),
    )
    pictured.photo = photos.store_photo(FileStorage(io.BytesIO(_png()), "me.png", "photo"))
    plain = registry.add_student(
        world.school_a1,
        registry.StudentInput(name="李小花", gender="F", class_id=world.class_a1.id),
    )
    with_photo, without = counter.issue_card(pictured), counter.issue_card(plain)
    db.session.commit()
    return {"photo": with_photo.code, "plain": without.code, "student": pictured}


def _url(code: str) -> str:
    return f"/counter/cards/{code}/photo"


@pytest.mark.parametrize("who", ["clerk_a1", "officer_a1"])
def test_the_clerk_and_officer_of_the_school_get_the_photo_never_cached(
    world, cards, client, login_as, who
):
    login_as(world.user(who))
    response = client.get(_url(cards["photo"]))
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data[:2] == b"\xff\xd8"  # the re-encoded JPEG, not the upload
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


@pytest.mark.parametrize("who", ["clerk_a2", "officer_a2", "clerk_b1", "officer_x"])
def test_other_schools_get_404(world, cards, client, login_as, who):
    login_as(world.user(who))
    assert client.get(_url(cards["photo"])).status_code == 404


@pytest.mark.parametrize("who", ["teacher_a1", "lead_a", "admin"])
def test_other_roles_of_the_same_school_and_above_get_404(world, cards, client, login_as, who):
    login_as(world.user(who))
    assert client.get(_url(cards["photo"])).status_code == 404


def test_no_photo_unknown_or_replaced_card_is_404(world, cards, client, login_as, db):
    login_as(world.user("clerk_a1"))
    assert client.get(_url(cards["plain"])).status_code == 404
    assert client.get(_url("AXNOSUCHCARD234567892")).status_code == 404
    new = counter.reissue_card(cards["student"], reason="丢失")
    db.session.commit()
    assert client.get(_url(cards["photo"])).status_code == 404  # the old card stopped working
    assert client.get(_url(new.code)).status_code == 200


def test_anonymous_is_sent_to_login(cards, client):
    response = client.get(_url(cards["photo"]))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_card_lookup_points_at_the_photo(world, cards, client, api_token, app):
    """The counter API's ``photo_url`` (GET /api/v1/counter/cards/{code}) is this route for a child
    with a photo and null without one."""
    headers = api_token(world.user("clerk_a1"))
    with app.test_request_context():
        expected = url_for("counter.card_photo", card_code=cards["photo"])
    body = client.get(f"/api/v1/counter/cards/{cards['photo']}", headers=headers).get_json()
    assert body["photo_url"] == expected
    plain = client.get(f"/api/v1/counter/cards/{cards['plain']}", headers=headers).get_json()
    assert plain["photo_url"] is None
