"""The stock ledger's operations, one rule at a time: quantities, refusals that write nothing,
lots (FEFO/FIFO, void-returns, write-offs of a batch), transfers and stocktakes.

Runs on SQLite by default and on PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.common import DomainError, ValidationFailed
from app.inventory import operations as ops
from app.inventory.models import LotAllocation, StockLevel, StockLot, StockMove, StockTransfer
from tests.inventory.stock_helpers import (
    count,
    ledger_problems,
    lot_remaining,
    make_receipt_line,
    make_shop,
    on_hand,
    snapshot,
)

BAD_QUANTITIES = [0, -1, -5, 1_000_001, 10**12, 2.5, 1.0, "3", True, False, None]


@pytest.fixture
def shop(db):
    shop = make_shop()
    yield shop
    # Whatever a test did, the ledger it leaves adds up.
    db.session.rollback()
    assert ledger_problems() == []


def _moves(school_id, item_id):
    from app.extensions import db

    return db.session.scalars(
        select(StockMove)
        .where(StockMove.school_id == school_id, StockMove.item_id == item_id)
        .order_by(StockMove.id)
    ).all()


# ---------------------------------------------------------------- receive


def test_receive_raises_on_hand_and_opens_a_lot_that_remembers_the_receipt_line(db, shop):
    line_id = make_receipt_line(shop.a1, shop.milk, 12, date(2031, 5, 1))
    move = ops.receive_stock(
        shop.a1, shop.milk, 12, receipt_line_id=line_id, expiry_date=date(2031, 5, 1)
    )
    ops.receive_stock(shop.a1, shop.milk, 3)
    db.session.commit()
    assert on_hand(shop.a1, shop.milk) == 15
    assert [(m.kind, m.quantity, m.balance_after) for m in _moves(shop.a1, shop.milk)] == [
        ("receipt", 12, 12),
        ("receipt", 3, 15),
    ]
    lot = db.session.scalars(select(StockLot).where(StockLot.origin_move_id == move.id)).one()
    assert (lot.quantity, lot.remaining, lot.expiry_date) == (12, 12, date(2031, 5, 1))
    assert lot.receipt_line_id == line_id == move.receipt_line_id


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_bad_quantities_are_refused_everywhere_and_write_nothing(db, shop, quantity):
    ops.receive_stock(shop.a1, shop.pen, 10)
    db.session.commit()
    before = snapshot()
    calls = [
        lambda: ops.receive_stock(shop.a1, shop.pen, quantity),
        lambda: ops.take_stock(shop.a1, shop.pen, quantity),
        lambda: ops.take_lines(shop.a1, [ops.Line(shop.pen, quantity)]),
        lambda: ops.write_off(shop.a1, shop.pen, quantity, reason="坏了"),
        lambda: ops.adjust_stock(shop.a1, shop.pen, quantity, reason="盘错"),
        lambda: ops.request_transfer(
            from_school_id=shop.a1,
            to_school_id=shop.a2,
            lines=[ops.Line(shop.pen, quantity)],
            user_id=None,
        ),
    ]
    for index, call in enumerate(calls):
        if index == 4 and quantity in (-1, -5):
            continue  # adjust_stock takes a signed delta: -1 and -5 are valid there
        with pytest.raises(ValidationFailed):
            call()
        assert snapshot() == before, f"call {index} wrote something"
        db.session.rollback()
    assert count(StockTransfer) == 0


def test_huge_negative_adjustments_and_bad_counts_are_refused(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    for delta in (-1_000_001, 0, True, "2", 1.5):
        with pytest.raises(ValidationFailed):
            ops.adjust_stock(shop.a1, shop.pen, delta, reason="x")
    with pytest.raises(ValidationFailed):
        ops.adjust_stock(shop.a1, shop.pen, 1, reason="  ")
    stocktake = ops.start_stocktake(shop.a1)
    for bad in (-1, 1_000_001, True, "5", 2.5):
        with pytest.raises(ValidationFailed):
            ops.record_counts(stocktake, {shop.pen: bad})
    assert stocktake.lines[0].counted is None


# ---------------------------------------------------------------- take


def test_take_lowers_on_hand_with_a_signed_move(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    move = ops.take_stock(shop.a1, shop.pen, 4, user_id=None)
    db.session.commit()
    assert (move.kind, move.quantity, move.balance_after) == ("redemption", -4, 6)
    assert on_hand(shop.a1, shop.pen) == 6


def test_out_of_stock_writes_nothing_at_all(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5, expiry_date=date(2031, 1, 1))
    db.session.commit()
    before = snapshot()
    with pytest.raises(ops.OutOfStock) as caught:
        ops.take_stock(shop.a1, shop.pen, 6)
    assert caught.value.item_id == shop.pen and caught.value.code == "out_of_stock"
    assert "铅笔" in caught.value.message
    assert snapshot() == before  # even before the rollback: the single take wrote nothing
    db.session.rollback()
    assert snapshot() == before
    assert on_hand(shop.a1, shop.pen) == 5


def test_taking_an_item_never_stocked_creates_no_stock_row(db, shop):
    with pytest.raises(ops.OutOfStock):
        ops.take_stock(shop.a2, shop.book, 1)
    db.session.rollback()
    assert count(StockLevel) == 0 and count(StockMove) == 0


def test_take_lines_is_all_or_nothing_after_the_callers_rollback(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    ops.receive_stock(shop.a1, shop.book, 2)
    db.session.commit()
    before = snapshot()
    # pen has the lower id, so it is taken first; book then fails.
    with pytest.raises(ops.OutOfStock) as caught:
        ops.take_lines(shop.a1, [ops.Line(shop.book, 3), ops.Line(shop.pen, 4)])
    assert caught.value.item_id == shop.book
    db.session.rollback()
    assert snapshot() == before
    assert on_hand(shop.a1, shop.pen) == 10 and on_hand(shop.a1, shop.book) == 2


def test_take_lines_merges_lines_and_goes_in_item_order(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    ops.receive_stock(shop.a1, shop.book, 10)
    taken = ops.take_lines(
        shop.a1, [ops.Line(shop.book, 1), ops.Line(shop.pen, 2), ops.Line(shop.book, 3)]
    )
    assert [(t.item_id, t.quantity, t.balance_after) for t in taken] == [
        (shop.pen, 2, 8),
        (shop.book, 4, 6),
    ]
    moves = [db.session.get(StockMove, t.move_id) for t in taken]
    assert [(m.item_id, m.kind, m.quantity) for m in moves] == [
        (shop.pen, "redemption", -2),
        (shop.book, "redemption", -4),
    ]
    assert on_hand(shop.a1, shop.book) == 6
    assert ops.take_lines(shop.a1, []) == []


def test_take_stock_only_does_outflow_kinds(db, shop):
    with pytest.raises(ValueError):
        ops.take_stock(shop.a1, shop.pen, 1, kind="receipt")


def test_each_school_has_its_own_stock(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 3)
    with pytest.raises(ops.OutOfStock):
        ops.take_stock(shop.a2, shop.pen, 1)
    db.session.rollback()
    assert on_hand(shop.a1, shop.pen) == 0  # rolled back with the rest


# ---------------------------------------------------------------- lots


def _receive_lots(db, shop, item, specs):
    """Receive (quantity, expiry) lots in this order; their ids."""
    ids = []
    for quantity, expiry in specs:
        move = ops.receive_stock(shop.a1, item, quantity, expiry_date=expiry)
        ids.append(
            db.session.scalars(select(StockLot.id).where(StockLot.origin_move_id == move.id)).one()
        )
    return ids


def test_outflows_take_the_earliest_expiry_first_then_the_oldest(db, shop):
    no_expiry_old, late, early, no_expiry_new, early_too = _receive_lots(
        db,
        shop,
        shop.milk,
        [(3, None), (3, date(2031, 6, 1)), (3, date(2031, 1, 1)), (3, None), (3, date(2031, 1, 1))],
    )
    db.session.commit()
    taken_order = []
    for _ in range(15):
        before = lot_remaining(shop.a1, shop.milk)
        ops.take_stock(shop.a1, shop.milk, 1)
        after = lot_remaining(shop.a1, shop.milk)
        (lot,) = [k for k in before if before[k] != after[k]]
        if not taken_order or taken_order[-1] != lot:
            taken_order.append(lot)
    # No expiry comes last on both databases (SQLite sorts NULL first by default).
    assert taken_order == [early, early_too, late, no_expiry_old, no_expiry_new]


def test_a_take_spanning_lots_allocates_each_part(db, shop):
    first, second = _receive_lots(db, shop, shop.pen, [(2, None), (5, None)])
    move = ops.take_stock(shop.a1, shop.pen, 4)
    allocations = db.session.execute(
        select(LotAllocation.lot_id, LotAllocation.quantity)
        .where(LotAllocation.move_id == move.id)
        .order_by(LotAllocation.id)
    ).all()
    assert allocations == [(first, 2), (second, 2)]
    assert lot_remaining(shop.a1, shop.pen) == {first: 0, second: 3}


def test_a_void_return_restores_the_exact_lots(db, shop):
    early, late, none = _receive_lots(
        db, shop, shop.milk, [(2, date(2031, 1, 1)), (2, date(2031, 2, 1)), (5, None)]
    )
    ops.take_stock(shop.a1, shop.milk, 1)  # from "early"
    db.session.commit()
    redemption = ops.take_stock(shop.a1, shop.milk, 4)  # 1 early, 2 late, 1 none
    db.session.commit()
    assert lot_remaining(shop.a1, shop.milk) == {early: 0, late: 0, none: 4}
    back = ops.return_stock(redemption, reason="兑换作废")
    db.session.commit()
    assert (back.kind, back.quantity, back.balance_after, back.reverses_id) == (
        "void_return",
        4,
        8,
        redemption.id,
    )
    assert lot_remaining(shop.a1, shop.milk) == {early: 1, late: 2, none: 5}
    given_back = db.session.execute(
        select(LotAllocation.lot_id, LotAllocation.quantity).where(LotAllocation.move_id == back.id)
    ).all()
    assert sorted(given_back) == sorted([(early, -1), (late, -2), (none, -1)])
    # The restored units are again the first to go.
    ops.take_stock(shop.a1, shop.milk, 1)
    assert lot_remaining(shop.a1, shop.milk)[early] == 0


def test_a_redemption_is_returned_once_and_only_redemptions_are(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5)
    redemption = ops.take_stock(shop.a1, shop.pen, 2)
    write_off = ops.write_off(shop.a1, shop.pen, 1, reason="坏了")
    ops.return_stock(redemption)
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        ops.return_stock(redemption)
    assert caught.value.code == "already_returned"
    db.session.rollback()
    with pytest.raises(ValueError):
        ops.return_stock(write_off)
    assert on_hand(shop.a1, shop.pen) == 4


def test_loaded_rows_are_not_left_stale_by_the_ledgers_updates(db, shop):
    """The conditional updates bypass the ORM; objects already in the session stay right."""
    level = ops.set_reorder_level(shop.a1, shop.pen, 3)
    (lot_id,) = _receive_lots(db, shop, shop.pen, [(10, None)])
    lot = db.session.get(StockLot, lot_id)
    assert level.on_hand == 10 and lot.remaining == 10
    redemption = ops.take_stock(shop.a1, shop.pen, 4)
    assert level.on_hand == 6 and lot.remaining == 6
    ops.return_stock(redemption)
    assert level.on_hand == 10 and lot.remaining == 10
    assert level.reorder_level == 3


def test_write_off_of_one_batch_takes_from_that_batch(db, shop):
    fresh, expired = _receive_lots(db, shop, shop.milk, [(5, date(2031, 1, 1)), (3, None)])
    move = ops.write_off(shop.a1, shop.milk, 2, reason="包装破损", lot_id=expired)
    db.session.commit()
    assert (move.kind, move.quantity, move.reason) == ("write_off", -2, "包装破损")
    assert lot_remaining(shop.a1, shop.milk) == {fresh: 5, expired: 1}
    before = snapshot()
    with pytest.raises(ops.OutOfStock):
        ops.write_off(shop.a1, shop.milk, 2, reason="过期", lot_id=expired)
    assert snapshot() == before
    db.session.rollback()


def test_write_off_needs_a_reason_and_a_batch_of_the_same_item(db, shop):
    (pen_lot,) = _receive_lots(db, shop, shop.pen, [(5, None)])
    ops.receive_stock(shop.a1, shop.milk, 5)
    with pytest.raises(ValidationFailed):
        ops.write_off(shop.a1, shop.pen, 1, reason=" ")
    with pytest.raises(ValidationFailed):
        ops.write_off(shop.a1, shop.milk, 1, reason="坏了", lot_id=pen_lot)
    with pytest.raises(ValidationFailed):
        ops.write_off(shop.a2, shop.pen, 1, reason="坏了", lot_id=pen_lot)
    with pytest.raises(ValidationFailed):
        ops.write_off(shop.a1, shop.pen, 1, reason="坏了", lot_id=999_999)
    assert on_hand(shop.a1, shop.pen) == 5


# ---------------------------------------------------------------- adjust


def test_adjustments_go_both_ways_with_a_reason(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5)
    up = ops.adjust_stock(shop.a1, shop.pen, 3, reason="找到一箱")
    down = ops.adjust_stock(shop.a1, shop.pen, -6, reason="数错")
    db.session.commit()
    assert (up.kind, up.quantity, up.balance_after) == ("adjustment", 3, 8)
    assert (down.kind, down.quantity, down.balance_after) == ("adjustment", -6, 2)
    lot = db.session.scalars(select(StockLot).where(StockLot.origin_move_id == up.id)).one()
    assert lot.receipt_line_id is None  # units of unknown origin
    with pytest.raises(ops.OutOfStock):
        ops.adjust_stock(shop.a1, shop.pen, -3, reason="数错")
    db.session.rollback()
    assert on_hand(shop.a1, shop.pen) == 2


# ---------------------------------------------------------------- transfers


def _transfer(shop, lines, to=None):
    return ops.request_transfer(
        from_school_id=shop.a1,
        to_school_id=to or shop.a2,
        lines=[ops.Line(item, quantity) for item, quantity in lines],
        user_id=None,
        note="互助",
    )


def test_transfers_stay_within_one_alliance(db, shop):
    for target in (shop.b1, shop.x, shop.a1, 999_999):
        with pytest.raises(ValidationFailed):
            _transfer(shop, [(shop.pen, 1)], to=target)
    with pytest.raises(ValidationFailed):
        _transfer(shop, [])
    with pytest.raises(ValidationFailed):
        _transfer(shop, [(shop.other_item, 1)])  # another district's catalogue
    db.session.rollback()
    assert count(StockTransfer) == 0


def test_an_approved_transfer_moves_both_schools_and_keeps_the_donor_chain(db, shop):
    line_a = make_receipt_line(shop.a1, shop.milk, 2, date(2031, 1, 1))
    line_b = make_receipt_line(shop.a1, shop.milk, 5, date(2031, 3, 1))
    ops.receive_stock(shop.a1, shop.milk, 2, receipt_line_id=line_a, expiry_date=date(2031, 1, 1))
    ops.receive_stock(shop.a1, shop.milk, 5, receipt_line_id=line_b, expiry_date=date(2031, 3, 1))
    ops.receive_stock(shop.a1, shop.pen, 4)
    transfer = _transfer(shop, [(shop.milk, 4), (shop.pen, 1)])
    db.session.commit()
    assert on_hand(shop.a2, shop.milk) == 0  # a request moves nothing
    moves = ops.approve_transfer(transfer, user_id=None, note="同意")
    db.session.commit()
    assert transfer.status == "approved" and transfer.decision_note == "同意"
    assert sorted((m.school_id, m.item_id, m.kind, m.quantity) for m in moves) == sorted(
        [
            (shop.a1, shop.milk, "transfer_out", -4),
            (shop.a2, shop.milk, "transfer_in", 4),
            (shop.a1, shop.pen, "transfer_out", -1),
            (shop.a2, shop.pen, "transfer_in", 1),
        ]
    )
    assert all(m.transfer_id == transfer.id for m in moves)
    assert (on_hand(shop.a1, shop.milk), on_hand(shop.a2, shop.milk)) == (3, 4)
    new_lots = db.session.scalars(
        select(StockLot)
        .where(StockLot.school_id == shop.a2, StockLot.item_id == shop.milk)
        .order_by(StockLot.id)
    ).all()
    assert [(lot.quantity, lot.receipt_line_id, lot.expiry_date) for lot in new_lots] == [
        (2, line_a, date(2031, 1, 1)),
        (2, line_b, date(2031, 3, 1)),
    ]
    for lot in new_lots:
        parent = db.session.get(StockLot, lot.parent_lot_id)
        assert parent.school_id == shop.a1 and parent.received_at == lot.received_at


def test_an_approval_without_the_goods_moves_nothing(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5)
    ops.receive_stock(shop.a1, shop.book, 1)
    transfer = _transfer(shop, [(shop.pen, 2), (shop.book, 2)])
    db.session.commit()
    before = snapshot()
    with pytest.raises(ops.OutOfStock):
        ops.approve_transfer(transfer, user_id=None)
    db.session.rollback()
    assert snapshot() == before
    assert db.session.get(StockTransfer, transfer.id).status == "requested"


@pytest.mark.parametrize("decision", ["reject", "cancel"])
def test_rejected_or_cancelled_transfers_move_nothing_and_stay_decided(db, shop, decision):
    ops.receive_stock(shop.a1, shop.pen, 5)
    transfer = _transfer(shop, [(shop.pen, 2)])
    db.session.commit()
    before = snapshot()
    if decision == "reject":
        ops.reject_transfer(transfer, user_id=None, note="不需要")
    else:
        ops.cancel_transfer(transfer, user_id=None)
    db.session.commit()
    assert transfer.status == ("rejected" if decision == "reject" else "cancelled")
    assert snapshot() == before
    for again in (
        lambda: ops.approve_transfer(transfer, user_id=None),
        lambda: ops.reject_transfer(transfer, user_id=None, note=None),
        lambda: ops.cancel_transfer(transfer, user_id=None),
    ):
        with pytest.raises(DomainError) as caught:
            again()
        assert caught.value.code == "already_decided"
        db.session.rollback()
    assert snapshot() == before


def test_a_transfer_is_approved_once(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5)
    transfer = _transfer(shop, [(shop.pen, 2)])
    ops.approve_transfer(transfer, user_id=None)
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        ops.approve_transfer(transfer, user_id=None)
    assert caught.value.code == "already_decided"
    db.session.rollback()
    assert (on_hand(shop.a1, shop.pen), on_hand(shop.a2, shop.pen)) == (3, 2)


def test_a_school_that_left_the_alliance_cannot_receive_an_approved_transfer(db, shop):
    from app.org.models import School

    ops.receive_stock(shop.a1, shop.pen, 5)
    transfer = _transfer(shop, [(shop.pen, 2)])
    db.session.get(School, shop.a2).alliance_id = db.session.get(School, shop.b1).alliance_id
    db.session.commit()
    with pytest.raises(DomainError):
        ops.approve_transfer(transfer, user_id=None)
    db.session.rollback()
    assert on_hand(shop.a2, shop.pen) == 0


# ---------------------------------------------------------------- stocktake


def test_a_stocktake_changes_only_counted_items_by_the_difference_to_on_hand_now(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    ops.receive_stock(shop.a1, shop.book, 10)
    ops.receive_stock(shop.a1, shop.milk, 10)
    stocktake = ops.start_stocktake(shop.a1, note="期末盘点")
    db.session.commit()
    assert [(line.item_id, line.expected, line.counted) for line in stocktake.lines] == [
        (shop.pen, 10, None),
        (shop.book, 10, None),
        (shop.milk, 10, None),
    ]
    ops.record_counts(stocktake, {shop.pen: 8, shop.book: 12, shop.milk: 7})
    ops.record_counts(stocktake, {shop.milk: None})  # un-counted again: milk will not change
    db.session.commit()
    ops.take_stock(shop.a1, shop.pen, 3)  # given out while the sheet was being filled
    db.session.commit()
    moves = ops.finalise_stocktake(stocktake, user_id=None)
    db.session.commit()
    assert stocktake.status == "finalised" and stocktake.finalised_at is not None
    assert (on_hand(shop.a1, shop.pen), on_hand(shop.a1, shop.book)) == (8, 12)
    assert on_hand(shop.a1, shop.milk) == 10
    assert sorted((m.item_id, m.kind, m.quantity) for m in moves) == sorted(
        [(shop.pen, "stocktake", 1), (shop.book, "stocktake", 2)]
    )
    assert all(m.stocktake_id == stocktake.id for m in moves)
    differences = {line.item_id: line.difference for line in stocktake.lines}
    assert differences == {shop.pen: 1, shop.book: 2, shop.milk: None}


def test_a_stocktake_of_chosen_items_and_a_count_of_zero(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 4)
    ops.receive_stock(shop.a1, shop.book, 4)
    stocktake = ops.start_stocktake(shop.a1, item_ids=[shop.pen, shop.milk])
    assert [line.item_id for line in stocktake.lines] == [shop.pen, shop.milk]
    with pytest.raises(ValidationFailed):
        ops.record_counts(stocktake, {shop.book: 1})  # not on the sheet
    ops.record_counts(stocktake, {shop.pen: 0, shop.milk: 2})
    ops.finalise_stocktake(stocktake, user_id=None)
    db.session.commit()
    assert on_hand(shop.a1, shop.pen) == 0 and sum(lot_remaining(shop.a1, shop.pen).values()) == 0
    assert on_hand(shop.a1, shop.milk) == 2  # found units of an item not stocked before
    assert on_hand(shop.a1, shop.book) == 4


def test_only_one_open_stocktake_per_school(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 4)
    ops.receive_stock(shop.a2, shop.pen, 4)
    first = ops.start_stocktake(shop.a1)
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        ops.start_stocktake(shop.a1)
    assert caught.value.code == "stocktake_open"
    db.session.rollback()
    ops.start_stocktake(shop.a2)  # another school may count at the same time
    ops.cancel_stocktake(first, user_id=None)
    second = ops.start_stocktake(shop.a1)
    ops.finalise_stocktake(second, user_id=None)  # nothing counted: nothing changes
    ops.start_stocktake(shop.a1)
    db.session.commit()
    assert on_hand(shop.a1, shop.pen) == 4


def test_a_closed_stocktake_takes_no_more_counts(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 4)
    stocktake = ops.start_stocktake(shop.a1)
    ops.record_counts(stocktake, {shop.pen: 1})
    ops.finalise_stocktake(stocktake, user_id=None)
    db.session.commit()
    for call in (
        lambda: ops.record_counts(stocktake, {shop.pen: 2}),
        lambda: ops.finalise_stocktake(stocktake, user_id=None),
        lambda: ops.cancel_stocktake(stocktake, user_id=None),
    ):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code == "stocktake_closed"
        db.session.rollback()
    assert on_hand(shop.a1, shop.pen) == 1


def test_a_stocktake_needs_items(db, shop):
    with pytest.raises(ValidationFailed):
        ops.start_stocktake(shop.a1)  # nothing ever stocked
    with pytest.raises(ValidationFailed):
        ops.start_stocktake(shop.a1, item_ids=[shop.other_item])
    db.session.rollback()


# ---------------------------------------------------------------- reorder level


def test_reorder_level(db, shop):
    level = ops.set_reorder_level(shop.a1, shop.pen, 5)
    assert (level.on_hand, level.reorder_level) == (0, 5)
    for bad in (-1, True, "3", 1.5):
        with pytest.raises(ValidationFailed):
            ops.set_reorder_level(shop.a1, shop.pen, bad)
    assert ops.set_reorder_level(shop.a1, shop.pen, None).reorder_level is None


def test_return_lines_gives_back_a_whole_basket(db, shop):
    ops.receive_stock(shop.a1, shop.pen, 5)
    ops.receive_stock(shop.a1, shop.book, 5)
    taken = ops.take_lines(shop.a1, [ops.Line(shop.book, 2), ops.Line(shop.pen, 1)])
    basket = [db.session.get(StockMove, t.move_id) for t in taken]
    db.session.commit()
    back = ops.return_lines(list(reversed(basket)), reason="兑换作废")
    db.session.commit()
    assert [(m.item_id, m.kind, m.quantity) for m in back] == [
        (shop.pen, "void_return", 1),
        (shop.book, "void_return", 2),
    ]
    assert on_hand(shop.a1, shop.pen) == on_hand(shop.a1, shop.book) == 5
    with pytest.raises(DomainError):
        ops.return_lines(basket)
