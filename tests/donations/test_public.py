"""The public donor pages: pledging (validation, anti-automation), the thanks page, the donor's
status page with its usage report, the certificate check page and the donor wall.

Anonymity and consent (DOMAIN.md §4.4) are checked on every page that shows a donor.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from app.common import local_today
from app.donations import operations as donations
from app.donations.forms_public import form_stamp
from app.donations.models import Donor, Pledge, Receipt
from app.inventory import operations as inventory
from tests.conftest import csrf_token

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass
class Goods:
    pencil: object
    bag: object
    retired: object  # on A1's needs list, but no longer in the catalogue
    foreign: object  # another district's item


@pytest.fixture
def goods(world, db) -> Goods:
    def item(district, name, unit):
        return inventory.create_item(
            district_id=district.id, name=name, category="stationery", unit=unit, points=2
        )

    pencil = item(world.district, "铅笔", "支")
    bag = item(world.district, "书包", "个")
    retired = item(world.district, "旧款文具盒", "个")
    foreign = item(world.other_district, "外区铅笔", "支")
    donations.set_need(school_id=world.school_a1.id, item_id=bag.id, target_quantity=30)
    donations.set_need(
        school_id=world.school_a1.id, item_id=pencil.id, target_quantity=100, note="HB"
    )
    donations.set_need(school_id=world.school_a1.id, item_id=retired.id, target_quantity=5)
    donations.set_need(school_id=world.school_a2.id, item_id=bag.id, target_quantity=20)
    inventory.update_item(retired, active=False)
    school = world.school_a1
    school.address = "郑州市二七区陇海路1号"
    school.phone = "0371-68000001"
    school.supermarket_manager = "孙红霞"
    school.supermarket_manager_phone = "13937100001"
    db.session.commit()
    return Goods(pencil, bag, retired, foreign)


def pledge_url(school) -> str:
    return f"/donate/school/{school.id}"


def form_data(**overrides) -> dict:
    data = {
        "kind": "individual",
        "name": "王小明",
        "phone": "13912345678",
        "organization": "",
        "public_consent": "y",
        "planned_date": "",
        "message": "",
        "website": "",
        "other-0-description": "",
        "other-0-quantity": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_pledge(client, path: str, data: dict, *, age: float = 10.0, stamp: str | None = None):
    """Send the pledge form as a person would: the page first, then the form, ``age`` s later."""
    token = csrf_token(client, path)
    started = stamp if stamp is not None else form_stamp(time.time() - age)
    return client.post(path, data={**data, "csrf_token": token, "started": started})


def count(db, model) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model))


def make_pledge(world, goods, **kw) -> Pledge:
    """A pledge made through the operation (for status, wall and certificate tests)."""
    donor = kw.pop("donor", donations.DonorInput("王小明", "13912345678"))
    lines = kw.pop(
        "lines",
        [
            donations.PledgeLineInput(10, item_id=goods.pencil.id),
            donations.PledgeLineInput(5, item_id=goods.bag.id),
        ],
    )
    pledge = donations.create_pledge(
        donor=donor, lines=lines, school_id=kw.pop("school_id", world.school_a1.id), **kw
    )
    return pledge


def receive(world, pledge, quantities: dict[int, int] | None = None) -> Receipt:
    """Receive a pledge (all of it, or ``{pledge_line_id: quantity}``), as the officer does."""
    lines = []
    for line in pledge.lines:
        quantity = (quantities or {}).get(line.id, line.quantity)
        if quantity:
            lines.append(
                donations.ReceiptLineInput(
                    line.item_id, quantity, pledge_line_id=line.id, unit_value_fen=100
                )
            )
    return donations.receive_goods(
        school_id=pledge.school_id or world.school_a1.id,
        pledge=pledge,
        lines=lines,
        user_id=world.user("officer_a1").id,
    )


def grant(client, pledge_id: int) -> None:
    """Let this browser see a pledge, as a successful lookup does."""
    with client.session_transaction() as session:
        session["donor_pledge"] = {"id": pledge_id, "until": int(time.time()) + 600}


def html(response) -> str:
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- choosing a school


def test_home_page_button_leads_to_the_pledge_page(client, world):
    page = html(client.get("/"))
    assert re.search(r'href="/donate"[^>]*data-testid="donate-link"', page)


def test_start_page_lists_active_schools_by_alliance(client, world, goods, db):
    world.school_b1.active = False
    db.session.commit()
    response = client.get("/donate")
    page = html(response)
    assert response.status_code == 200
    assert "甲联盟" in page and "甲一小学" in page and "甲二小学" in page
    assert "乙一小学" not in page  # deactivated schools take no pledges
    assert f'href="/donate/school/{world.school_a1.id}"' in page
    assert f'href="/donate/alliance/{world.alliance_a.id}"' in page
    assert "2 种物品" in page  # A1 asks for two active items (the retired one is not counted)
    assert page.index("甲一小学") < page.index("甲二小学")  # the lead school first


def test_pledge_page_shows_the_schools_needs_and_where_to_bring(client, world, goods):
    page = html(client.get(pledge_url(world.school_a1)))
    assert "书包" in page and "铅笔" in page and "HB" in page
    assert "旧款文具盒" not in page  # no longer in the catalogue
    assert f'name="need-{goods.bag.id}"' in page
    assert "郑州市二七区陇海路1号" in page and "孙红霞" in page and "0371-68000001" in page
    assert "13937100001" not in page  # the manager's own mobile stays private
    assert 'name="other-2-description"' in page  # three blank rows without JavaScript


def test_unknown_or_deactivated_school_is_404(client, world, goods, db):
    assert client.get("/donate/school/987654").status_code == 404
    assert client.get("/donate/alliance/987654").status_code == 404
    world.school_a2.active = False
    db.session.commit()
    assert client.get(pledge_url(world.school_a2)).status_code == 404
    token = csrf_token(client, "/donate")
    response = client.post(pledge_url(world.school_a2), data={**form_data(), "csrf_token": token})
    assert response.status_code == 404
    assert count(db, Pledge) == 0


# ---------------------------------------------------------------- pledging


def test_a_pledge_is_stored_and_the_donor_gets_a_reference(client, world, goods, db):
    data = form_data(
        **{
            f"need-{goods.bag.id}": "12",
            f"need-{goods.pencil.id}": "",
            "other-0-description": "儿童绘本（九成新）",
            "other-0-quantity": "２０",  # full-width digits from a Chinese keyboard
            "kind": "enterprise",
            "name": "李经理",
            "organization": "郑州新航科技有限公司",
            "phone": "+86 139 1234 5678",
            "anonymous": "y",
            "planned_date": (local_today() + timedelta(days=3)).isoformat(),
            "message": "祝孩子们学习进步！",
        }
    )
    response = post_pledge(client, pledge_url(world.school_a1), data)
    assert response.status_code == 302 and response.headers["Location"] == "/donate/thanks"
    pledge = db.session.scalars(select(Pledge)).one()
    assert pledge.school_id == world.school_a1.id and pledge.alliance_id is None
    assert pledge.status == "pledged" and pledge.anonymous and pledge.public_consent
    assert pledge.planned_date == local_today() + timedelta(days=3)
    assert pledge.message == "祝孩子们学习进步！"  # free text keeps its Chinese punctuation
    assert pledge.donor.kind == "enterprise" and pledge.donor.phone == "13912345678"
    assert pledge.donor.organization == "郑州新航科技有限公司"
    lines = sorted((line.item_id or 0, line.description, line.quantity) for line in pledge.lines)
    assert lines == [(0, "儿童绘本（九成新）", 20), (goods.bag.id, None, 12)]

    thanks = client.get("/donate/thanks")
    page = html(thanks)
    grouped = f"{pledge.reference[:4]}-{pledge.reference[4:8]}-{pledge.reference[8:]}"
    assert grouped in page
    assert "甲一小学" in page and "郑州市二七区陇海路1号" in page and "孙红霞" in page
    assert "0371-68000001" in page and "儿童绘本（九成新）" in page
    assert 'href="/donate/status"' in page
    assert thanks.headers["Cache-Control"] == "no-store"
    assert pledge.reference not in thanks.request.url


def test_an_alliance_pledge_goes_wherever_most_needed(client, world, goods, db):
    page = html(client.get(f"/donate/alliance/{world.alliance_a.id}"))
    assert "书包" in page and "50" in page  # A1 wants 30 bags and A2 20: 50 in the alliance
    data = form_data(**{f"need-{goods.bag.id}": "8"})
    response = post_pledge(client, f"/donate/alliance/{world.alliance_a.id}", data)
    assert response.status_code == 302
    pledge = db.session.scalars(select(Pledge)).one()
    assert pledge.alliance_id == world.alliance_a.id and pledge.school_id is None
    thanks = html(client.get("/donate/thanks"))
    assert "甲一小学" in thanks  # the lead school, where goods may be brought meanwhile


def test_thanks_page_without_a_pledge_goes_back_to_the_start(client):
    response = client.get("/donate/thanks")
    assert response.status_code == 302 and response.headers["Location"] == "/donate"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "请填写您的姓名"),
        ({"name": "   "}, "请填写您的姓名"),
        ({"phone": ""}, "请填写电话"),
        ({"phone": "12345"}, "请填写11位手机号码"),
        ({"phone": "138001380001"}, "请填写11位手机号码"),
        ({"kind": "robot"}, None),
        ({"name": "名" * 101}, "最多"),
        ({"NEED": "0"}, "数量须在1到1,000,000之间"),
        ({"NEED": "-3"}, "数量须在1到1,000,000之间"),
        ({"NEED": "1000001"}, "数量须在1到1,000,000之间"),
        ({"NEED": "99999999999999999999999"}, "数量须在1到1,000,000之间"),
        ({"NEED": "1.5"}, "请填写整数"),
        ({"NEED": "十"}, "请填写整数"),
        ({"NEED": ""}, "请至少填写一种物品的数量"),
        ({"NEED": "", "other-0-description": "绘本"}, "请填写数量"),
        ({"NEED": "", "other-0-quantity": "3"}, "请描述物品"),
        ({"other-0-description": "长" * 201, "other-0-quantity": "1"}, "最多"),
        ({"planned_date": "明天"}, "请按"),
        ({"planned_date": "2020-01-01"}, "一年内"),
        ({"message": "字" * 2001}, "最多"),
    ],
)
def test_invalid_pledges_are_refused_with_the_values_kept(
    client, world, goods, db, overrides, message
):
    overrides = dict(overrides)
    need = overrides.pop("NEED", "4")
    data = form_data(**{f"need-{goods.bag.id}": need, **overrides})
    response = post_pledge(client, pledge_url(world.school_a1), data)
    page = html(response)
    assert response.status_code == 422, page[:500]
    if message:
        assert message in page
    assert "is-invalid" in page or "alert-danger" in page
    if data["name"].strip() and len(data["name"]) <= 100:
        assert f'value="{data["name"]}"' in page  # what the donor typed is still there
    if need and need not in ("",):
        assert f'value="{need}"' in page
    assert count(db, Pledge) == 0 and count(db, Donor) == 0


def test_a_message_of_100_kb_is_refused(client, world, goods, db):
    data = form_data(**{f"need-{goods.bag.id}": "1", "message": "爱" * 100_000})
    response = post_pledge(client, pledge_url(world.school_a1), data)
    assert response.status_code in (413, 422)
    assert count(db, Pledge) == 0


def test_a_school_deactivated_while_the_form_was_open_is_refused(client, world, goods, db):
    token = csrf_token(client, pledge_url(world.school_a2))
    world.school_a2.active = False
    db.session.commit()
    response = client.post(
        pledge_url(world.school_a2),
        data={**form_data(), "csrf_token": token, "started": form_stamp(time.time() - 10)},
    )
    assert response.status_code == 404
    assert count(db, Pledge) == 0


def test_an_item_retired_while_the_form_was_open_is_not_pledged(client, world, goods, db):
    token = csrf_token(client, pledge_url(world.school_a1))
    # The page offered the bag; the district takes it out of the catalogue before the POST.
    # The needs list no longer shows it, so the line is simply not read: nothing to pledge.
    inventory.update_item(goods.bag, active=False)
    db.session.commit()
    response = client.post(
        pledge_url(world.school_a1),
        data={
            **form_data(**{f"need-{goods.bag.id}": "3"}),
            "csrf_token": token,
            "started": form_stamp(time.time() - 10),
        },
    )
    assert response.status_code == 422
    assert "请至少填写一种物品的数量" in html(response)
    assert count(db, Pledge) == 0


def test_errors_of_create_pledge_land_on_the_row_they_name(app, world, goods):
    """create_pledge numbers the lines it was given; the form maps them back to its rows."""
    from werkzeug.datastructures import MultiDict

    from app.common import ValidationFailed
    from app.donations.forms_public import PledgeLines
    from app.donations.queries import school_needs

    formdata = MultiDict(
        {f"need-{goods.pencil.id}": "4", "other-0-description": "绘本", "other-0-quantity": "2"}
    )
    with app.test_request_context():
        rows = PledgeLines(school_needs(world.school_a1.id), formdata)
        lines = rows.validate()
        assert [(line.item_id, line.quantity) for line in lines] == [
            (goods.pencil.id, 4),
            (None, 2),
        ]
        assert rows.attach(ValidationFailed("未知物品。", field="lines.1.description"))
        assert rows.attach(ValidationFailed("最多 200 行。", field="lines"))
        assert not rows.attach(ValidationFailed("请选择学校。", field="school_id"))
        assert not rows.attach(ValidationFailed("?", field="lines.7.quantity"))
    assert [(row.key, row.errors) for row in rows.rows if row.errors] == [
        ("other-0", ["未知物品。"])
    ]
    assert rows.errors == ["最多 200 行。"]


def test_csrf_token_is_required(client, world, goods, db):
    response = client.post(
        pledge_url(world.school_a1),
        data={**form_data(**{f"need-{goods.bag.id}": "3"}), "started": form_stamp(0)},
    )
    assert response.status_code == 400
    assert count(db, Pledge) == 0


# ---------------------------------------------------------------- anti-automation


def test_a_filled_honeypot_pretends_success_and_writes_nothing(client, world, goods, db):
    data = form_data(**{f"need-{goods.bag.id}": "3", "website": "http://spam.example"})
    response = post_pledge(client, pledge_url(world.school_a1), data)
    assert response.status_code == 302 and response.headers["Location"] == "/donate/thanks"
    page = html(client.get("/donate/thanks"))
    assert re.search(r"AX[0-9A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{2}", page)  # a made-up reference
    assert count(db, Pledge) == 0 and count(db, Donor) == 0
    # ... that opens nothing on the status page.
    assert "pledge-lines" not in html(client.get("/donate/status"))


def test_the_honeypot_is_hidden_from_people(client, world, goods):
    page = html(client.get(pledge_url(world.school_a1)))
    block = re.search(r'<div class="ax-hp" aria-hidden="true">.*?</div>', page, re.S).group(0)
    assert 'name="website"' in block and 'tabindex="-1"' in block
    css = (Path(__file__).resolve().parents[2] / "static/css/app.css").read_text(encoding="utf-8")
    assert re.search(r"\.ax-hp \{[^}]*left: -10000px", css)


@pytest.mark.parametrize("case", ["too_fast", "no_stamp", "forged", "from_the_future"])
def test_a_form_sent_too_fast_or_without_a_valid_stamp_is_refused(client, world, goods, db, case):
    stamp = {
        "too_fast": form_stamp(time.time() - 1),
        "no_stamp": "",
        "forged": form_stamp(time.time() - 60)[:-3] + "abc",
        "from_the_future": form_stamp(time.time() + 3600),
    }[case]
    data = form_data(**{f"need-{goods.bag.id}": "3"})
    response = post_pledge(client, pledge_url(world.school_a1), data, stamp=stamp)
    page = html(response)
    assert response.status_code == 422
    assert 'data-testid="form-notice"' in page
    if case == "too_fast":
        assert "您填写得很快" in page
        assert stamp in page  # the same stamp comes back: a second send later succeeds
    else:
        assert stamp not in page or not stamp  # a fresh stamp is handed out
    assert 'value="王小明"' in page
    assert count(db, Pledge) == 0 and count(db, Donor) == 0


def test_the_same_form_sent_again_after_a_moment_succeeds(client, world, goods, db, app):
    data = form_data(**{f"need-{goods.bag.id}": "3"})
    first = post_pledge(client, pledge_url(world.school_a1), data, age=0)
    assert first.status_code == 422
    stamp = re.search(r'name="started" type="hidden" value="([^"]+)"', html(first)).group(1)
    app.config["PLEDGE_MIN_FILL_SECONDS"] = -1  # "a moment later", without sleeping
    try:
        second = post_pledge(client, pledge_url(world.school_a1), data, stamp=stamp)
    finally:
        app.config.pop("PLEDGE_MIN_FILL_SECONDS")
    assert second.status_code == 302
    assert count(db, Pledge) == 1


def test_pledges_are_rate_limited_per_ip_with_a_chinese_page(
    client, world, goods, db, monkeypatch, app
):
    monkeypatch.setitem(app.config, "PLEDGE_RATE_LIMIT", "3 per hour")
    data = form_data(**{f"need-{goods.bag.id}": "1"})
    url = pledge_url(world.school_a1)
    statuses = [post_pledge(client, url, data).status_code for _ in range(3)]
    assert statuses == [302, 302, 302]
    response = post_pledge(client, pledge_url(world.school_a1), data)
    assert response.status_code == 429
    assert "尝试次数过多" in html(response)
    assert count(db, Pledge) == 3
    # The form and the API share one budget: switching to the API gains nothing.
    api = client.post(
        "/api/v1/pledges",
        json={
            "donor": {
                "name": "王",
                "phone": "13912345678",
                "anonymous": False,
                "public_consent": False,
            },
            "school_id": world.school_a1.id,
            "lines": [{"description": "绘本", "quantity": 1}],
        },
    )
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"
    # Reading the pages is not limited.
    assert client.get(pledge_url(world.school_a1)).status_code == 200


# ---------------------------------------------------------------- the donor's status page


def test_status_lookup_by_reference_and_phone(client, world, goods, db):
    pledge = make_pledge(world, goods, message="加油")
    db.session.commit()
    reference = pledge.reference
    token = csrf_token(client, "/donate/status")
    grouped = f"{reference[:4]}-{reference[4:8]}-{reference[8:]}".lower()
    response = client.post(
        "/donate/status",
        data={"reference": grouped, "phone": "139 1234 5678", "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/donate/status"
    page_response = client.get("/donate/status")
    page = html(page_response)
    assert page_response.headers["Cache-Control"] == "no-store"
    assert "已认捐" in page and "铅笔" in page and "书包" in page and "加油" in page
    assert "139****5678" in page and "13912345678" not in page
    assert reference not in page_response.request.url
    # Closing forgets it: the lookup form again.
    client.post("/donate/status/close", data={"csrf_token": csrf_token(client, "/donate/status")})
    assert 'data-testid="pledge-lines"' not in html(client.get("/donate/status"))


def test_a_wrong_phone_gets_the_same_answer_as_a_wrong_reference(client, world, goods, db):
    pledge = make_pledge(world, goods)
    db.session.commit()
    token = csrf_token(client, "/donate/status")

    def attempt(reference, phone):
        response = client.post(
            "/donate/status", data={"reference": reference, "phone": phone, "csrf_token": token}
        )
        page = html(response)
        alert = re.search(r'data-testid="lookup-error">([^<]*)<', page).group(1)
        return response.status_code, alert, "pledge-lines" in page

    wrong_phone = attempt(pledge.reference, "13700000000")
    wrong_reference = attempt("AX22222222", "13912345678")
    assert wrong_phone == wrong_reference == (404, "没有找到与此编号和电话相符的认捐。", False)
    assert 'data-testid="pledge-lines"' not in html(client.get("/donate/status"))


def test_status_lookups_are_rate_limited_against_guessing(client, world, goods, db, app):
    pledge = make_pledge(world, goods)
    other = make_pledge(world, goods, donor=donations.DonorInput("赵六", "13600000006"))
    db.session.commit()
    app.config["PLEDGE_LOOKUP_REFERENCE_LIMIT"] = "2 per hour"
    app.config["PLEDGE_LOOKUP_LIMIT"] = "4 per hour"
    try:
        token = csrf_token(client, "/donate/status")

        def look(reference, phone):
            return client.post(
                "/donate/status",
                data={"reference": reference, "phone": phone, "csrf_token": token},
            ).status_code

        # Guessing phones for one reference: stopped after two misses on that reference.
        assert look(pledge.reference, "13700000001") == 404
        assert look(pledge.reference, "13700000002") == 404
        assert look(pledge.reference, "13912345678") == 429  # even the right phone now
        # A successful lookup of another reference does not count against the IP.
        assert look(other.reference, "13600000006") == 302
        # Guessing references from one address: stopped after four misses in all.
        assert look("AX33333333", "13600000006") == 404
        assert look("AX44444444", "13600000006") == 404
        assert look("AX55555555", "13600000006") == 429
    finally:
        app.config.pop("PLEDGE_LOOKUP_REFERENCE_LIMIT")
        app.config.pop("PLEDGE_LOOKUP_LIMIT")


def test_an_expired_view_shows_the_lookup_form(client, world, goods, db):
    pledge = make_pledge(world, goods)
    db.session.commit()
    with client.session_transaction() as session:
        session["donor_pledge"] = {"id": pledge.id, "until": int(time.time()) - 1}
    assert 'data-testid="pledge-lines"' not in html(client.get("/donate/status"))


@contextmanager
def pinned_month(year: int, month: int):
    """Run the block at 10:00 Beijing time on the 10th of a month."""
    from datetime import datetime

    from app.common import frozen_time

    with frozen_time(datetime(year, month, 10, 2, 0)):
        yield


def test_the_usage_report_follows_the_goods_to_children(client, world, goods, db):
    """Receipt → redemptions (one voided) → a transfer → a redemption there → a write-off."""
    officer = world.user("officer_a1").id
    a1, a2 = world.school_a1.id, world.school_a2.id
    with pinned_month(2026, 3):
        pledge = make_pledge(world, goods)
        pencil_line, bag_line = pledge.lines
        receipt = receive(world, pledge, {pencil_line.id: 8, bag_line.id: 5})
        inventory.take_stock(a1, goods.pencil.id, 3)
        voided = inventory.take_stock(a1, goods.pencil.id, 2)
        inventory.return_stock(voided)
    with pinned_month(2026, 4):
        transfer = inventory.request_transfer(
            from_school_id=a1,
            to_school_id=a2,
            lines=[inventory.Line(goods.pencil.id, 2)],
            user_id=officer,
        )
        inventory.approve_transfer(transfer, user_id=world.user("lead_a").id)
        inventory.take_stock(a2, goods.pencil.id, 1)
        inventory.take_stock(a1, goods.bag.id, 2)
        inventory.write_off(a1, goods.bag.id, 1, reason="damaged", user_id=officer)
        donations.mark_thanked(receipt, via="letter", user_id=officer)
    db.session.commit()

    from app.donations.queries import pledge_for_donor, pledge_usage

    usage = pledge_usage(pledge_for_donor(pledge.id))
    assert usage.received == {"铅笔": 8, "书包": 5}
    redeemed = [(r.month, r.school, r.item, r.quantity) for r in usage.redeemed]
    assert sorted(redeemed) == [
        ("2026-03", "甲一小学", "铅笔", 3),
        ("2026-04", "甲一小学", "书包", 2),
        ("2026-04", "甲二小学", "铅笔", 1),
    ]
    assert usage.in_stock == {"铅笔": 4, "书包": 2}
    assert usage.written_off == {"书包": 1}

    grant(client, pledge.id)
    page = html(client.get("/donate/status"))
    assert "部分接收" in page
    assert "2026年3月" in page and "2026年4月" in page and "甲二小学" in page
    assert re.search(r'data-testid="usage-given">\s*6\s*<', page)
    assert "已致谢" in page and "感谢信" in page
    assert receipt.certificate_no in page
    assert f'href="/verify/{receipt.verify_token}"' in page


def test_status_page_shows_the_donor_their_own_data_however_they_appear_publicly(
    client, world, goods, db
):
    anonymous = make_pledge(world, goods, anonymous=True, public_consent=True)
    private = make_pledge(
        world, goods, donor=donations.DonorInput("钱七", "13500000007"), public_consent=False
    )
    company = make_pledge(
        world,
        goods,
        donor=donations.DonorInput("周经理", "13400000008", "enterprise", "新航科技"),
        public_consent=True,
    )
    db.session.commit()
    expected = {
        anonymous.id: ("王小明", "爱心人士"),
        private.id: ("钱七", "不公开显示"),
        company.id: ("周经理", "新航科技"),
    }
    for pledge_id, (own_name, public) in expected.items():
        grant(client, pledge_id)
        page = html(client.get("/donate/status"))
        name = re.search(r'data-testid="donor-name">([^<]*)<', page).group(1)
        shown = re.search(r'data-testid="public-display">(.*?)</dd>', page, re.S).group(1)
        assert name == own_name
        assert public in shown


def test_certificate_pdf_is_linked_only_when_a_pdf_page_exists(client, world, goods, db, app):
    from app import create_app
    from app.donations.public import certificate_pdf_endpoint
    from config import TestConfig
    from tests.conftest import IsolatedClient

    pledge = make_pledge(world, goods)
    receipt = receive(world, pledge)
    db.session.commit()
    grant(client, pledge.id)
    page = html(client.get("/donate/status"))
    assert "已接收" in page and f"/verify/{receipt.verify_token}" in page
    with app.test_request_context():
        endpoint = certificate_pdf_endpoint()
        link = url_of(app, endpoint, receipt.verify_token) if endpoint else None
    if link:
        assert f'href="{link}"' in page
    else:
        assert "证书（PDF）" not in page

    # The route this page prefers, where it exists, is linked on the status and check pages.
    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    other = create_app(Cfg)
    other.test_client_class = IsolatedClient
    other.add_url_rule(
        "/pdf-probe/<token>.pdf", endpoint="donate.certificate_pdf", view_func=lambda token: token
    )
    pdf_client = other.test_client()
    grant(pdf_client, pledge.id)
    status = html(pdf_client.get("/donate/status"))
    verify = html(pdf_client.get(f"/verify/{receipt.verify_token}"))
    link = f"/pdf-probe/{receipt.verify_token}.pdf"
    assert f'href="{link}"' in status and f'href="{link}"' in verify


def url_of(application, endpoint: str, token: str) -> str:
    with application.test_request_context():
        from flask import url_for

        return url_for(endpoint, token=token)


# ---------------------------------------------------------------- certificate check page


def test_certificate_check_page_shows_the_facts_and_no_personal_data(client, world, goods, db):
    pledge = make_pledge(
        world,
        goods,
        donor=donations.DonorInput("周经理", "13400000008", "enterprise", "新航科技"),
        public_consent=True,
        message="私人留言",
    )
    receipt = receive(world, pledge)
    db.session.commit()
    response = client.get(f"/verify/{receipt.verify_token}")
    page = html(response)
    assert response.status_code == 200
    assert receipt.certificate_no in page
    assert re.search(r'data-testid="certificate-donor">新航科技<', page)
    assert "甲一小学" in page and "铅笔 10 支" in page and "书包 5 个" in page
    for private in ("13400000008", "周经理", "私人留言", pledge.reference):
        assert private not in page
    assert 'name="robots" content="noindex"' in page


@pytest.mark.parametrize(
    ("anonymous", "consent", "shown"),
    [(True, True, "爱心人士"), (False, False, "爱心人士"), (True, False, "爱心人士")],
)
def test_certificate_check_page_hides_donors_without_consent_or_anonymous(
    client, world, goods, db, anonymous, consent, shown
):
    pledge = make_pledge(world, goods, anonymous=anonymous, public_consent=consent)
    receipt = receive(world, pledge)
    db.session.commit()
    page = html(client.get(f"/verify/{receipt.verify_token}"))
    assert re.search(rf'data-testid="certificate-donor">{shown}<', page)
    assert "王小明" not in page


def test_unknown_certificate_tokens_are_404(client, world, goods, db):
    make_pledge(world, goods)
    db.session.commit()
    for token in ("nope", "x" * 300, "demo%00", "demo%C3%A9", "a.b"):
        assert client.get(f"/verify/{token}").status_code == 404


# ---------------------------------------------------------------- the donor wall


def test_donor_wall_shows_consenting_donors_only(client, world, goods, db):
    receive(world, make_pledge(world, goods, public_consent=True, anonymous=True))
    receive(
        world,
        make_pledge(
            world, goods, donor=donations.DonorInput("钱七", "13500000007"), public_consent=False
        ),
    )
    receive(
        world,
        make_pledge(
            world,
            goods,
            donor=donations.DonorInput("周经理", "13400000008", "enterprise", "新航科技"),
            public_consent=True,
        ),
    )
    donations.receive_goods(
        school_id=world.school_a1.id,
        source="purchase",
        lines=[donations.ReceiptLineInput(goods.pencil.id, 50)],
    )
    db.session.commit()
    page = html(client.get("/donors"))
    names = re.findall(r'data-testid="wall-name">([^<]*)<', page)
    assert sorted(names) == ["新航科技", "爱心人士"]
    for hidden in ("钱七", "王小明", "周经理", "13400000008", "13912345678", "13500000007"):
        assert hidden not in page
    assert "铅笔10支" in page and "甲一小学" in page
    assert "企业" in page  # the kind of a named donor; none for the anonymous one


def test_donor_wall_is_paginated_and_grouped_by_month_with_fixed_queries(client, world, goods, db):
    from datetime import datetime

    from app.common import frozen_time
    from app.extensions import db as _db

    def gift(n: int, when: datetime) -> None:
        with frozen_time(when):
            donations.receive_goods(
                school_id=world.school_a1.id,
                source="walk_in",
                donor=donations.DonorInput(f"捐赠人{n}", f"1390000{n:04d}"),
                public_consent=True,
                lines=[donations.ReceiptLineInput(goods.pencil.id, n + 1)],
            )

    for n in range(3):
        gift(n, datetime(2026, 2, 10, 2))
    db.session.commit()

    @contextmanager
    def queries():
        seen = []

        def before(conn, cursor, statement, *args):  # noqa: ARG001
            seen.append(statement)

        event.listen(_db.engine, "before_cursor_execute", before)
        try:
            yield seen
        finally:
            event.remove(_db.engine, "before_cursor_execute", before)

    with queries() as few:
        assert client.get("/donors").status_code == 200
    for n in range(3, 35):
        gift(n, datetime(2026, 3, 10, 2))
    db.session.commit()
    with queries() as many:
        first = html(client.get("/donors"))
    assert len(many) == len(few)  # no query per entry
    assert len(re.findall(r'data-testid="wall-name"', first)) == 30
    assert "2026年3月" in first and "第 1 页，共 2 页" in first
    second = html(client.get("/donors?page=2"))
    assert len(re.findall(r'data-testid="wall-name"', second)) == 5
    assert "2026年3月" in second and "2026年2月" in second
    assert client.get("/donors?page=abc").status_code == 200
    assert client.get("/donors?page=99999999999").status_code == 200


# ---------------------------------------------------------------- escaping, CSP, privacy


def test_donor_text_with_script_tags_is_shown_escaped_on_every_page(client, world, goods, db):
    data = form_data(
        **{
            "name": SCRIPT,
            "organization": SCRIPT,
            "kind": "charity",
            "message": SCRIPT,
            "other-0-description": SCRIPT,
            "other-0-quantity": "2",
        }
    )
    # Refused forms echo the text back: escaped.
    refused = post_pledge(client, pledge_url(world.school_a1), {**data, "phone": "1"})
    assert refused.status_code == 422
    assert SCRIPT not in html(refused) and ESCAPED in html(refused)

    assert post_pledge(client, pledge_url(world.school_a1), data).status_code == 302
    pledge = db.session.scalars(select(Pledge)).one()
    item_line = pledge.lines[0]
    receipt = donations.receive_goods(
        school_id=world.school_a1.id,
        pledge=pledge,
        lines=[donations.ReceiptLineInput(goods.pencil.id, 2, pledge_line_id=item_line.id)],
    )
    db.session.commit()
    pages = {
        "thanks": client.get("/donate/thanks"),
        "status": client.get("/donate/status"),
        "wall": client.get("/donors"),
        "verify": client.get(f"/verify/{receipt.verify_token}"),
    }
    for name, response in pages.items():
        page = html(response)
        assert response.status_code == 200, name
        assert SCRIPT not in page, name
    assert ESCAPED in html(pages["thanks"])  # the description
    assert html(pages["status"]).count(ESCAPED) >= 3  # name, organisation, message, goods
    assert ESCAPED in html(pages["wall"]) and ESCAPED in html(pages["verify"])


def test_public_pages_have_no_inline_scripts_styles_or_outside_assets(client, world, goods, db):
    pledge = make_pledge(world, goods, public_consent=True)
    receipt = receive(world, pledge)
    db.session.commit()
    grant(client, pledge.id)
    paths = [
        "/donate",
        pledge_url(world.school_a1),
        f"/donate/alliance/{world.alliance_a.id}",
        "/donate/thanks",
        "/donate/status",
        f"/verify/{receipt.verify_token}",
        "/donors",
    ]
    for path in paths:
        response = client.get(path)
        page = html(response)
        assert response.status_code == 200, path
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None, path
        assert " style=" not in page, path
        links = re.findall(r'(?:src|href|action)="([^"]*)"', page)
        assert not [u for u in links if u.startswith(("http:", "https:", "//"))], path
    lookup = html(client.get("/donate/status"))
    assert "13912345678" not in lookup


def test_english_pages_work_too(client, world, goods):
    client.set_cookie("aixin_lang", "en")
    page = html(client.get(pledge_url(world.school_a1)))
    assert "Pledge goods" in page and "Send my pledge" in page
