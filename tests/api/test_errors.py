"""Error answers: always {"error": {"code", "message", "fields"?}}, never a 500 for bad input,
never a stack trace; HTML pages keep their HTML error pages."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from tests.api.conftest import error_of


@pytest.fixture
def headers(world, api_token):
    return api_token(world.user("officer_a1"))


def test_health_is_ok(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_health_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from sqlalchemy.orm import Session

    def unreachable(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(Session, "execute", unreachable)
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error"}


def test_unknown_api_route_is_json_404(client, headers):
    for path in ("/api/v1/nothing-here", "/api/v2/me", "/api/"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


def test_html_pages_keep_their_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_wrong_method_is_json_405_with_allow(client, headers):
    response = client.delete("/api/v1/me", headers=headers)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(probe_client, headers):
    for body in (
        b"{",
        b'{"name": "x",}',
        b"\xff\xfe",
        b"[" * 100_000,
        b"NaN",
        b'{"name": Infinity}',
    ):
        response = probe_client.post(
            "/api/v1/probe", data=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, body[:20]
        assert error_of(response)["code"] == "bad_request"


def test_an_integer_too_long_to_convert_is_400_not_500(probe_client, headers):
    body = b'{"name": "x", "quantity": ' + b"9" * 5000 + b"}"
    response = probe_client.post(
        "/api/v1/probe", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_400(probe_client, headers, content_type):
    response = probe_client.post(
        "/api/v1/probe", data='{"name": "x"}', headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_a_missing_body_is_422_naming_the_required_field(probe_client, headers):
    response = probe_client.post("/api/v1/probe", headers=headers)
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["name"]


def test_a_json_body_that_is_not_an_object_is_422(probe_client, headers):
    response = probe_client.post("/api/v1/probe", json=[1, 2], headers=headers)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"


def test_oversized_body_is_json_413(probe_client, headers):
    body = '{"name": "x", "note": "' + "a" * (1024 * 1024 + 10) + '"}'
    response = probe_client.post(
        "/api/v1/probe", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_invalid_fields_are_422_with_messages_per_field(probe_client, headers):
    response = probe_client.post(
        "/api/v1/probe",
        json={"name": "", "quantity": "5", "lines": [{"item_id": 1, "quantity": 0}], "x": 1},
        headers=headers,
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"name", "quantity", "lines.0.quantity", "x"}
    assert all(isinstance(m, str) and m for ms in error["fields"].values() for m in ms)


def test_field_messages_follow_the_language(probe_app, probe_client, headers):
    from flask_babel import gettext

    probe_client.set_cookie("aixin_lang", "en")
    english = error_of(probe_client.post("/api/v1/probe", json={}, headers=headers))
    assert english["message"] == "Some fields are invalid."
    assert english["fields"]["name"] == ["Missing data for required field."]
    probe_client.set_cookie("aixin_lang", "zh_CN")
    chinese = error_of(probe_client.post("/api/v1/probe", json={}, headers=headers))
    assert chinese["message"] == "部分字段填写有误。"
    with probe_app.test_request_context(headers={"Cookie": "aixin_lang=zh_CN"}):
        # marshmallow's own English message goes through the catalog (.i18n/api.tsv)
        assert chinese["fields"]["name"] == [gettext("Missing data for required field.")]


def test_an_unexpected_error_is_500_without_internals(probe_client):
    response = probe_client.get("/api/v1/probe/crash")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
