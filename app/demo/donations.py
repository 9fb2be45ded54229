"""Demo catalogue, needs lists, donors and pledges in every state, receipts into stock,
certificates, a transfer between alliance schools and a finalised stocktake.

Dates run over the past eight weeks (``frozen_time``), so pages show a history. References and
certificate tokens come from a seeded generator: the demo is the same every time it is loaded.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.common import frozen_time, utcnow
from app.donations import operations as donations
from app.donations.models import Pledge
from app.extensions import db
from app.inventory import operations as inventory

# (name, category, unit, points, limit (qty, period) or None, shelf life days or None)
CATALOGUE = [
    ("铅笔", "stationery", "支", 2, None, None),
    ("中性笔", "stationery", "支", 3, None, None),
    ("练习本", "stationery", "本", 3, None, None),
    ("彩色铅笔", "stationery", "盒", 12, None, None),
    ("文具盒", "stationery", "个", 15, (1, "semester"), None),
    ("书包", "stationery", "个", 60, (1, "semester"), None),
    ("新华字典", "books", "本", 25, (1, "semester"), None),
    ("十万个为什么", "books", "本", 20, None, None),
    ("安徒生童话", "books", "本", 18, None, None),
    ("毛巾", "daily", "条", 8, None, None),
    ("牙刷牙膏套装", "daily", "套", 10, (2, "month"), None),
    ("保温杯", "daily", "个", 30, (1, "semester"), None),
    ("雨伞", "daily", "把", 25, None, None),
    ("冬季棉服", "clothing", "件", 80, (1, "semester"), None),
    ("运动鞋", "clothing", "双", 60, (1, "semester"), None),
    ("棉袜", "clothing", "双", 5, (4, "month"), None),
    ("手套", "clothing", "副", 8, None, None),
    ("跳绳", "sports", "根", 6, None, None),
    ("篮球", "sports", "个", 50, None, None),
    ("羽毛球拍", "sports", "副", 35, None, None),
    ("纯牛奶", "food", "箱", 30, (2, "month"), 180),
    ("饼干", "food", "盒", 10, None, 270),
]

DEMO_PHONE = "13800000001"


def _at(days_ago: int, hour: int = 2) -> datetime:
    """A moment ``days_ago`` days back, at ``hour`` UTC (10 o'clock in Beijing for hour=2)."""
    now = utcnow()
    return (now - timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0, microsecond=0)


def load_donations(ctx: dict) -> None:
    rng = random.Random(2013)  # noqa: S311 - demo data, not secrets
    district = ctx["district"]
    schools = ctx["schools"]
    users = {u.username: u for u in ctx["users"]}
    officer = users["officer_longxi"].id
    longxi, jianxin, xingfu = schools["陇西小学"], schools["建新街小学"], schools["幸福路小学"]

    with frozen_time(_at(60)):
        items = {}
        for name, category, unit, points, limit, shelf in CATALOGUE:
            items[name] = inventory.create_item(
                district_id=district.id,
                name=name,
                category=category,
                unit=unit,
                points=points,
                limit_quantity=limit[0] if limit else None,
                limit_period=limit[1] if limit else None,
                shelf_life_days=shelf,
            )
        for school in (longxi, xingfu, jianxin):
            for name, target in (
                ("冬季棉服", 40),
                ("书包", 30),
                ("新华字典", 50),
                ("手套", 60),
                ("纯牛奶", 20),
            ):
                donations.set_need(
                    school_id=school.id, item_id=items[name].id, target_quantity=target
                )

    def pledge(days_ago, school, donor, lines, **kw):
        with frozen_time(_at(days_ago)):
            row = donations.create_pledge(donor=donor, lines=lines, school_id=school.id, **kw)
            row.reference = "AX" + "".join(
                rng.choice("23456789ABCDEFGHJKMNPQRSTUVWXYZ") for _ in range(8)
            )
            return row

    def receive(days_ago, school, **kw):
        with frozen_time(_at(days_ago, hour=3)):
            receipt = donations.receive_goods(school_id=school.id, user_id=officer, **kw)
            if receipt.verify_token:
                receipt.verify_token = "demo" + "".join(
                    rng.choice("abcdefghjkmnpqrstuvwxyz2345") for _ in range(18)
                )
            return receipt

    L = donations.PledgeLineInput  # noqa: N806
    R = donations.ReceiptLineInput  # noqa: N806
    company = donations.DonorInput(
        "郑州新航科技有限公司", "0371-66001234", "enterprise", "郑州新航科技有限公司"
    )
    union = donations.DonorInput("二七区教育工会", "0371-68112233", "union", "二七区教育工会")
    person = donations.DonorInput("张伟", DEMO_PHONE)
    charity = donations.DonorInput("郑州慈善总会", "0371-67778888", "charity", "郑州慈善总会")
    staff = donations.DonorInput("李老师", "13900000002", "staff")

    # Received in full, thanked with a certificate.
    p1 = pledge(
        55,
        longxi,
        company,
        [L(40, item_id=items["冬季棉服"].id), L(30, item_id=items["书包"].id)],
        public_consent=True,
        message="愿孩子们温暖过冬，快乐学习！",
    )
    r1 = receive(
        52,
        longxi,
        pledge=p1,
        lines=[
            R(items["冬季棉服"].id, 40, unit_value_fen=12000, pledge_line_id=p1.lines[0].id),
            R(items["书包"].id, 30, unit_value_fen=8000, pledge_line_id=p1.lines[1].id),
        ],
    )
    with frozen_time(_at(50)):
        donations.mark_thanked(r1, via="certificate", user_id=officer)

    # Received in part; the rest is still to come.
    p2 = pledge(
        40,
        longxi,
        person,
        [
            L(100, item_id=items["练习本"].id),
            L(50, item_id=items["铅笔"].id),
            L(10, description="儿童绘本（九成新）"),
        ],
        public_consent=True,
        message="一点心意。",
    )
    receive(
        38,
        longxi,
        pledge=p2,
        lines=[
            R(items["练习本"].id, 60, unit_value_fen=300, pledge_line_id=p2.lines[0].id),
            R(items["铅笔"].id, 50, unit_value_fen=100, pledge_line_id=p2.lines[1].id),
            R(items["安徒生童话"].id, 6, condition="good", pledge_line_id=p2.lines[2].id),
        ],
    )

    # Pledged, to be brought next week; and one to the alliance, wherever most needed.
    pledge(
        3,
        longxi,
        union,
        [L(20, item_id=items["篮球"].id), L(40, item_id=items["跳绳"].id)],
        public_consent=True,
        planned_date=(_at(-7)).date(),
    )
    with frozen_time(_at(2)):
        alliance_pledge = donations.create_pledge(
            donor=staff,
            lines=[L(30, item_id=items["手套"].id)],
            alliance_id=longxi.alliance_id,
            anonymous=True,
            public_consent=True,
        )
        alliance_pledge.reference = "AX" + "".join(
            rng.choice("23456789ABCDEFGHJKMNPQRSTUVWXYZ") for _ in range(8)
        )

    # Cancelled by the donor.
    p4 = pledge(
        30, xingfu, donations.DonorInput("王芳", "13700000003"), [L(5, item_id=items["雨伞"].id)]
    )
    with frozen_time(_at(25)):
        donations.cancel_pledge(p4, "捐赠人改为捐给社区")

    # An anonymous charity's food, a walk-in donation, and the school's own purchase.
    p5 = pledge(
        35,
        xingfu,
        charity,
        [L(20, item_id=items["纯牛奶"].id), L(30, item_id=items["饼干"].id)],
        anonymous=True,
        public_consent=True,
    )
    receive(
        34,
        xingfu,
        pledge=p5,
        lines=[
            R(items["纯牛奶"].id, 20, unit_value_fen=6000, pledge_line_id=p5.lines[0].id),
            R(items["饼干"].id, 30, unit_value_fen=1500, pledge_line_id=p5.lines[1].id),
        ],
    )
    receive(
        20,
        longxi,
        source="walk_in",
        donor=donations.DonorInput("陈女士", "13600000004"),
        lines=[
            R(items["十万个为什么"].id, 15, condition="good"),
            R(items["毛巾"].id, 40, unit_value_fen=1000),
        ],
        public_consent=False,
    )
    receive(
        18,
        longxi,
        source="purchase",
        note="学校自助：学期初采购",
        lines=[
            R(items["牙刷牙膏套装"].id, 60, unit_value_fen=1200),
            R(items["纯牛奶"].id, 12, unit_value_fen=6000),
            R(items["中性笔"].id, 200, unit_value_fen=150),
        ],
    )

    # 共同体互助: 陇西小学 passes coats to 建新街小学, approved by the alliance lead; a second
    # request waits for approval.
    lead = users["lead_longxi"].id
    with frozen_time(_at(15)):
        transfer = inventory.request_transfer(
            from_school_id=longxi.id,
            to_school_id=jianxin.id,
            lines=[inventory.Line(items["冬季棉服"].id, 10)],
            user_id=officer,
            note="建新街小学留守儿童较多，冬衣紧缺",
        )
    with frozen_time(_at(14)):
        inventory.approve_transfer(transfer, user_id=lead, note="同意")
    with frozen_time(_at(1)):
        inventory.request_transfer(
            from_school_id=longxi.id,
            to_school_id=jianxin.id,
            lines=[inventory.Line(items["练习本"].id, 20)],
            user_id=officer,
        )

    # A finalised stocktake found two towels missing; a damaged umbrella-free write-off.
    with frozen_time(_at(7)):
        stocktake = inventory.start_stocktake(
            longxi.id,
            item_ids=[items["毛巾"].id, items["中性笔"].id],
            user_id=officer,
            note="月末盘点",
        )
        inventory.record_counts(stocktake, {items["毛巾"].id: 38, items["中性笔"].id: 200})
        inventory.finalise_stocktake(stocktake, user_id=officer)
    with frozen_time(_at(6)):
        inventory.write_off(
            longxi.id, items["书包"].id, 1, reason="damaged: 拉链损坏", user_id=officer
        )
        inventory.set_reorder_level(longxi.id, items["牙刷牙膏套装"].id, 80)
        inventory.set_reorder_level(longxi.id, items["书包"].id, 10)
    db.session.flush()
    ctx["items"] = items
    ctx["pledges"] = db.session.scalar(select(func.count()).select_from(Pledge))
