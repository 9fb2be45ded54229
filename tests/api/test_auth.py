"""Who may call the API: bearer tokens, and the browser's session cookie with its CSRF header."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.api.conftest import error_of
from tests.conftest import csrf_token, login


def _token_row(db):
    from app.auth.models import ApiToken

    return db.session.scalars(select(ApiToken)).one()


def test_a_valid_token_acts_as_its_user(client, world, api_token):
    response = client.get("/api/v1/me", headers=api_token(world.user("teacher_a1")))
    assert response.status_code == 200
    assert response.get_json()["username"] == "teacher_a1"


def test_a_missing_token_is_401_with_the_bearer_challenge(client, world):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(client, world, api_token, db):
    from app.auth.operations import revoke_token

    headers = api_token(world.user("officer_a1"))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    revoke_token(_token_row(db))
    db.session.commit()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_disabled_users_token_is_401(client, world, api_token, db):
    headers = api_token(world.user("clerk_a1"))
    user = world.user("clerk_a1")
    user.active = False  # disabled directly: the token row itself stays unrevoked
    db.session.commit()
    response = client.get("/api/v1/schools", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_garbage_authorization_headers_are_401(client, world, api_token):
    good = api_token(world.user("admin"))["Authorization"]
    for header in (
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        good + "x",
        "Basic YWRtaW4xOnBhc3N3b3Jk",
        good.replace("Bearer ", "Token "),
        "Bearer " + "a" * 5000,
        "Bearer \x00\x01",
    ):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header[:40]
        assert error_of(response)["code"] == "unauthorized"


def test_a_bad_token_is_refused_even_beside_a_valid_session_cookie(client, world):
    login(client, world.user("officer_a1"))
    assert client.get("/api/v1/me").status_code == 200
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer axt_wrong"})
    assert response.status_code == 401


def test_a_token_beside_a_session_cookie_acts_as_the_tokens_user(client, world, api_token):
    login(client, world.user("officer_a1"))
    response = client.get("/api/v1/me", headers=api_token(world.user("lead_b")))
    assert response.get_json()["username"] == "lead_b"


def test_token_use_is_recorded_at_most_once_a_minute(client, world, api_token, db):
    headers = api_token(world.user("teacher_a1"))
    assert _token_row(db).last_used_at is None
    client.get("/api/v1/me", headers=headers)
    first = _token_row(db).last_used_at
    assert first is not None
    client.get("/api/v1/me", headers=headers)
    assert _token_row(db).last_used_at == first  # within the minute: no write
    row = _token_row(db)
    row.last_used_at = first - timedelta(minutes=5)
    db.session.commit()
    client.get("/api/v1/me", headers=headers)
    assert _token_row(db).last_used_at > first - timedelta(minutes=5)


def test_token_use_is_recorded_on_a_write_request_too(probe_client, world, api_token, db):
    # On SQLite a POST's transaction holds the writer lock; recording the use must not wait on it.
    headers = api_token(world.user("teacher_a1"))
    response = probe_client.post("/api/v1/probe", json={"name": "x"}, headers=headers)
    assert response.status_code == 201
    # The probe does not commit, so the bookkeeping went with the request's transaction (SQLite)
    # or its own (PostgreSQL); either way nothing hangs and the answer is right.


def test_token_use_is_not_an_audited_change(client, world, api_token, db):
    from app.audit.models import AuditEvent

    headers = api_token(world.user("teacher_a1"))
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    client.get("/api/v1/me", headers=headers)
    after = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    assert before == after


def test_a_logged_in_browser_session_can_read(client, world):
    login(client, world.user("teacher_a1"))
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.get_json()["username"] == "teacher_a1"


def test_a_session_post_without_the_csrf_header_is_refused(probe_client, world):
    login(probe_client, world.user("teacher_a1"))
    response = probe_client.post("/api/v1/probe", json={"name": "张三"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "csrf_failed"


def test_a_session_post_with_a_wrong_csrf_header_is_refused(probe_client, world):
    login(probe_client, world.user("teacher_a1"))
    response = probe_client.post(
        "/api/v1/probe", json={"name": "张三"}, headers={"X-CSRFToken": "forged"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "csrf_failed"


def test_a_session_post_with_the_pages_csrf_header_is_accepted(probe_client, world):
    login(probe_client, world.user("teacher_a1"))
    token = csrf_token(probe_client, "/dashboard")
    response = probe_client.post(
        "/api/v1/probe", json={"name": "张三"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201
    assert response.get_json() == {"received": {"name": "张三"}}


def test_a_bearer_post_needs_no_csrf_header(probe_client, world, api_token):
    headers = api_token(world.user("teacher_a1"))
    response = probe_client.post("/api/v1/probe", json={"name": "张三"}, headers=headers)
    assert response.status_code == 201


def test_an_anonymous_post_is_401_not_a_csrf_or_field_error(probe_client, world):
    response = probe_client.post("/api/v1/probe", json={"quantity": "bad"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_role_the_view_does_not_allow_is_403(probe_client, world, api_token):
    teacher = probe_client.post(
        "/api/v1/probe/officers-only", headers=api_token(world.user("teacher_a1"))
    )
    assert teacher.status_code == 403
    assert error_of(teacher)["code"] == "forbidden"
    officer = probe_client.post(
        "/api/v1/probe/officers-only", headers=api_token(world.user("officer_a1"))
    )
    assert officer.status_code == 200


def test_public_views_ignore_credentials(client, world):
    response = client.get("/api/v1/health", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
