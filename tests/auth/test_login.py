"""Login, logout, sessions and their timeouts."""

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, login, post_form


def test_login_opens_a_session_and_shows_the_dashboard(client, world):
    response = login(client, world.user("officer_a1"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "甲一小学" in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_the_same_words_as_an_unknown_user(client, world):
    bad = login(client, world.user("officer_a1"), "wrong-password-1")
    unknown = login(client, "nobody-here", "wrong-password-1")
    assert bad.status_code == unknown.status_code == 401
    assert bad.get_data(as_text=True).count("alert-danger") == 1
    assert client.get("/dashboard").status_code == 302  # still logged out


def test_login_without_csrf_token_is_refused(client, world):
    response = client.post("/login", data={"username": "officer_a1", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_logout_ends_the_server_side_session(client, world, db):
    from app.auth.models import UserSession

    login(client, world.user("teacher_a1"))
    response = post_form(client, "/logout")
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 302
    rows = db.session.scalars(select(UserSession)).all()
    assert len(rows) == 1 and rows[0].revoked_at is not None


def test_a_new_session_key_at_every_login(client, world, db):
    from app.auth.models import UserSession

    user = world.user("teacher_a1")
    login(client, user)
    first = client.get_cookie("aixin_session").value
    post_form(client, "/logout")
    login(client, user)
    second = client.get_cookie("aixin_session").value
    assert first != second
    assert len(db.session.scalars(select(UserSession)).all()) == 2


def test_idle_session_expires(client, world, db, app):
    from app.auth.models import UserSession

    login(client, world.user("teacher_a1"))
    row = db.session.scalars(select(UserSession)).one()
    row.last_seen_at = row.last_seen_at - timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    db.session.commit()
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_disabling_a_user_ends_their_session_at_once(client, app, world, db):
    from app.auth.operations import set_user_active

    other = app.test_client()
    login(other, world.user("teacher_a1"))
    assert other.get("/dashboard").status_code == 200
    set_user_active(world.user("teacher_a1"), False, editor=world.user("officer_a1"))
    db.session.commit()
    assert other.get("/dashboard").status_code == 302


def test_login_is_rate_limited_per_account(client, world):
    for _ in range(10):
        assert login(client, world.user("clerk_a1"), "wrong-password-1").status_code == 401
    response = login(client, world.user("clerk_a1"), PASSWORD)  # even the right password
    assert response.status_code == 429


def test_open_redirect_is_refused_after_login(client, world):
    token = csrf_token(client)
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "officer_a1", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")
