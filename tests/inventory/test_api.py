"""GET/POST /api/v1/items and GET /api/v1/schools/{sid}/stock (API-v1.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.inventory.models import Item
from tests.api.conftest import error_of


@pytest.fixture
def catalogue(db, world):
    from app.inventory import operations as ops

    pencil = ops.create_item(
        district_id=world.district.id, name="铅笔", category="stationery", unit="支", points=2
    )
    milk = ops.create_item(
        district_id=world.district.id, name="纯牛奶", category="food", unit="箱", points=30
    )
    old = ops.create_item(
        district_id=world.district.id, name="旧书包", category="stationery", unit="个", points=40
    )
    ops.update_item(old, active=False)
    foreign = ops.create_item(
        district_id=world.other_district.id,
        name="外区铅笔",
        category="stationery",
        unit="支",
        points=1,
    )
    ops.receive_stock(world.school_a1.id, pencil.id, 12)
    ops.receive_stock(world.school_a1.id, milk.id, 3)
    ops.take_stock(world.school_a1.id, milk.id, 3)  # at zero, still listed
    ops.receive_stock(world.school_a2.id, pencil.id, 4)
    ops.receive_stock(world.school_x.id, foreign.id, 9)
    db.session.commit()
    return {"pencil": pencil.id, "milk": milk.id, "old": old.id, "foreign": foreign.id}


def items_count(db) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(Item))


# ---------------------------------------------------------------- GET /items


@pytest.mark.parametrize("key", ["admin", "lead_a", "officer_b1", "teacher_a2", "clerk_a1"])
def test_any_token_lists_its_districts_catalogue(client, world, api_token, catalogue, key):
    response = client.get("/api/v1/items", headers=api_token(world.user(key)))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "items": [
            {
                "id": catalogue["pencil"],
                "name": "铅笔",
                "unit": "支",
                "points": 2,
                "category": "stationery",
                "active": True,
            },
            {
                "id": catalogue["milk"],
                "name": "纯牛奶",
                "unit": "箱",
                "points": 30,
                "category": "food",
                "active": True,
            },
            {
                "id": catalogue["old"],
                "name": "旧书包",
                "unit": "个",
                "points": 40,
                "category": "stationery",
                "active": False,
            },
        ],
        "total": 3,
    }


def test_the_other_district_sees_only_its_items(client, world, api_token, catalogue):
    body = client.get("/api/v1/items", headers=api_token(world.user("officer_x"))).get_json()
    assert [i["name"] for i in body["items"]] == ["外区铅笔"] and body["total"] == 1


def test_items_are_paginated(client, world, api_token, catalogue):
    headers = api_token(world.user("teacher_a1"))
    body = client.get("/api/v1/items?per_page=2&page=2", headers=headers).get_json()
    assert [i["name"] for i in body["items"]] == ["旧书包"] and body["total"] == 3
    for bad in ("per_page=0", "per_page=501", "page=0", "page=abc"):
        response = client.get(f"/api/v1/items?{bad}", headers=headers)
        assert response.status_code == 422, bad


def test_the_catalogue_needs_a_token(client, catalogue):
    assert client.get("/api/v1/items").status_code == 401
    response = client.get("/api/v1/items", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"


# ---------------------------------------------------------------- POST /items


def test_a_district_admin_adds_an_item(client, db, world, api_token):
    response = client.post(
        "/api/v1/items",
        json={"name": " 跳绳 ", "unit": "根", "points": 6, "category": "sports"},
        headers=api_token(world.user("admin")),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    item = db.session.get(Item, body["id"])
    assert body == {
        "id": item.id,
        "name": "跳绳",
        "unit": "根",
        "points": 6,
        "category": "sports",
        "active": True,
    }
    assert item.district_id == world.district.id


def test_the_category_defaults_to_other(client, world, api_token):
    response = client.post(
        "/api/v1/items",
        json={"name": "雨伞", "unit": "把", "points": 25},
        headers=api_token(world.user("admin")),
    )
    assert response.status_code == 201 and response.get_json()["category"] == "other"


@pytest.mark.parametrize("key", ["lead_a", "officer_a1", "teacher_a1", "clerk_a1"])
def test_only_district_admins_add_items(client, db, world, api_token, key):
    response = client.post(
        "/api/v1/items",
        json={"name": "雨伞", "unit": "把", "points": 25},
        headers=api_token(world.user(key)),
    )
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert items_count(db) == 0


GOOD = {"name": "雨伞", "unit": "把", "points": 25}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit": "把", "points": 25}, "name"),
        ({**GOOD, "name": ""}, "name"),
        ({**GOOD, "name": "   "}, "name"),
        ({**GOOD, "name": "x" * 101}, "name"),
        ({**GOOD, "name": "雨\u0007伞"}, "name"),
        ({**GOOD, "name": 5}, "name"),
        ({**GOOD, "unit": ""}, "unit"),
        ({**GOOD, "unit": "x" * 21}, "unit"),
        ({"name": "雨伞", "points": 25}, "unit"),
        ({"name": "雨伞", "unit": "把"}, "points"),
        ({**GOOD, "points": "25"}, "points"),
        ({**GOOD, "points": 25.0}, "points"),
        ({**GOOD, "points": 2.5}, "points"),
        ({**GOOD, "points": True}, "points"),
        ({**GOOD, "points": 0}, "points"),
        ({**GOOD, "points": -1}, "points"),
        ({**GOOD, "points": 1_000_001}, "points"),
        ({**GOOD, "points": 10**30}, "points"),
        ({**GOOD, "points": None}, "points"),
        ({**GOOD, "category": "weapons"}, "category"),
        ({**GOOD, "category": 3}, "category"),
        ({**GOOD, "category": None}, "category"),
        ({**GOOD, "colour": "red"}, "colour"),
    ],
)
def test_invalid_items_are_422_naming_the_field(client, db, world, api_token, body, field):
    response = client.post("/api/v1/items", json=body, headers=api_token(world.user("admin")))
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["code"] == "validation_failed" and field in error["fields"], error
    assert items_count(db) == 0


def test_a_taken_name_is_422_naming_the_name(client, db, world, api_token, catalogue):
    response = client.post(
        "/api/v1/items", json={**GOOD, "name": "铅笔"}, headers=api_token(world.user("admin"))
    )
    assert response.status_code == 422 and "name" in error_of(response)["fields"]
    # The same name in another district is another item.
    response = client.post(
        "/api/v1/items", json={**GOOD, "name": "铅笔"}, headers=api_token(world.user("admin_other"))
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"name": "雨伞"}', "text/plain"),
        ("[]", "application/json"),
    ],
)
def test_malformed_bodies_are_refused_never_500(client, db, world, api_token, data, content_type):
    response = client.post(
        "/api/v1/items",
        data=data,
        content_type=content_type,
        headers=api_token(world.user("admin")),
    )
    assert response.status_code in (400, 422)
    assert items_count(db) == 0


def test_a_browser_session_needs_the_csrf_header(client, db, world):
    from tests.conftest import csrf_token, login

    login(client, world.user("admin"))
    response = client.post("/api/v1/items", json=GOOD)
    assert response.status_code == 400 and error_of(response)["code"] == "csrf_failed"
    token = csrf_token(client, "/dashboard")
    response = client.post("/api/v1/items", json=GOOD, headers={"X-CSRFToken": token})
    assert response.status_code == 201


# ---------------------------------------------------------------- GET /schools/{sid}/stock


@pytest.mark.parametrize("key", ["admin", "lead_a", "officer_a1", "teacher_a1", "clerk_a1"])
def test_stock_of_a_school_in_scope(client, world, api_token, catalogue, key):
    response = client.get(
        f"/api/v1/schools/{world.school_a1.id}/stock", headers=api_token(world.user(key))
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "items": [
            {"item_id": catalogue["pencil"], "name": "铅笔", "on_hand": 12, "points": 2},
            {"item_id": catalogue["milk"], "name": "纯牛奶", "on_hand": 0, "points": 30},
        ],
        "total": 2,
    }


@pytest.mark.parametrize(
    "key", ["officer_a2", "teacher_a2", "clerk_b1", "lead_b", "admin_other", "officer_x"]
)
def test_stock_outside_the_scope_is_404(client, world, api_token, catalogue, key):
    response = client.get(
        f"/api/v1/schools/{world.school_a1.id}/stock", headers=api_token(world.user(key))
    )
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_stock_of_unknown_schools_and_pages(client, world, api_token, catalogue):
    headers = api_token(world.user("admin"))
    for sid in ("987654", "0", "99999999999999999999", "abc"):
        assert client.get(f"/api/v1/schools/{sid}/stock", headers=headers).status_code == 404
    body = client.get(
        f"/api/v1/schools/{world.school_a1.id}/stock?per_page=1&page=2", headers=headers
    ).get_json()
    assert body == {
        "items": [{"item_id": catalogue["milk"], "name": "纯牛奶", "on_hand": 0, "points": 30}],
        "total": 2,
    }
    assert client.get(f"/api/v1/schools/{world.school_a1.id}/stock").status_code == 401


def test_the_openapi_document_lists_the_inventory_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/items"])
    assert "get" in paths["/api/v1/schools/{sid}/stock"]
