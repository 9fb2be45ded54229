"""The school side of donations: the pledge inbox, receiving, receipts, thanks — roles, scope
and bad input (422, never 500, nothing half-written)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from app.donations import operations as ops
from app.donations.models import Donor, Pledge, PledgeLine, Receipt, ReceiptLine
from app.inventory.models import StockLevel, StockMove
from tests.conftest import csrf_token, login

R = ops.ReceiptLineInput
L = ops.PledgeLineInput


def text(response) -> str:
    return response.get_data(as_text=True)


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def on_hand(db, school, item) -> int:
    return (
        db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.school_id == school.id, StockLevel.item_id == item.id
            )
        )
        or 0
    )


@pytest.fixture
def as_user(app, world):
    """A logged-in client of its own for each user."""

    def do(key: str):
        client = app.test_client()
        assert login(client, world.user(key)).status_code == 302
        client.set_cookie("aixin_lang", "en")  # assertions read the English messages
        return client

    return do


def post(client, path: str, data: dict | None = None):
    """POST a form with a CSRF token from the dashboard."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/dashboard")})


@pytest.fixture
def items(db, world):
    from app.inventory import operations as inventory

    def item(name, unit="个", shelf=None):
        return inventory.create_item(
            district_id=world.district.id,
            name=name,
            category="stationery",
            unit=unit,
            points=5,
            shelf_life_days=shelf,
        )

    rows = {
        "book": item("练习本", "本"),
        "pencil": item("铅笔", "支"),
        "milk": item("纯牛奶", "箱", shelf=180),
    }
    db.session.commit()
    return rows


@pytest.fixture
def pledges(db, world, items):
    """A pledge to A1 (with other goods), one to A2, one to B1 and one to alliance A."""
    donor = ops.DonorInput("张伟", "13800000001")
    made = {
        "a1": ops.create_pledge(
            donor=donor,
            lines=[L(100, item_id=items["book"].id), L(10, description="儿童绘本")],
            school_id=world.school_a1.id,
            message="愿孩子们快乐成长",
        ),
        "a2": ops.create_pledge(
            donor=ops.DonorInput("王芳", "13700000003"),
            lines=[L(5, item_id=items["pencil"].id)],
            school_id=world.school_a2.id,
        ),
        "b1": ops.create_pledge(
            donor=donor, lines=[L(5, item_id=items["pencil"].id)], school_id=world.school_b1.id
        ),
        "alliance": ops.create_pledge(
            donor=ops.DonorInput("李老师", "13900000002", "staff"),
            lines=[L(30, item_id=items["pencil"].id)],
            alliance_id=world.alliance_a.id,
            anonymous=True,
        ),
    }
    db.session.commit()
    return {key: p.id for key, p in made.items()}


def receipt_of(db, school, items, **kw) -> Receipt:
    receipt = ops.receive_goods(
        school_id=school.id, lines=[R(items["book"].id, kw.pop("quantity", 3))], **kw
    )
    db.session.commit()
    return receipt


# ---------------------------------------------------------------- who sees what


def test_teachers_and_clerks_have_no_donation_pages(as_user, client, world):
    for key in ("teacher_a1", "clerk_a1"):
        c = as_user(key)
        assert c.get("/donations/").status_code == 403
        assert "/donations/" not in text(c.get("/dashboard"))
        post(c, "/logout")
    anonymous = client.get("/donations/receipts")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_officer_inbox_holds_the_schools_and_the_alliances_open_pledges(as_user, db, pledges):
    c = as_user("officer_a1")
    page = text(c.get("/donations/"))
    refs = {key: db.session.get(Pledge, pid).reference for key, pid in pledges.items()}
    assert refs["a1"] in page and refs["alliance"] in page
    assert refs["a2"] not in page and refs["b1"] not in page
    assert 'href="/donations/"' in page  # the navigation entry
    assert c.get("/donations/?status=received").status_code == 200
    assert refs["a1"] not in text(c.get("/donations/?status=received"))
    assert c.get("/donations/?status=<script>&page=abc").status_code == 200


def test_the_pledge_page_shows_the_donor_contact_to_the_officer(as_user, pledges):
    c = as_user("officer_a1")
    page = text(c.get(f"/donations/pledges/{pledges['a1']}"))
    assert "13800000001" in page and "张伟" in page and "愿孩子们快乐成长" in page
    assert "儿童绘本" in page and "Receive goods" in page


