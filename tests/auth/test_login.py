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


def test_failed_logins_of_known_accounts_reach_their_districts_audit_log(client, world, db):
    from app.audit.models import AuditEvent

    login(client, world.user("clerk_a1"), "wrong-password-1")
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed")).one()
    assert event.district_id == world.district.id
    assert event.object_id == world.user("clerk_a1").id
    assert "wrong-password" not in str(event.changes)  # never the password tried


def test_disabling_or_moving_a_head_teacher_releases_their_classes(world, db, make_school):
    from app.auth.operations import set_user_active, update_user

    set_user_active(world.user("teacher_a1"), False, editor=world.user("officer_a1"))
    db.session.commit()
    assert world.class_a1.head_teacher_id is None
    teacher = world.user("teacher_a2")
    update_user(
        teacher,
        editor=world.user("admin"),
        display_name=teacher.display_name,
        role="teacher",
        phone=None,
        school_id=world.school_b1.id,
    )
    db.session.commit()
    assert world.class_a2.head_teacher_id is None
    assert teacher.school_id == world.school_b1.id


def test_writes_outside_a_request_are_filed_under_the_schools_district(world, db, make_class):
    from app.audit.models import AuditEvent

    school_class = make_class(world.school_b1, grade=6, number=9)
    event = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "school_class", AuditEvent.object_id == school_class.id
        )
    ).one()
    assert event.district_id == world.district.id and event.action == "create"


def test_a_write_after_a_minute_of_idleness_does_not_wait_for_itself(client, world, db):
    """The session's last-seen update joins a writing request's transaction: on SQLite a
    second connection would wait forever for the writer lock the request already holds."""
    from app.auth.models import UserSession

    login(client, world.user("teacher_a1"))
    token = csrf_token(client, "/account")
    row = db.session.scalars(select(UserSession)).one()
    row.last_seen_at = row.last_seen_at - timedelta(minutes=2)
    db.session.commit()
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_a_login_is_one_audit_event_not_a_row_update(client, world, db):
    from app.audit.models import AuditEvent

    login(client, world.user("clerk_a1"))
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "user", AuditEvent.object_id == world.user("clerk_a1").id)
        .where(AuditEvent.action != "create")
    ).all()
    assert actions == ["login"]
