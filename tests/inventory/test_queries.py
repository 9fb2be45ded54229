"""Read helpers of the stock pages, and the needs list as the public pledge page reads it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from app.common import frozen_time, local_today, utcnow
from app.inventory import operations as ops
from app.inventory import queries


@pytest.fixture
def items(db, world):
    def make(name, category="stationery", district=None):
        return ops.create_item(
            district_id=(district or world.district).id,
            name=name,
            category=category,
            unit="个",
            points=3,
        )

    made = {
        "pencil": make("铅笔"),
        "milk": make("纯牛奶", "food"),
        "bag": make("书包"),
        "old": make("旧文具盒"),
    }
    db.session.commit()
    return made


def test_public_needs_lists_active_needs_of_active_items_with_on_hand(db, world, items):
    from app.donations.operations import remove_need, set_need

    ops.receive_stock(world.school_a1.id, items["pencil"].id, 7)
    set_need(school_id=world.school_a1.id, item_id=items["pencil"].id, target_quantity=30)
    set_need(school_id=world.school_a1.id, item_id=items["bag"].id, target_quantity=5, note="新生")
    removed = set_need(school_id=world.school_a1.id, item_id=items["milk"].id, target_quantity=2)
    remove_need(removed)
    set_need(school_id=world.school_a1.id, item_id=items["old"].id, target_quantity=2)
    ops.update_item(items["old"], active=False)  # left the catalogue since
    set_need(school_id=world.school_a2.id, item_id=items["milk"].id, target_quantity=9)
    db.session.commit()

    needs = queries.public_needs(world.school_a1.id)
    assert [(n.name, n.target_quantity, n.on_hand, n.note, n.unit) for n in needs] == [
        ("书包", 5, 0, "新生", "个"),
        ("铅笔", 30, 7, None, "个"),
    ]
    assert [n.name for n in queries.public_needs(world.school_a2.id)] == ["纯牛奶"]
    assert queries.public_needs(world.school_b1.id) == []


def test_public_needs_takes_two_queries_however_long_the_list(app, db, world, items):
    from app.donations.operations import set_need

    def queries_for(school_id) -> int:
        seen = []

        def listen(*args, **kwargs):
            seen.append(args[2])

        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            queries.public_needs(school_id)
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen)

    set_need(school_id=world.school_a1.id, item_id=items["pencil"].id, target_quantity=1)
    db.session.commit()
    few = queries_for(world.school_a1.id)
    for name in ("a", "b", "c", "d", "e"):
        item = ops.create_item(
            district_id=world.district.id, name=name, category="other", unit="个", points=1
        )
        set_need(school_id=world.school_a1.id, item_id=item.id, target_quantity=1)
    db.session.commit()
    db.session.expire_all()
    assert queries_for(world.school_a1.id) == few <= 2


def test_suggestions_are_low_active_and_not_yet_needed(db, world, items):
    from app.donations.operations import set_need

    a1 = world.school_a1.id
    ops.receive_stock(a1, items["pencil"].id, 2)
    ops.set_reorder_level(a1, items["pencil"].id, 10)  # low
    ops.receive_stock(a1, items["bag"].id, 10)
    ops.set_reorder_level(a1, items["bag"].id, 10)  # exactly at the level: not low
    ops.set_reorder_level(a1, items["milk"].id, 4)  # never stocked: low, and needed already
    set_need(school_id=a1, item_id=items["milk"].id, target_quantity=8)
    ops.set_reorder_level(a1, items["old"].id, 3)
    ops.update_item(items["old"], active=False)  # low but inactive
    db.session.commit()
    suggestions = queries.need_suggestions(a1)
    assert [(s.item.name, s.on_hand, s.reorder_level) for s in suggestions] == [("铅笔", 2, 10)]
    assert suggestions[0].suggested_target == 18
    assert queries.need_suggestions(world.school_a2.id) == []


def test_expiry_marks_split_expired_and_expiring_units(db, world, items):
    a1, milk = world.school_a1.id, items["milk"].id
    today = local_today()
    with frozen_time(utcnow() - timedelta(days=40)):
        ops.receive_stock(a1, milk, 3, expiry_date=today - timedelta(days=1))  # expired
    ops.receive_stock(a1, milk, 4, expiry_date=today)  # expires today: soon, not expired
    ops.receive_stock(a1, milk, 5, expiry_date=today + timedelta(days=30))  # last day of window
    ops.receive_stock(a1, milk, 6, expiry_date=today + timedelta(days=31))  # outside
    ops.receive_stock(a1, items["pencil"].id, 2)  # no expiry at all
    ops.receive_stock(world.school_a2.id, milk, 1, expiry_date=today)  # another school
    db.session.commit()
    info = queries.expiry_for(a1, [milk, items["pencil"].id])
    assert set(info) == {milk}
    assert (info[milk].expired_units, info[milk].expiring_units, info[milk].first_expiry) == (
        3,
        9,
        today,
    )
    # Units written off from the expired batch no longer count.
    ops.take_stock(a1, milk, 3, kind="write_off", reason="过期")
    db.session.commit()
    assert queries.expiry_for(a1, [milk])[milk].expired_units == 0
    assert queries.expiry_for(a1, []) == {}


def test_on_hand_filters(db, world, items):
    a1 = world.school_a1.id
    today = local_today()
    ops.receive_stock(a1, items["pencil"].id, 2)
    ops.set_reorder_level(a1, items["pencil"].id, 5)
    ops.receive_stock(a1, items["milk"].id, 2, expiry_date=today + timedelta(days=3))
    ops.set_reorder_level(a1, items["bag"].id, 0)  # a row at zero
    db.session.commit()

    def names(**kw):
        stmt = queries.on_hand_statement(a1, **kw)
        return [row.item.name for row in db.session.scalars(stmt)]

    assert names() == ["书包", "铅笔", "纯牛奶"]  # stationery before food, then by name
    assert names(show="low") == ["铅笔"]
    assert names(show="expiring") == ["纯牛奶"]
    assert names(show="in_stock") == ["铅笔", "纯牛奶"]
    assert names(q="奶") == ["纯牛奶"]
    assert names(q="%") == []  # LIKE wildcards are escaped
    assert names(category="stationery") == ["书包", "铅笔"]


def test_stock_summaries_per_school(db, world, items):
    today = local_today()
    ops.receive_stock(world.school_a1.id, items["pencil"].id, 2)
    ops.set_reorder_level(world.school_a1.id, items["pencil"].id, 5)
    ops.receive_stock(world.school_a1.id, items["milk"].id, 3, expiry_date=today)
    ops.receive_stock(world.school_a2.id, items["bag"].id, 10)
    db.session.commit()
    schools = [world.school_a1, world.school_a2, world.school_b1]
    rows = {s.school.name: s for s in queries.stock_summaries(schools)}
    a1, a2, b1 = rows["甲一小学"], rows["甲二小学"], rows["乙一小学"]
    assert (a1.items_in_stock, a1.units, a1.low, a1.expiring) == (2, 5, 1, 1)
    assert (a2.items_in_stock, a2.units, a2.low, a2.expiring) == (1, 10, 0, 0)
    assert (b1.items_in_stock, b1.units, b1.low, b1.expiring) == (0, 0, 0, 0)


def test_catalogue_and_transfers_are_scoped(db, world, items):
    from app.auth.models import User

    other = ops.create_item(
        district_id=world.other_district.id, name="外区", category="other", unit="个", points=1
    )
    ops.receive_stock(world.school_a1.id, items["bag"].id, 5)
    transfer = ops.request_transfer(
        from_school_id=world.school_a1.id,
        to_school_id=world.school_a2.id,
        lines=[ops.Line(items["bag"].id, 2)],
        user_id=None,
    )
    db.session.commit()

    def catalogue(key, **kw):
        user = db.session.get(User, world.user(key).id)
        return [i.name for i in db.session.scalars(queries.catalogue_statement(user, **kw))]

    assert "外区" not in catalogue("teacher_a1") and catalogue("officer_x") == ["外区"]
    assert catalogue("admin", q="书") == ["书包"]
    assert other.id

    def transfers(key):
        user = db.session.get(User, world.user(key).id)
        return [t.id for t in db.session.scalars(queries.transfers_statement(user))]

    for key in ("officer_a1", "officer_a2", "lead_a", "admin"):
        assert transfers(key) == [transfer.id], key
    for key in ("officer_b1", "lead_b", "admin_other"):
        assert transfers(key) == [], key
    lead_a = db.session.get(User, world.user("lead_a").id)
    lead_b = db.session.get(User, world.user("lead_b").id)
    assert queries.may_decide(transfer, lead_a) and not queries.may_decide(transfer, lead_b)
    officer = db.session.get(User, world.user("officer_a1").id)
    assert not queries.may_decide(transfer, officer)
    assert [s.name for s in queries.partner_schools(world.school_a1)] == ["甲二小学"]
    assert queries.partner_schools(world.school_x) == []