@pytest.mark.parametrize(
    ("key", "target"),
    [("officer_a1", "a2"), ("officer_a1", "b1"), ("lead_b", "a1"), ("officer_x", "a1")],
)
def test_another_schools_pledge_is_not_found(as_user, pledges, key, target):
    c = as_user(key)
    pid = pledges[target]
    assert c.get(f"/donations/pledges/{pid}").status_code == 404
    assert c.get(f"/donations/pledges/{pid}/receive").status_code in (403, 404)
    assert post(c, f"/donations/pledges/{pid}/cancel", {"reason": "x"}).status_code == 404


def test_another_schools_receipt_and_certificate_are_not_found(as_user, db, world, items):
    receipt = receipt_of(db, world.school_b1, items, donor=ops.DonorInput("赵六", None))
    c = as_user("officer_a1")
    for path in ("", "/certificate.pdf", "/letter.pdf"):
        assert c.get(f"/donations/receipts/{receipt.id}{path}").status_code == 404
    assert (
        post(c, f"/donations/receipts/{receipt.id}/thanked", {"via": "letter"}).status_code == 404
    )
    assert db.session.get(Receipt, receipt.id).thanked_at is None
    assert as_user("admin").get(f"/donations/receipts/{receipt.id}").status_code == 200


def test_the_alliance_lead_reads_but_only_acts_on_alliance_pledges(as_user, db, world, pledges):
    c = as_user("lead_a")
    page = text(c.get("/donations/"))
    assert db.session.get(Pledge, pledges["a2"]).reference in page
    assert c.get(f"/donations/pledges/{pledges['a1']}/receive").status_code == 403
    assert c.get("/donations/walk-in").status_code == 403
    assert post(c, f"/donations/pledges/{pledges['a1']}/cancel").status_code == 403
    assert db.session.get(Pledge, pledges["a1"]).status == "pledged"
    # Its alliance's own pledge: the lead chooses the school, within the alliance only.
    response = post(
        c, f"/donations/pledges/{pledges['alliance']}/assign", {"school_id": world.school_b1.id}
    )
    assert response.status_code == 422
    assert db.session.get(Pledge, pledges["alliance"]).school_id is None
    response = post(
        c, f"/donations/pledges/{pledges['alliance']}/assign", {"school_id": world.school_a2.id}
    )
    assert response.status_code == 302
    assert db.session.get(Pledge, pledges["alliance"]).school_id == world.school_a2.id


def test_an_officer_takes_an_alliance_pledge_for_their_own_school(as_user, db, world, pledges):
    c = as_user("officer_a2")
    response = post(
        c, f"/donations/pledges/{pledges['alliance']}/assign", {"school_id": world.school_a1.id}
    )
    assert response.status_code == 302
    assert db.session.get(Pledge, pledges["alliance"]).school_id == world.school_a2.id
    # Now it is A2's: A1's officer no longer sees it.
    assert as_user("officer_a1").get(f"/donations/pledges/{pledges['alliance']}").status_code == 404


def test_an_officer_cancels_their_schools_pledge_with_a_reason(as_user, db, pledges):
    c = as_user("officer_a1")
    response = post(c, f"/donations/pledges/{pledges['a1']}/cancel", {"reason": "捐赠人来电取消"})
    assert response.status_code == 302
    pledge = db.session.get(Pledge, pledges["a1"])
    assert (pledge.status, pledge.cancelled_reason) == ("cancelled", "捐赠人来电取消")
    assert "捐赠人来电取消" in text(c.get(f"/donations/pledges/{pledges['a1']}"))
    # Cancelled: nothing more to receive or cancel.
    assert post(c, f"/donations/pledges/{pledges['a1']}/cancel").status_code == 409
    assert post(c, f"/donations/pledges/{pledges['a1']}/receive").status_code == 409
    # Officers do not cancel the alliance's pledges.
    assert post(c, f"/donations/pledges/{pledges['alliance']}/cancel").status_code == 403
    long = post(c, f"/donations/pledges/{pledges['a2']}/cancel", {"reason": "x" * 300})
    assert long.status_code == 404  # A2's pledge: not even found


# ---------------------------------------------------------------- receiving a pledge


def pledge_form(client, pledge_id: int) -> dict[str, str]:
    """The receiving form's prefilled fields, as the browser would send them."""
    page = text(client.get(f"/donations/pledges/{pledge_id}/receive"))
    data = {}
    for name, value in re.findall(r'<input[^>]*name="(lines-[^"]+)"[^>]*value="([^"]*)"', page):
        data[name] = value
    for name in re.findall(r'<select[^>]*name="(lines-\d+-condition)"', page):
        data[name] = "new"
    return data


