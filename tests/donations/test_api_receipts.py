"""``POST /api/v1/schools/{sid}/receipts`` (API-v1.md): roles, scope, strict fields, all or
nothing, and how donor_name / pledge_id / purchase decide what the receipt is."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.donations import operations as ops
from app.donations.models import Donor, Pledge, Receipt
from app.inventory.models import StockLevel, StockMove


@pytest.fixture
def items(db, world):
    from app.inventory import operations as inventory

    rows = {
        name: inventory.create_item(
            district_id=district.id, name=name, category="stationery", unit="个", points=3
        )
        for name, district in (
            ("book", world.district),
            ("pencil", world.district),
            ("elsewhere", world.other_district),
        )
    }
    db.session.commit()
    return rows


ONE = {"item_id": 1, "quantity": 1}


def url(school) -> str:
    return f"/api/v1/schools/{school.id}/receipts"


def on_hand(db, school, item) -> int:
    return (
        db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.school_id == school.id, StockLevel.item_id == item.id
            )
        )
        or 0
    )


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_officer_receives_an_anonymous_walk_in(client, db, world, items, api_token):
    body = {"lines": [{"item_id": items["book"].id, "quantity": 30}]}
    response = client.post(
        url(world.school_a1), json=body, headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    receipt = db.session.get(Receipt, answer["id"])
    assert answer["lines"] == [
        {"id": receipt.lines[0].id, "item_id": items["book"].id, "quantity": 30}
    ]
    assert answer["source"] == "walk_in" and answer["certificate_no"] == receipt.certificate_no
    assert receipt.donor_id is None and receipt.anonymous
    assert on_hand(db, world.school_a1, items["book"]) == 30


def test_donor_name_makes_a_walk_in_by_that_donor_without_a_phone(
    client, db, world, items, api_token
):
    body = {"lines": [{"item_id": items["book"].id, "quantity": 2}], "donor_name": " 陈女士 "}
    response = client.post(url(world.school_a1), json=body, headers=api_token(world.user("admin")))
    assert response.status_code == 201
    receipt = db.session.get(Receipt, response.get_json()["id"])
    assert (receipt.donor.name, receipt.donor.phone, receipt.anonymous) == ("陈女士", None, False)
    assert not receipt.public_consent


def test_purchase_true_is_the_schools_own_purchase(client, db, world, items, api_token):
    body = {"lines": [{"item_id": items["pencil"].id, "quantity": 5}], "purchase": True}
    response = client.post(url(world.school_a2), json=body, headers=api_token(world.user("lead_a")))
    assert response.status_code == 201
    answer = response.get_json()
    assert (answer["source"], answer["certificate_no"]) == ("purchase", None)
    assert on_hand(db, world.school_a2, items["pencil"]) == 5


def test_a_pledge_is_received_by_item_and_assigned_when_it_was_the_alliances(
    client, db, world, items, api_token
):
    pledge = ops.create_pledge(
        donor=ops.DonorInput("张伟", "13800000001"),
        lines=[
            ops.PledgeLineInput(10, item_id=items["book"].id),
            ops.PledgeLineInput(4, description="旧书包"),
        ],
        alliance_id=world.alliance_a.id,
        public_consent=True,
    )
    db.session.commit()
    headers = api_token(world.user("officer_a2"))
    body = {
        "pledge_id": pledge.id,
        "lines": [
            {"item_id": items["book"].id, "quantity": 6},
            {"item_id": items["pencil"].id, "quantity": 4},  # names the "other goods" line
        ],
    }
    response = client.post(url(world.school_a2), json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    pledge = db.session.get(Pledge, pledge.id)
    assert (pledge.school_id, pledge.status) == (world.school_a2.id, "partly_received")
    receipt = db.session.get(Receipt, response.get_json()["id"])
    assert receipt.donor_id == pledge.donor_id and receipt.public_consent
    # More than is still to come: 422 on the line, and nothing changes.
    body = {"pledge_id": pledge.id, "lines": [{"item_id": items["book"].id, "quantity": 5}]}
    response = client.post(url(world.school_a2), json=body, headers=headers)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"lines.0.quantity"}
    assert on_hand(db, world.school_a2, items["book"]) == 6


def test_a_cancelled_pledge_is_409(client, db, world, items, api_token):
    pledge = ops.create_pledge(
        donor=ops.DonorInput("张伟", "13800000001"),
        lines=[ops.PledgeLineInput(10, item_id=items["book"].id)],
        school_id=world.school_a1.id,
    )
    ops.cancel_pledge(pledge, None)
    db.session.commit()
    body = {"pledge_id": pledge.id, "lines": [{"item_id": items["book"].id, "quantity": 1}]}
    response = client.post(
        url(world.school_a1), json=body, headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "pledge_cancelled"


def test_a_school_outside_the_scope_is_404_whatever_the_body(client, db, world, items, api_token):
    headers = api_token(world.user("officer_a1"))
    good = {"lines": [{"item_id": items["book"].id, "quantity": 1}]}
    for school in (world.school_a2, world.school_b1, world.school_x):
        for body in (good, {"lines": "nonsense"}):
            response = client.post(url(school), json=body, headers=headers)
            assert response.status_code == 404, (school.name, body)
    lead = api_token(world.user("lead_b"))
    assert client.post(url(world.school_a1), json=good, headers=lead).status_code == 404
    assert (
        client.post("/api/v1/schools/99999/receipts", json=good, headers=headers).status_code == 404
    )
    assert count(db, Receipt) == 0


def test_roles_below_officer_are_403_and_anonymous_401(client, world, items, api_token):
    body = {"lines": [{"item_id": items["book"].id, "quantity": 1}]}
    for key in ("teacher_a1", "clerk_a1"):
        response = client.post(url(world.school_a1), json=body, headers=api_token(world.user(key)))
        assert response.status_code == 403
    assert client.post(url(world.school_a1), json=body).status_code == 401


def test_a_pledge_of_another_school_or_out_of_scope_is_422(client, db, world, items, api_token):
    theirs = ops.create_pledge(
        donor=ops.DonorInput("张伟", "13800000001"),
        lines=[ops.PledgeLineInput(10, item_id=items["book"].id)],
        school_id=world.school_b1.id,
    )
    db.session.commit()
    body = {"pledge_id": theirs.id, "lines": [{"item_id": items["book"].id, "quantity": 1}]}
    officer = api_token(world.user("officer_a1"))
    response = client.post(url(world.school_a1), json=body, headers=officer)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"pledge_id"}
    # The district admin sees it, but it is B1's pledge, not A1's.
    admin = api_token(world.user("admin"))
    response = client.post(url(world.school_a1), json=body, headers=admin)
    assert response.status_code == 422 and "pledge_id" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": [{"item_id": "1", "quantity": 1}]}, "lines.0.item_id"),
        ({"lines": [{"item_id": 1, "quantity": "5"}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1, "quantity": 1.0}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1, "quantity": True}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1, "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1, "quantity": 1_000_001}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1}]}, "lines.0.quantity"),
        ({"lines": [{"item_id": 1, "quantity": 1, "extra": 1}]}, "lines.0.extra"),
        ({"lines": [{"item_id": 1, "quantity": 1}] * 201}, "lines"),
        ({"lines": "OK", "donor_name": ""}, "lines"),
        ({"lines": [{"item_id": 1, "quantity": 1}], "donor_name": ""}, "donor_name"),
        ({"lines": [{"item_id": 1, "quantity": 1}], "donor_name": "x" * 101}, "donor_name"),
        ({"lines": [{"item_id": 1, "quantity": 1}], "donor_name": None}, "donor_name"),
        ({"lines": [{"item_id": 1, "quantity": 1}], "pledge_id": "7"}, "pledge_id"),
        (
            {"lines": [{"item_id": 1, "quantity": 1}], "pledge_id": 1, "donor_name": "陈"},
            "donor_name",
        ),
        ({"lines": [{"item_id": 1, "quantity": 1}], "purchase": "yes"}, "purchase"),
        (
            {"lines": [{"item_id": 1, "quantity": 1}], "purchase": True, "donor_name": "陈"},
            "purchase",
        ),
        ({"lines": [{"item_id": 1, "quantity": 1}], "school_id": 3}, "school_id"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, db, world, items, api_token, body, field):
    response = client.post(
        url(world.school_a1), json=body, headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["error"]["fields"]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields
    assert count(db, Receipt) == 0 and count(db, StockMove) == 0


def test_one_bad_line_writes_nothing_at_all(client, db, world, items, api_token):
    body = {
        "donor_name": "陈女士",
        "lines": [
            {"item_id": items["book"].id, "quantity": 5},
            {"item_id": items["elsewhere"].id, "quantity": 5},  # another district's item
        ],
    }
    response = client.post(
        url(world.school_a1), json=body, headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"lines.1.item_id"}
    assert count(db, Receipt) == 0 and count(db, StockMove) == 0 and count(db, Donor) == 0
    assert on_hand(db, world.school_a1, items["book"]) == 0


def test_the_openapi_document_describes_the_endpoint(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/schools/{sid}/receipts"]["post"]
    assert "201" in operation["responses"] and "anonymous" in operation["description"].lower()
    assert "爱心人士" in operation["description"]
