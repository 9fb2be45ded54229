"""``flask ledger check`` on the stock ledger: clean after real operations, and a named
mismatch for each kind of row changed behind the operations' back (raw SQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from app.inventory import operations as ops
from app.inventory.models import LotAllocation, StockLot, StockMove, Stocktake, StockTransfer
from tests.inventory.stock_helpers import make_receipt_line, make_shop


@pytest.fixture
def history(db):
    """A little of everything at school a1 (and a transfer to a2); committed."""
    shop = make_shop()
    line = make_receipt_line(shop.a1, shop.milk, 6, date(2031, 1, 1))
    ops.receive_stock(shop.a1, shop.milk, 6, receipt_line_id=line, expiry_date=date(2031, 1, 1))
    ops.receive_stock(shop.a1, shop.milk, 4)
    ops.receive_stock(shop.a1, shop.pen, 10)
    redemption = ops.take_stock(shop.a1, shop.milk, 7)  # spans both milk lots
    kept = ops.take_stock(shop.a1, shop.pen, 2)
    ops.return_stock(redemption)
    ops.take_stock(shop.a1, shop.milk, 2)
    ops.write_off(shop.a1, shop.milk, 1, reason="过期")
    ops.adjust_stock(shop.a1, shop.pen, 3, reason="找到")
    ops.adjust_stock(shop.a1, shop.pen, -1, reason="数错")
    transfer = ops.request_transfer(
        from_school_id=shop.a1, to_school_id=shop.a2, lines=[ops.Line(shop.milk, 3)], user_id=None
    )
    ops.approve_transfer(transfer, user_id=None)
    stocktake = ops.start_stocktake(shop.a1)
    ops.record_counts(stocktake, {shop.pen: 12})
    ops.finalise_stocktake(stocktake, user_id=None)
    db.session.commit()
    return {
        "shop": shop,
        "redemption": redemption.id,
        "kept": kept.id,
        "transfer": transfer.id,
        "stocktake": stocktake.id,
    }


def check(runner, db):
    db.session.commit()  # the CLI shares the test's app context and session
    return runner.invoke(args=["ledger", "check"])


def mismatches(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("  MISMATCH stock:")]


def test_the_check_is_clean_after_real_operations(runner, db, history):
    result = check(runner, db)
    assert result.exit_code == 0, result.output
    # a1: milk, pen; a2: milk.
    assert "stock: 3 checked, ok" in result.output


def test_an_on_hand_changed_by_hand_is_named(runner, db, history):
    shop = history["shop"]
    db.session.execute(
        text("UPDATE stock_level SET on_hand = on_hand + 5 WHERE school_id = :s AND item_id = :i"),
        {"s": shop.a1, "i": shop.pen},
    )
    result = check(runner, db)
    assert result.exit_code == 1
    where = f"school {shop.a1} item {shop.pen}"
    assert mismatches(result) == [
        f"  MISMATCH stock: {where}: on-hand 17 but moves add up to 12",
        f"  MISMATCH stock: {where}: on-hand 17 but lots hold 12",
        f"  MISMATCH stock: {where}: on-hand 17 but the last move left 12",
    ]


def test_a_lot_changed_by_hand_is_named(runner, db, history):
    shop = history["shop"]
    lot_id = db.session.scalar(
        select(StockLot.id).where(
            StockLot.school_id == shop.a1, StockLot.item_id == shop.pen, StockLot.remaining > 0
        )
    )
    db.session.execute(
        text("UPDATE stock_lot SET remaining = remaining - 1 WHERE id = :l"), {"l": lot_id}
    )
    result = check(runner, db)
    assert result.exit_code == 1
    lines = mismatches(result)
    assert (
        f"  MISMATCH stock: school {shop.a1} item {shop.pen}: on-hand 12 but lots hold 11" in lines
    )
    assert any(
        line.startswith(f"  MISMATCH stock: lot {lot_id}: ") and "allocated" in line
        for line in lines
    )
    assert len(lines) == 2


def test_an_allocation_changed_by_hand_is_named(runner, db, history):
    allocation = db.session.scalars(
        select(LotAllocation).where(LotAllocation.move_id == history["kept"])
    ).one()
    lot_id = allocation.lot_id
    db.session.execute(
        text("UPDATE lot_allocation SET quantity = 3 WHERE id = :a"), {"a": allocation.id}
    )
    result = check(runner, db)
    assert result.exit_code == 1
    lines = mismatches(result)
    assert any(
        line.startswith(f"  MISMATCH stock: lot {lot_id}: ") and "but 4 allocated" in line
        for line in lines
    ), lines
    assert (
        f"  MISMATCH stock: move {history['kept']} (redemption -2): its lots account for -3 units"
        in lines
    )
    assert len(lines) == 2  # on-hand, moves and lots still agree


def test_an_allocation_to_another_items_lot_is_named(runner, db, history):
    shop = history["shop"]
    milk_lot = db.session.scalar(
        select(StockLot.id).where(StockLot.school_id == shop.a1, StockLot.item_id == shop.milk)
    )
    db.session.execute(
        text("UPDATE lot_allocation SET lot_id = :l WHERE move_id = :m"),
        {"l": milk_lot, "m": history["kept"]},
    )
    result = check(runner, db)
    assert result.exit_code == 1
    assert (
        f"  MISMATCH stock: move {history['kept']}: allocated to lot {milk_lot} "
        "of another school or item" in mismatches(result)
    )


def test_a_move_changed_by_hand_is_named_with_its_running_balance(runner, db, history):
    shop = history["shop"]
    first = db.session.scalar(
        select(StockMove.id)
        .where(StockMove.school_id == shop.a1, StockMove.item_id == shop.pen)
        .order_by(StockMove.id)
    )
    db.session.execute(text("UPDATE stock_move SET balance_after = 9 WHERE id = :m"), {"m": first})
    result = check(runner, db)
    assert result.exit_code == 1
    assert mismatches(result) == [
        f"  MISMATCH stock: move {first} (school {shop.a1} item {shop.pen}): running balance 10 "
        "but balance_after 9"
    ]
    db.session.execute(
        text("UPDATE stock_move SET balance_after = 10, quantity = 11 WHERE id = :m"), {"m": first}
    )
    lines = mismatches(check(runner, db))
    assert (
        f"  MISMATCH stock: school {shop.a1} item {shop.pen}: on-hand 12 but moves add up to 13"
        in lines
    )
    assert any("running balance 11 but balance_after 10" in line for line in lines)
    assert any(
        f"move {first} (receipt +11): its lots account for +10 units" in line for line in lines
    )


def test_a_redemption_returned_twice_is_named(runner, db, history):
    from app.common import utcnow

    shop = history["shop"]
    original = db.session.get(StockMove, history["redemption"])
    # A second void-return written straight into the table, bypassing return_stock's guard.
    db.session.add(
        StockMove(
            school_id=shop.a1,
            item_id=shop.milk,
            kind="void_return",
            quantity=-original.quantity,
            balance_after=0,
            reverses_id=original.id,
            created_at=utcnow(),
        )
    )
    result = check(runner, db)
    assert result.exit_code == 1
    assert f"  MISMATCH stock: move {original.id}: returned 2 times" in mismatches(result)


def test_a_transfer_whose_status_was_changed_by_hand_is_named(runner, db, history):
    shop = history["shop"]
    db.session.execute(
        text("UPDATE stock_transfer SET status = 'rejected' WHERE id = :t"),
        {"t": history["transfer"]},
    )
    result = check(runner, db)
    assert result.exit_code == 1
    (line,) = mismatches(result)
    assert line.startswith(
        f"  MISMATCH stock: transfer {history['transfer']} item {shop.milk}: lines say 0"
    )


def test_a_stocktake_line_changed_by_hand_is_named(runner, db, history):
    shop = history["shop"]
    db.session.execute(
        text(
            "UPDATE stocktake_line SET difference = difference + 1 "
            "WHERE stocktake_id = :s AND item_id = :i"
        ),
        {"s": history["stocktake"], "i": shop.pen},
    )
    result = check(runner, db)
    assert result.exit_code == 1
    assert mismatches(result) == [
        f"  MISMATCH stock: stocktake {history['stocktake']} item {shop.pen}: "
        "difference 3 but moves of 2"
    ]


def test_the_fixture_really_exercised_every_kind(db, history):
    kinds = set(db.session.scalars(select(StockMove.kind)))
    assert kinds == {
        "receipt",
        "redemption",
        "void_return",
        "write_off",
        "adjustment",
        "transfer_out",
        "transfer_in",
        "stocktake",
    }
    assert db.session.get(StockTransfer, history["transfer"]).status == "approved"
    assert db.session.get(Stocktake, history["stocktake"]).status == "finalised"