def test_the_receiving_form_is_prefilled_with_what_is_still_to_come(as_user, pledges, items):
    c = as_user("officer_a1")
    data = pledge_form(c, pledges["a1"])
    assert data["lines-0-quantity"] == "100" and data["lines-1-quantity"] == "10"
    assert data["lines-0-item_id"] == str(items["book"].id)
    assert "lines-1-item_id" not in data  # other goods: the officer chooses the item


def test_receiving_part_of_a_pledge(as_user, db, world, pledges, items):
    c = as_user("officer_a1")
    data = pledge_form(c, pledges["a1"])
    data.update(
        {
            "lines-0-quantity": "６０",  # full-width digits, as a Chinese IME types them
            "lines-0-unit_value": "¥3.50",
            "lines-0-condition": "good",
            "lines-1-quantity": "0",  # not come yet
        }
    )
    response = post(c, f"/donations/pledges/{pledges['a1']}/receive", data)
    assert response.status_code == 302, text(response)[:2000]
    receipt = db.session.scalars(select(Receipt)).one()
    assert response.headers["Location"].endswith(f"/donations/receipts/{receipt.id}")
    line = db.session.scalars(select(ReceiptLine)).one()
    assert (line.quantity, line.unit_value_fen, line.condition) == (60, 350, "good")
    assert db.session.get(Pledge, pledges["a1"]).status == "partly_received"
    assert on_hand(db, world.school_a1, items["book"]) == 60
    page = text(c.get(f"/donations/receipts/{receipt.id}"))
    assert receipt.certificate_no in page and "¥210.00" in page

    # The rest, with the other goods named by a catalogue item.
    data = pledge_form(c, pledges["a1"])
    assert data["lines-0-quantity"] == "40"
    data["lines-1-item_id"] = str(items["pencil"].id)
    response = post(c, f"/donations/pledges/{pledges['a1']}/receive", data)
    assert response.status_code == 302
    pledge = db.session.get(Pledge, pledges["a1"])
    assert pledge.status == "received"
    assert pledge.lines[1].item_id == items["pencil"].id


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"lines-0-quantity": "abc"}, "lines-0-quantity", "Enter a whole number."),
        ({"lines-0-quantity": "101"}, "lines-0-quantity", "Only 100 still to come"),
        ({"lines-0-quantity": "-3"}, "lines-0-quantity", "Enter a whole number."),
        ({"lines-0-quantity": "9" * 40}, "lines-0-quantity", "Enter a whole number."),
        ({"lines-0-expiry_date": "2026-13-45"}, "lines-0-expiry_date", "Enter a date"),
        ({"lines-0-expiry_date": "2001-01-01"}, "lines-0-expiry_date", "This date has passed"),
        ({"lines-0-unit_value": "12.345"}, "lines-0-unit_value", "Enter an amount in yuan"),
        ({"lines-0-condition": "broken"}, "lines-0-condition", "Not a valid choice"),
        ({"lines-0-item_id": "99999"}, "lines-0-item_id", "Unknown item."),
        ({"lines-0-item_id": "abc"}, "lines-0-item_id", ""),
        ({"lines-0-pledge_line_id": "99999"}, "lines-0-quantity", "not part of this pledge"),
        ({"lines-1-quantity": "3"}, "lines-1-item_id", "Choose the item."),
        ({"lines-0-quantity": "0", "lines-1-quantity": "0"}, None, "at least one line"),
        ({"note": "x" * 2001}, "note", ""),
    ],
)
def test_bad_receiving_input_is_a_422_on_its_field_and_writes_nothing(
    as_user, db, pledges, changes, field, message
):
    c = as_user("officer_a1")
    data = pledge_form(c, pledges["a1"])
    data["lines-1-quantity"] = "0"  # the other goods have not come
    data.update(changes)
    response = post(c, f"/donations/pledges/{pledges['a1']}/receive", data)
    page = text(response)
    assert response.status_code == 422, page[:3000]
    assert message in page
    if field:
        assert re.search(rf'name="{field}"[^>]*class="[^"]*is-invalid', page) or re.search(
            rf'class="[^"]*is-invalid[^"]*"[^>]*name="{field}"', page
        ), field
    assert count(db, Receipt) == 0 and count(db, StockMove) == 0
    assert db.session.scalar(select(func.sum(PledgeLine.received_quantity))) == 0


# ---------------------------------------------------------------- walk-ins and purchases


def walk_in_data(items, **extra) -> dict[str, str]:
    return {
        "kind": "individual",
        "name": "陈女士",
        "phone": "",
        "lines-0-item_id": str(items["book"].id),
        "lines-0-quantity": "15",
        "lines-0-condition": "good",
        "lines-1-item_id": str(items["milk"].id),
        "lines-1-quantity": "2",
        "lines-1-condition": "new",
        "lines-2-item_id": "",
        "lines-2-quantity": "",
        "lines-2-condition": "new",
        **extra,
    }


