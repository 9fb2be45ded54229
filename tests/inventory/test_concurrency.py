"""The stock ledger under concurrency: threads, each with its own app context and session (as
separate requests or workers would), released together by a barrier.

Run on both databases: SQLite by default (BEGIN IMMEDIATE behind the writer lock) and
PostgreSQL with TEST_DATABASE_URL (READ COMMITTED, row locks). A deadlock or any error other
than a refusal (DomainError) propagates from its thread and fails the test.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.inventory import operations as ops
from app.inventory.models import StockLevel, StockMove, Stocktake, StockTransfer
from tests.inventory.stock_helpers import (
    count,
    in_thread,
    ledger_problems,
    make_shop,
    on_hand,
)


@pytest.fixture
def shop(db):
    shop = make_shop()
    yield shop
    db.session.rollback()


def race(app, calls):
    """Run every call in its own thread and session, all released at once; their outcomes."""
    _db.session.commit()  # the test's own session must not hold a transaction (or a lock)
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return in_thread(app, call)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outcomes = list(pool.map(run, calls))
    _db.session.remove()
    return outcomes


def stock_sum_of_moves(school_id, item_id):
    return (
        _db.session.scalar(
            select(func.sum(StockMove.quantity)).where(
                StockMove.school_id == school_id, StockMove.item_id == item_id
            )
        )
        or 0
    )


@pytest.mark.parametrize(("each", "winners", "left"), [(1, 10, 0), (3, 3, 1)])
def test_the_last_units_are_never_oversold(app, db, shop, each, winners, left):
    ops.receive_stock(shop.a1, shop.pen, 10)

    def take():
        ops.take_stock(shop.a1, shop.pen, each)

    outcomes = race(app, [take] * 30)
    assert outcomes.count("ok") == winners
    assert outcomes.count("out_of_stock") == 30 - winners
    assert on_hand(shop.a1, shop.pen) == left
    assert stock_sum_of_moves(shop.a1, shop.pen) == left
    assert count(StockMove, StockMove.kind == "redemption") == winners
    assert ledger_problems() == []


def test_concurrent_receipts_and_takes_lose_no_update(app, db, shop):
    ops.receive_stock(shop.a1, shop.book, 5)

    def receive():
        ops.receive_stock(shop.a1, shop.book, 2)

    def take():
        ops.take_stock(shop.a1, shop.book, 3)

    calls = [receive] * 15 + [take] * 15
    random.Random(7).shuffle(calls)
    outcomes = race(app, calls)
    taken = sum(
        1 for call, outcome in zip(calls, outcomes, strict=True) if call is take and outcome == "ok"
    )
    assert all(
        outcome == "ok" for call, outcome in zip(calls, outcomes, strict=True) if call is receive
    )
    assert on_hand(shop.a1, shop.book) == 5 + 15 * 2 - 3 * taken >= 0
    assert stock_sum_of_moves(shop.a1, shop.book) == on_hand(shop.a1, shop.book)
    assert ledger_problems() == []


def test_the_first_receipts_of_an_item_create_its_stock_row_once(app, db, shop):
    def receive(quantity):
        return lambda: ops.receive_stock(shop.a2, shop.milk, quantity)

    outcomes = race(app, [receive(q) for q in range(1, 13)])
    assert outcomes == ["ok"] * 12
    assert count(StockLevel, StockLevel.school_id == shop.a2, StockLevel.item_id == shop.milk) == 1
    assert on_hand(shop.a2, shop.milk) == sum(range(1, 13))
    assert ledger_problems() == []


def test_multi_item_takes_in_any_order_never_deadlock_and_stay_all_or_nothing(app, db, shop):
    ops.receive_stock(shop.a1, shop.pen, 30)
    ops.receive_stock(shop.a1, shop.book, 30)
    ops.receive_stock(shop.a1, shop.milk, 5)
    rng = random.Random(3)

    def basket(lines):
        return lambda: ops.take_lines(shop.a1, [ops.Line(item, 1) for item in lines])

    three = [basket(rng.sample([shop.pen, shop.book, shop.milk], 3)) for _ in range(20)]
    two = [basket(rng.sample([shop.book, shop.pen], 2)) for _ in range(10)]
    calls = three + two
    rng.shuffle(calls)
    outcomes = race(app, calls)
    full = sum(
        1
        for call, outcome in zip(calls, outcomes, strict=True)
        if call in three and outcome == "ok"
    )
    assert full == 5  # milk ran out after five baskets
    assert all(
        outcome == "ok" for call, outcome in zip(calls, outcomes, strict=True) if call in two
    )
    # The 15 refused baskets took their pen and book and gave them back on rollback.
    assert on_hand(shop.a1, shop.milk) == 0
    assert on_hand(shop.a1, shop.pen) == on_hand(shop.a1, shop.book) == 30 - 5 - 10
    assert ledger_problems() == []


def test_opposite_transfers_approved_at_once_do_not_deadlock(app, db, shop):
    for school in (shop.a1, shop.a2):
        ops.receive_stock(school, shop.pen, 20)
        ops.receive_stock(school, shop.book, 20)
    ids = []
    for sender, receiver in [(shop.a1, shop.a2), (shop.a2, shop.a1)] * 8:
        transfer = ops.request_transfer(
            from_school_id=sender,
            to_school_id=receiver,
            lines=[ops.Line(shop.book, 1), ops.Line(shop.pen, 1)],
            user_id=None,
        )
        ids.append(transfer.id)

    def approve(transfer_id):
        return lambda: ops.approve_transfer(
            _db.session.get(StockTransfer, transfer_id), user_id=None
        )

    outcomes = race(app, [approve(i) for i in ids])
    assert outcomes == ["ok"] * 16
    for school in (shop.a1, shop.a2):
        assert on_hand(school, shop.pen) == on_hand(school, shop.book) == 20
    assert ledger_problems() == []


def test_a_transfer_approved_by_several_people_at_once_moves_once(app, db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    transfer = ops.request_transfer(
        from_school_id=shop.a1, to_school_id=shop.a2, lines=[ops.Line(shop.pen, 4)], user_id=None
    )
    transfer_id = transfer.id

    def approve():
        ops.approve_transfer(_db.session.get(StockTransfer, transfer_id), user_id=None)

    def reject():
        ops.reject_transfer(_db.session.get(StockTransfer, transfer_id), user_id=None, note="否")

    outcomes = race(app, [approve] * 8 + [reject] * 2)
    assert outcomes.count("ok") == 1
    assert outcomes.count("already_decided") == 9
    status = _db.session.get(StockTransfer, transfer_id).status
    moved = 4 if status == "approved" else 0
    assert (on_hand(shop.a1, shop.pen), on_hand(shop.a2, shop.pen)) == (10 - moved, moved)
    assert ledger_problems() == []


def test_a_redemption_voided_twice_at_once_comes_back_once(app, db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    redemption = ops.take_stock(shop.a1, shop.pen, 4)
    move_id = redemption.id

    def void():
        ops.return_stock(_db.session.get(StockMove, move_id))

    outcomes = race(app, [void] * 10)
    assert outcomes.count("ok") == 1
    assert outcomes.count("already_returned") == 9
    assert on_hand(shop.a1, shop.pen) == 10
    assert ledger_problems() == []


def test_two_stocktakes_started_at_once_make_one(app, db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)

    def start():
        ops.start_stocktake(shop.a1)

    outcomes = race(app, [start] * 8)
    assert outcomes.count("ok") == 1
    assert outcomes.count("stocktake_open") == 7
    assert count(Stocktake, Stocktake.status == "open") == 1


def test_a_stocktake_finalised_at_once_by_two_officers_moves_once(app, db, shop):
    ops.receive_stock(shop.a1, shop.pen, 10)
    stocktake = ops.start_stocktake(shop.a1)
    ops.record_counts(stocktake, {shop.pen: 7})
    stocktake_id = stocktake.id

    def finalise():
        ops.finalise_stocktake(_db.session.get(Stocktake, stocktake_id), user_id=None)

    def take():
        ops.take_stock(shop.a1, shop.pen, 1)

    outcomes = race(app, [finalise] * 4 + [take] * 2)
    assert outcomes[:4].count("ok") == 1 and outcomes[:4].count("stocktake_closed") == 3
    assert outcomes[4:] == ["ok", "ok"]
    # 7 counted; the takes happened before or after the finalisation, in either order.
    assert on_hand(shop.a1, shop.pen) in (5, 6, 7)
    assert count(StockMove, StockMove.stocktake_id == stocktake_id) == 1
    assert ledger_problems() == []
