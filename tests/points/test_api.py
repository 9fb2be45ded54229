"""``POST /api/v1/points/awards`` and ``GET /api/v1/students/{id}/points`` (API-v1.md)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.points import operations as ops
from tests.points import support as s

AWARDS = "/api/v1/points/awards"


@pytest.fixture
def kid(world):
    return s.student(world.school_a1, world.class_a1, name="王小明")


def _award(client, headers, student_id, points=10, kind="award", reason="帮助同学", **extra):
    body = {"student_id": student_id, "points": points, "kind": kind, "reason": reason, **extra}
    return client.post(AWARDS, json=body, headers=headers)


@pytest.mark.parametrize("role", ["teacher_a1", "officer_a1", "admin"])
def test_teachers_and_above_award_points(client, api_token, world, kid, role):
    response = _award(client, api_token(world.user(role)), kid.id, points=15, kind="volunteer")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["balance_after"] == 15 and isinstance(body["entry_id"], int)
    assert s.balance(kid.id) == 15
    entry = s.entries(kid.id)[0]
    assert (entry.kind, entry.created_by_id, entry.source) == (
        "volunteer",
        world.user(role).id,
        "manual",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("points", "10"),
        ("points", 10.0),
        ("points", 1.5),
        ("points", True),
        ("points", 0),
        ("points", -5),
        ("points", 1_000_001),
        ("points", None),
        ("kind", "allowance"),
        ("kind", "redemption"),
        ("kind", 3),
        ("reason", ""),
        ("reason", "   "),
        ("reason", "x" * 101),
        ("reason", "坏\u0000字"),
        ("student_id", "1"),
        ("student_id", True),
        ("student_id", 0),
        ("student_id", 2**31),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, api_token, world, kid, field, value):
    body = {"student_id": kid.id, "points": 10, "kind": "award", "reason": "好", field: value}
    response = client.post(AWARDS, json=body, headers=api_token(world.user("teacher_a1")))
    assert response.status_code == 422, (field, value, response.get_json())
    assert field in response.get_json()["error"]["fields"]
    assert s.balance(kid.id) == 0


def test_missing_fields_unknown_fields_and_non_json(client, api_token, world, kid):
    headers = api_token(world.user("teacher_a1"))
    missing = client.post(AWARDS, json={"student_id": kid.id}, headers=headers)
    assert missing.status_code == 422
    assert {"points", "kind", "reason"} <= set(missing.get_json()["error"]["fields"])
    extra = _award(client, headers, kid.id, rule_id=1)
    assert extra.status_code == 422
    text = client.post(AWARDS, data="points=5", headers=headers, content_type="text/plain")
    assert text.status_code == 400
    broken = client.post(AWARDS, data="{", headers=headers, content_type="application/json")
    assert broken.status_code == 400


def test_a_student_outside_the_callers_scope_is_404(client, api_token, world):
    other = s.student(world.school_a2)
    far = s.student(world.school_x)
    headers = api_token(world.user("teacher_a1"))
    assert _award(client, headers, other.id).status_code == 404
    assert _award(client, headers, 999_999).status_code == 404
    # A district admin reaches every school of the district, not another district.
    admin = api_token(world.user("admin"))
    assert _award(client, admin, other.id).status_code == 201
    assert _award(client, admin, far.id).status_code == 404


@pytest.mark.parametrize("role", ["clerk_a1", "lead_a"])
def test_clerks_and_alliance_leads_may_not_award(client, api_token, world, kid, role):
    assert _award(client, api_token(world.user(role)), kid.id).status_code == 403


def test_no_token_is_401(client, kid):
    assert client.post(AWARDS, json={}).status_code == 401


def test_the_daily_cap_is_a_409_naming_the_rule(client, api_token, world, kid):
    s.rule(world.district, max_award_points_per_teacher_day=25)
    headers = api_token(world.user("teacher_a1"))
    assert _award(client, headers, kid.id, points=20).status_code == 201
    refused = _award(client, headers, kid.id, points=6)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "rule_limit"
    assert "25" in error["message"]
    assert s.balance(kid.id) == 20


def test_a_student_who_left_is_a_409(client, api_token, world, kid):
    from app.registry.operations import leave_school

    leave_school(kid, status="graduated")
    db.session.commit()
    response = _award(client, api_token(world.user("admin")), kid.id)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "student_left"


# ---------------------------------------------------------------- a student's points


def _history(kid, world):
    ops.credit(kid, 30, kind="volunteer", reason="校园清洁 · 3 h")
    ops.post_allowance(kid, "2026-11", 40)
    ops.spend(kid, 12, reason="铅笔")
    db.session.commit()


def test_the_balance_and_entries_newest_first(client, api_token, world, kid):
    _history(kid, world)
    response = client.get(
        f"/api/v1/students/{kid.id}/points", headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["balance"] == 58
    assert [e["kind"] for e in body["entries"]] == ["redemption", "allowance", "volunteer"]
    assert [e["points"] for e in body["entries"]] == [-12, 40, 30]
    first = body["entries"][0]
    assert set(first) >= {"id", "kind", "points", "reason", "created_at"}
    assert first["created_at"].endswith("+08:00")
    assert body["entries"][1]["reason"] == "每月积分"


@pytest.mark.parametrize("role", ["teacher_a1", "clerk_a1"])
def test_outside_the_aid_office_the_allowance_is_an_award_reading_monthly_points(
    client, api_token, world, kid, role
):
    _history(kid, world)
    award = ops.credit(kid, 5, kind="award", reason="每月积分")  # a teacher may write that too
    db.session.commit()
    response = client.get(f"/api/v1/students/{kid.id}/points", headers=api_token(world.user(role)))
    assert response.status_code == 200
    body = response.get_json()
    text = response.get_data(as_text=True)
    assert "allowance" not in text
    kinds = {e["id"]: (e["kind"], e["reason"]) for e in body["entries"]}
    allowance_entry = s.entries(kid.id, "allowance")[0]
    assert kinds[allowance_entry.id] == kinds[award.id] == ("award", "每月积分")
    for word in s.AID_WORDS_ZH:
        assert word not in text


def test_reading_points_is_scoped_and_role_limited(client, api_token, world, kid):
    url = f"/api/v1/students/{kid.id}/points"
    assert client.get(url, headers=api_token(world.user("teacher_a2"))).status_code == 404
    assert client.get(url, headers=api_token(world.user("admin_other"))).status_code == 404
    assert client.get(url, headers=api_token(world.user("lead_a"))).status_code == 403
    assert client.get(url, headers=api_token(world.user("admin"))).status_code == 200
    assert (
        client.get("/api/v1/students/0/points", headers=api_token(world.user("admin"))).status_code
        == 404
    )
    assert client.get(url).status_code == 401
    limited = client.get(url + "?limit=abc", headers=api_token(world.user("admin")))
    assert limited.status_code == 422


def test_the_openapi_document_explains_the_allowance(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/points/awards" in spec["paths"]
    assert "/api/v1/students/{student_id}/points" in spec["paths"]
    entry = spec["components"]["schemas"]["Entry"]
    assert "每月积分" in entry["properties"]["kind"]["description"]