def test_a_walk_in_donation_without_a_phone(as_user, db, world, items):
    c = as_user("officer_a1")
    assert c.get("/donations/walk-in").status_code == 200
    response = post(c, "/donations/walk-in", walk_in_data(items, public_consent="y"))
    assert response.status_code == 302, text(response)[:2000]
    receipt = db.session.scalars(select(Receipt)).one()
    assert (receipt.source, receipt.school_id, receipt.public_consent) == (
        "walk_in",
        world.school_a1.id,
        True,
    )
    assert receipt.donor.name == "陈女士" and receipt.donor.phone is None
    milk = next(line for line in receipt.lines if line.item_id == items["milk"].id)
    assert milk.expiry_date is not None  # from the item's shelf life
    assert on_hand(db, world.school_a1, items["book"]) == 15


def test_a_walk_in_with_no_name_is_an_anonymous_gift(as_user, db, items):
    c = as_user("officer_a1")
    response = post(c, "/donations/walk-in", walk_in_data(items, name=""))
    assert response.status_code == 302
    receipt = db.session.scalars(select(Receipt)).one()
    assert receipt.donor_id is None and receipt.anonymous and receipt.certificate_no


def test_a_failing_line_leaves_nothing_half_written(as_user, db, items):
    c = as_user("officer_a1")
    data = walk_in_data(items, phone="13600000004", **{"lines-1-item_id": "424242"})
    response = post(c, "/donations/walk-in", data)
    assert response.status_code == 422
    assert "Unknown item." in text(response)
    assert count(db, Receipt) == 0 and count(db, ReceiptLine) == 0
    assert count(db, StockMove) == 0 and count(db, Donor) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"phone": "12345"}, "Enter a mobile number"),
        ({"name": "", "phone": "13600000004"}, "name with the phone number."),
        ({"kind": "robot"}, "Not a valid choice"),
        ({"name": "x" * 101}, ""),
        ({"lines-2-item_id": "", "lines-2-quantity": "5"}, "Choose the item."),
        ({"lines-2-quantity": "", "lines-2-item_id": "1"}, "Enter the quantity."),
        ({"lines-0-quantity": "0"}, "between 1 and 1,000,000"),
    ],
)
def test_bad_walk_in_input_is_a_422(as_user, db, items, changes, message):
    c = as_user("officer_a1")
    data = walk_in_data(items, **changes)
    if changes.get("lines-2-item_id") == "1":
        data["lines-2-item_id"] = str(items["pencil"].id)
    response = post(c, "/donations/walk-in", data)
    assert response.status_code == 422, text(response)[:2000]
    assert message in text(response)
    assert count(db, Receipt) == 0 and count(db, StockMove) == 0


def test_a_school_purchase_has_no_certificate(as_user, db, world, items):
    c = as_user("officer_a1")
    response = post(
        c,
        "/donations/purchase",
        {
            "lines-0-item_id": str(items["pencil"].id),
            "lines-0-quantity": "200",
            "lines-0-condition": "new",
            "lines-0-unit_value": "1.5",
            "note": "学期初采购",
        },
    )
    assert response.status_code == 302
    receipt = db.session.scalars(select(Receipt)).one()
    assert receipt.source == "purchase" and receipt.certificate_no is None
    assert receipt.lines[0].unit_value_fen == 150
    assert on_hand(db, world.school_a1, items["pencil"]) == 200
    assert c.get(f"/donations/receipts/{receipt.id}/certificate.pdf").status_code == 404
    assert "School self-help" in text(c.get(f"/donations/receipts/{receipt.id}"))


def test_a_district_admin_chooses_the_school(as_user, db, world, items):
    c = as_user("admin")
    data = {
        "lines-0-item_id": str(items["pencil"].id),
        "lines-0-quantity": "5",
        "lines-0-condition": "new",
    }
    assert post(c, "/donations/purchase", data).status_code == 422  # no school chosen
    outside = post(c, "/donations/purchase", {**data, "school_id": world.school_x.id})
    assert outside.status_code == 422
    assert count(db, Receipt) == 0
    response = post(c, "/donations/purchase", {**data, "school_id": world.school_b1.id})
    assert response.status_code == 302
    assert db.session.scalars(select(Receipt)).one().school_id == world.school_b1.id


# ---------------------------------------------------------------- lists, thanks, certificates


