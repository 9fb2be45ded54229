"""/me for every role, and schools scoped per role (DOMAIN.md §2: out of scope is 404)."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of


def _get(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_me_for_a_district_admin_has_no_alliance_or_school(client, world, api_token):
    body = _get(client, "/api/v1/me", api_token(world.user("admin")))
    assert body == {
        "username": "admin1",
        "role": "district_admin",
        "district_id": world.district.id,
        "alliance_id": None,
        "school_id": None,
    }


def test_me_for_an_alliance_lead(client, world, api_token):
    body = _get(client, "/api/v1/me", api_token(world.user("lead_b")))
    assert body == {
        "username": "lead_b",
        "role": "alliance_lead",
        "district_id": world.district.id,
        "alliance_id": world.alliance_b.id,
        "school_id": None,
    }


@pytest.mark.parametrize(
    ("key", "role"),
    [("officer_a2", "school_officer"), ("teacher_a2", "teacher"), ("clerk_a2", "clerk")],
)
def test_me_for_school_users_names_their_schools_alliance(client, world, api_token, key, role):
    body = _get(client, "/api/v1/me", api_token(world.user(key)))
    assert body == {
        "username": key,
        "role": role,
        "district_id": world.district.id,
        "alliance_id": world.alliance_a.id,
        "school_id": world.school_a2.id,
    }


def test_me_for_a_school_outside_any_alliance(client, world, api_token):
    body = _get(client, "/api/v1/me", api_token(world.user("officer_x")))
    assert body["district_id"] == world.other_district.id
    assert body["alliance_id"] is None and body["school_id"] == world.school_x.id


def _names(body):
    return sorted(item["name"] for item in body["items"])


def test_a_district_admin_sees_every_school_of_the_district(client, world, api_token):
    body = _get(client, "/api/v1/schools", api_token(world.user("admin")))
    assert _names(body) == sorted(["甲一小学", "甲二小学", "乙一小学"])
    assert body["total"] == 3


def test_school_items_carry_id_name_alliance_and_lead(client, world, api_token):
    body = _get(client, "/api/v1/schools", api_token(world.user("lead_a")))
    assert body == {
        "items": [
            {
                "id": world.school_a1.id,
                "name": "甲一小学",
                "alliance_id": world.alliance_a.id,
                "is_lead": True,
            },
            {
                "id": world.school_a2.id,
                "name": "甲二小学",
                "alliance_id": world.alliance_a.id,
                "is_lead": False,
            },
        ],
        "total": 2,
    }


@pytest.mark.parametrize("key", ["officer_b1", "teacher_b1", "clerk_b1"])
def test_school_users_see_only_their_school(client, world, api_token, key):
    body = _get(client, "/api/v1/schools", api_token(world.user(key)))
    assert [item["id"] for item in body["items"]] == [world.school_b1.id]
    assert body["total"] == 1


def test_the_other_district_sees_nothing_of_ours(client, world, api_token):
    for key in ("admin_other", "officer_x"):
        body = _get(client, "/api/v1/schools", api_token(world.user(key)))
        assert [item["id"] for item in body["items"]] == [world.school_x.id]


def test_a_school_in_scope_can_be_fetched(client, world, api_token):
    body = _get(client, f"/api/v1/schools/{world.school_a2.id}", api_token(world.user("lead_a")))
    assert body == {
        "id": world.school_a2.id,
        "name": "甲二小学",
        "alliance_id": world.alliance_a.id,
        "is_lead": False,
    }


@pytest.mark.parametrize(
    ("key", "school"),
    [
        ("lead_a", "school_b1"),
        ("officer_a1", "school_a2"),
        ("teacher_a1", "school_b1"),
        ("admin", "school_x"),
        ("admin_other", "school_a1"),
    ],
)
def test_a_school_outside_scope_is_404(client, world, api_token, key, school):
    response = client.get(
        f"/api/v1/schools/{getattr(world, school).id}", headers=api_token(world.user(key))
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("sid", ["999999", "0", "2147483648", "99999999999999999999", "9" * 5000])
def test_unknown_or_impossible_school_ids_are_404(client, world, api_token, sid):
    response = client.get(f"/api/v1/schools/{sid}", headers=api_token(world.user("admin")))
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_schools_paginate(client, world, api_token, make_school):
    for n in range(5):
        make_school(world.district, world.alliance_b, name=f"乙联盟学校{n}")
    headers = api_token(world.user("admin"))
    seen = []
    for page in (1, 2, 3, 4):
        body = _get(client, f"/api/v1/schools?page={page}&per_page=3", headers)
        assert body["total"] == 8
        seen += [item["id"] for item in body["items"]]
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen)
    assert _get(client, "/api/v1/schools?page=4&per_page=3", headers)["items"] == []


def test_per_page_defaults_to_50(client, world, api_token, db):
    from app.org.models import School

    for n in range(48):  # 3 + 48 = 51 schools in the district
        db.session.add(School(district_id=world.district.id, name=f"批量学校{n:02d}"))
    db.session.commit()
    body = _get(client, "/api/v1/schools", api_token(world.user("admin")))
    assert len(body["items"]) == 50 and body["total"] == 51
    body = _get(client, "/api/v1/schools?per_page=500", api_token(world.user("admin")))
    assert len(body["items"]) == 51


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("page=" + "9" * 5000, "page"),
        ("per_page=0", "per_page"),
        ("per_page=-1", "per_page"),
        ("per_page=501", "per_page"),
        ("per_page=abc", "per_page"),
    ],
)
def test_bad_paging_is_422_naming_the_field(client, world, api_token, query, field):
    response = client.get(f"/api/v1/schools?{query}", headers=api_token(world.user("admin")))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert list(error["fields"]) == [field]


def test_unknown_query_parameters_are_ignored(client, world, api_token):
    body = _get(client, "/api/v1/schools?_=12345&page=1", api_token(world.user("admin")))
    assert body["total"] == 3
