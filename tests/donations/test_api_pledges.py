"""POST /api/v1/pledges (API-v1.md): public, strict, 422 naming the field, rate limited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.common import local_today
from app.donations.models import Donor, Pledge
from app.inventory import operations as inventory
from tests.api.conftest import error_of
from tests.conftest import csrf_token

URL = "/api/v1/pledges"


@pytest.fixture
def items(world, db):
    def make(district, name):
        return inventory.create_item(
            district_id=district.id, name=name, category="stationery", unit="本", points=3
        )

    notebook = make(world.district, "练习本")
    retired = make(world.district, "旧练习本")
    foreign = make(world.other_district, "外区练习本")
    inventory.update_item(retired, active=False)
    db.session.commit()
    return {"notebook": notebook, "retired": retired, "foreign": foreign}


def body(world, **overrides) -> dict:
    data = {
        "donor": {
            "name": "张伟",
            "phone": "13800000001",
            "anonymous": False,
            "public_consent": True,
        },
        "school_id": world.school_a1.id,
        "lines": [{"description": "儿童绘本", "quantity": 10}],
    }
    for key, value in overrides.items():
        if key.startswith("donor."):
            data["donor"][key[6:]] = value
        else:
            data[key] = value
    if isinstance(data.get("donor"), dict):  # ``...`` leaves a field out
        data["donor"] = {k: v for k, v in data["donor"].items() if v is not ...}
    return {k: v for k, v in data.items() if v is not ...}


def count(db, model) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_pledge_answers_201_with_id_and_reference(client, world, items, db):
    payload = body(
        world,
        lines=[
            {"item_id": items["notebook"].id, "quantity": 30},
            {"description": "冬季手套", "quantity": 1_000_000},
        ],
        message="  一点心意  ",
        planned_date=(local_today() + timedelta(days=5)).isoformat(),
        **{"donor.organization": "新航科技", "donor.kind": "enterprise"},
    )
    response = client.post(URL, json=payload)
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"id", "reference"}
    assert response.headers["Cache-Control"] == "no-store"
    pledge = db.session.get(Pledge, answer["id"])
    assert pledge.reference == answer["reference"]
    assert pledge.school_id == world.school_a1.id and pledge.status == "pledged"
    assert pledge.message == "一点心意" and pledge.public_consent and not pledge.anonymous
    assert pledge.planned_date == local_today() + timedelta(days=5)
    assert pledge.donor.kind == "enterprise" and pledge.donor.organization == "新航科技"
    assert [(line.item_id, line.description, line.quantity) for line in pledge.lines] == [
        (items["notebook"].id, None, 30),
        (None, "冬季手套", 1_000_000),
    ]


def test_the_api_reference_opens_the_web_status_page(client, world, items, db):
    reference = client.post(URL, json=body(world)).get_json()["reference"]
    token = csrf_token(client, "/donate/status")
    response = client.post(
        "/donate/status",
        data={"reference": reference, "phone": "13800000001", "csrf_token": token},
    )
    assert response.status_code == 302
    assert "儿童绘本" in client.get("/donate/status").get_data(as_text=True)


def test_an_alliance_pledge_wherever_most_needed(client, world, items, db):
    response = client.post(URL, json=body(world, school_id=..., alliance_id=world.alliance_a.id))
    assert response.status_code == 201
    pledge = db.session.get(Pledge, response.get_json()["id"])
    assert pledge.alliance_id == world.alliance_a.id and pledge.school_id is None


def test_no_token_is_needed_and_a_bad_one_is_ignored(client, world, items, db):
    response = client.post(URL, json=body(world), headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"donor": ...}, "donor"),
        ({"donor.name": ...}, "donor.name"),
        ({"donor.name": "   "}, "donor.name"),
        ({"donor.name": "名" * 101}, "donor.name"),
        ({"donor.name": "张\x00伟"}, "donor.name"),
        ({"donor.phone": ...}, "donor.phone"),
        ({"donor.phone": "12345"}, "donor.phone"),
        ({"donor.phone": 13800000001}, "donor.phone"),
        ({"donor.anonymous": ...}, "donor.anonymous"),
        ({"donor.anonymous": "yes"}, "donor.anonymous"),
        ({"donor.public_consent": 1}, "donor.public_consent"),
        ({"donor.kind": "robot"}, "donor.kind"),
        ({"donor.organization": ""}, "donor.organization"),
        ({"donor.email": "a@b.c"}, "donor.email"),
        ({"school_id": ...}, "school_id"),
        ({"school_id": 987654}, "school_id"),
        ({"school_id": "1"}, "school_id"),
        ({"school_id": 0}, "school_id"),
        ({"alliance_id": 1}, "school_id"),  # both a school and an alliance
        ({"school_id": ..., "alliance_id": 987654}, "alliance_id"),
        ({"lines": ...}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": [{"description": "书", "quantity": 1}] * 201}, "lines"),
        ({"lines": [{"description": "书", "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书", "quantity": -1}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书", "quantity": 1_000_001}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书", "quantity": 1.5}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书", "quantity": "5"}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书", "quantity": True}]}, "lines.0.quantity"),
        ({"lines": [{"description": "书"}]}, "lines.0.quantity"),
        ({"lines": [{"quantity": 1}]}, "lines.0.item_id"),
        ({"lines": [{"item_id": 1, "description": "书", "quantity": 1}]}, "lines.0.item_id"),
        (
            {"lines": [{"description": "书", "quantity": 1}, {"item_id": 987654, "quantity": 1}]},
            "lines.1.item_id",
        ),
        ({"lines": [{"description": "长" * 201, "quantity": 1}]}, "lines.0.description"),
        ({"message": "字" * 2001}, "message"),
        ({"message": 42}, "message"),
        ({"planned_date": "2026-13-01"}, "planned_date"),
        ({"planned_date": "2001-01-01"}, "planned_date"),
        ({"reference": "AX22222222"}, "reference"),
    ],
)
def test_invalid_pledges_are_422_naming_the_field(client, world, items, db, overrides, field):
    response = client.post(URL, json=body(world, **overrides))
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert field in error["fields"], error
    assert count(db, Pledge) == 0 and count(db, Donor) == 0


@pytest.mark.parametrize("which", ["retired", "foreign"])
def test_items_outside_the_active_district_catalogue_are_refused(client, world, items, db, which):
    response = client.post(
        URL, json=body(world, lines=[{"item_id": items[which].id, "quantity": 1}])
    )
    assert response.status_code == 422
    assert "lines.0.item_id" in error_of(response)["fields"]
    assert count(db, Pledge) == 0


def test_a_deactivated_school_is_refused(client, world, items, db):
    world.school_a2.active = False
    db.session.commit()
    response = client.post(URL, json=body(world, school_id=world.school_a2.id))
    assert response.status_code == 422 and "school_id" in error_of(response)["fields"]


def test_a_100_kb_message_is_refused(client, world, items, db):
    response = client.post(URL, json=body(world, message="爱" * 100_000))
    assert response.status_code in (413, 422)
    assert count(db, Pledge) == 0


def test_malformed_bodies_are_400(client, world, items, db):
    assert client.post(URL, data="{", content_type="application/json").status_code == 400
    assert client.post(URL, data="name=x").status_code == 400
    assert count(db, Pledge) == 0


def test_messages_are_chinese_by_default(client, world, items):
    response = client.post(URL, json=body(world, **{"donor.phone": "12345"}))
    assert "请填写11位手机号码" in error_of(response)["fields"]["donor.phone"][0]


def test_the_api_is_rate_limited_per_ip(client, world, items, db, monkeypatch, app):
    monkeypatch.setitem(app.config, "PLEDGE_RATE_LIMIT", "2 per hour")
    assert [client.post(URL, json=body(world)).status_code for _ in range(2)] == [201, 201]
    response = client.post(URL, json=body(world))
    assert response.status_code == 429
    assert error_of(response)["code"] == "rate_limited"
    assert count(db, Pledge) == 2
    # Invalid requests count too: a robot cannot probe without spending its budget.
    other = client.post(URL, json={})
    assert other.status_code == 429


def test_the_openapi_document_describes_the_endpoint(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/pledges"]["post"]
    assert operation["security"] == []
    assert "201" in operation["responses"] and "429" in operation["responses"]
    schemas = spec["components"]["schemas"]
    pledge = schemas["Pledge"]
    assert {"donor", "school_id", "alliance_id", "lines", "message", "planned_date"} <= set(
        pledge["properties"]
    )
    assert {"kind", "anonymous", "public_consent", "phone"} <= set(
        schemas["PledgeDonor"]["properties"]
    )
    assert schemas["PledgeLine"]["properties"]["quantity"]["maximum"] == 1_000_000