def test_receipts_list_in_scope_with_source_filter(as_user, db, world, items):
    mine = receipt_of(db, world.school_a1, items, donor=ops.DonorInput("陈女士", None))
    receipt_of(db, world.school_a1, items, source="purchase")
    theirs = receipt_of(db, world.school_b1, items, donor=ops.DonorInput("外校", None))
    c = as_user("officer_a1")
    page = text(c.get("/donations/receipts"))
    assert mine.certificate_no in page and theirs.certificate_no not in page
    assert "陈女士" in text(c.get("/donations/receipts?source=walk_in"))
    assert "陈女士" not in text(c.get("/donations/receipts?source=purchase"))
    lead = text(as_user("lead_a").get("/donations/receipts"))
    assert mine.certificate_no in lead and theirs.certificate_no not in lead


def test_lists_load_without_a_query_per_row(as_user, app, db, world, items, pledges):
    def statements(path: str) -> int:
        seen = []

        def record(*args):
            seen.append(args)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(seen)

    client = as_user("officer_a1")
    for _ in range(2):
        receipt_of(db, world.school_a1, items, donor=ops.DonorInput("甲", None))
    few = {p: statements(p) for p in ("/donations/receipts", "/donations/", "/donations/thanks")}
    for _ in range(8):
        receipt_of(db, world.school_a1, items, donor=ops.DonorInput("乙", None))
        ops.create_pledge(
            donor=ops.DonorInput("丙", "13800000009"),
            lines=[L(1, item_id=items["book"].id)],
            school_id=world.school_a1.id,
        )
    db.session.commit()
    many = {p: statements(p) for p in few}
    assert many == few


def test_thanks_list_and_marking_a_donor_thanked(as_user, db, world, items):
    from app.common import frozen_time
    from app.common import utcnow as now

    with frozen_time(now().replace(year=now().year - 1)):
        old = receipt_of(db, world.school_a1, items, donor=ops.DonorInput("老朋友", None))
    new = receipt_of(db, world.school_a1, items, donor=ops.DonorInput("新朋友", None))
    receipt_of(db, world.school_a1, items, source="purchase")
    other = receipt_of(db, world.school_a2, items, donor=ops.DonorInput("甲二的", None))
    c = as_user("officer_a1")
    page = text(c.get("/donations/thanks"))
    assert page.index("老朋友") < page.index("新朋友")  # oldest first
    assert "甲二的" not in page and page.count('data-testid="to-thank"') == 2
    response = post(
        c, f"/donations/receipts/{old.id}/thanked", {"via": "letter", "next": "/donations/thanks?"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/donations/thanks")
    assert db.session.get(Receipt, old.id).thanked_via == "letter"
    assert "老朋友" not in text(c.get("/donations/thanks"))
    assert "Thank-you letter" in text(c.get(f"/donations/receipts/{old.id}"))
    again = post(c, f"/donations/receipts/{old.id}/thanked", {"via": "phone"})
    assert again.status_code == 409
    bad = post(c, f"/donations/receipts/{new.id}/thanked", {"via": "pigeon"})
    assert bad.status_code == 422 and db.session.get(Receipt, new.id).thanked_at is None
    outside = post(
        c,
        f"/donations/receipts/{new.id}/thanked",
        {"via": "phone", "next": "https://evil.example/"},
    )
    assert outside.headers["Location"].endswith(f"/donations/receipts/{new.id}")
    # The alliance lead sees the list (both schools) but records nothing.
    lead = as_user("lead_a")
    assert "甲二的" in text(lead.get("/donations/thanks"))
    assert (
        post(lead, f"/donations/receipts/{other.id}/thanked", {"via": "phone"}).status_code == 403
    )


def test_certificate_and_letter_pdfs_for_staff_and_the_public_link(
    as_user, client, db, world, items
):
    receipt = receipt_of(db, world.school_a1, items, donor=ops.DonorInput("陈女士", None))
    c = as_user("officer_a1")
    for path in ("certificate.pdf", "letter.pdf"):
        response = c.get(f"/donations/receipts/{receipt.id}/{path}")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF-")
        assert response.headers["Cache-Control"] == "no-store"
    public = client.get(f"/donations/certificates/{receipt.verify_token}.pdf")
    assert public.status_code == 200 and public.data.startswith(b"%PDF-")
    assert client.get("/donations/certificates/not-a-real-token-at-all.pdf").status_code == 404
    assert client.get("/donations/certificates/%3Cscript%3E.pdf").status_code == 404
    page = text(c.get(f"/donations/receipts/{receipt.id}"))
    assert f"/donations/certificates/{receipt.verify_token}.pdf" in page
    assert f"/verify/{receipt.verify_token}" in page
