"""The stock ledger's part of ``flask ledger check``.

What must hold at any time, and what each mismatch line says when it does not:

* per school and item: on-hand = the sum of its moves = what its lots still hold = the last
  move's ``balance_after``, and every move's ``balance_after`` is the running sum up to it
  ("on-hand … but moves add up to", "… but lots hold", "… but the last move left",
  "running balance");
* per lot: units in − units left = the units allocated out of it ("lot …: … allocated");
* per move: the lots it opened − the units it allocated = its quantity (a receipt opens a lot
  of its size, a redemption allocates its units, a void-return gives them back), and every
  allocation is to a lot of the move's own school and item ("move …: … lots");
* a void-return gives back exactly one redemption of the same school and item, once;
* an approved transfer moved each line's quantity out of one school and into the other; any
  other transfer moved nothing; a finalised stocktake's moves are its lines' differences.
"""

from __future__ import annotations

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.orm import aliased

from app.extensions import db
from app.inventory.models import (
    LotAllocation,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
    StockTransferLine,
)
from app.ledgers import CheckResult, register_check


def _per_item_totals(problems: list[str]) -> int:
    moves = {
        (s, i): total
        for s, i, total in db.session.execute(
            select(StockMove.school_id, StockMove.item_id, func.sum(StockMove.quantity)).group_by(
                StockMove.school_id, StockMove.item_id
            )
        )
    }
    lots = {
        (s, i): total
        for s, i, total in db.session.execute(
            select(StockLot.school_id, StockLot.item_id, func.sum(StockLot.remaining)).group_by(
                StockLot.school_id, StockLot.item_id
            )
        )
    }
    last_id = (
        select(func.max(StockMove.id))
        .group_by(StockMove.school_id, StockMove.item_id)
        .scalar_subquery()
    )
    last_balance = {
        (s, i): b
        for s, i, b in db.session.execute(
            select(StockMove.school_id, StockMove.item_id, StockMove.balance_after).where(
                StockMove.id.in_(last_id)
            )
        )
    }
    levels = {
        (s, i): on_hand
        for s, i, on_hand in db.session.execute(
            select(StockLevel.school_id, StockLevel.item_id, StockLevel.on_hand)
        )
    }
    for key in sorted(set(levels) | set(moves) | set(lots)):
        on_hand = levels.get(key, 0)
        where = f"school {key[0]} item {key[1]}"
        if on_hand < 0:
            problems.append(f"{where}: on-hand {on_hand} is negative")
        if moves.get(key, 0) != on_hand:
            problems.append(f"{where}: on-hand {on_hand} but moves add up to {moves.get(key, 0)}")
        if lots.get(key, 0) != on_hand:
            problems.append(f"{where}: on-hand {on_hand} but lots hold {lots.get(key, 0)}")
        if key in last_balance and last_balance[key] != on_hand:
            problems.append(
                f"{where}: on-hand {on_hand} but the last move left {last_balance[key]}"
            )
    return len(levels)


def _running_balances(problems: list[str]) -> None:
    """Each move's balance_after is the sum of the moves up to it; the first wrong one per
    school and item is named (one bad move makes all later ones wrong too)."""
    running = (
        select(
            StockMove.id,
            StockMove.school_id,
            StockMove.item_id,
            StockMove.balance_after,
            func.sum(StockMove.quantity)
            .over(partition_by=(StockMove.school_id, StockMove.item_id), order_by=StockMove.id)
            .label("running"),
        )
    ).subquery()
    seen: set[tuple[int, int]] = set()
    for move_id, school_id, item_id, balance, total in db.session.execute(
        select(running).where(running.c.running != running.c.balance_after).order_by(running.c.id)
    ):
        if (school_id, item_id) not in seen:
            seen.add((school_id, item_id))
            problems.append(
                f"move {move_id} (school {school_id} item {item_id}): running balance {total} "
                f"but balance_after {balance}"
            )


def _lots_and_allocations(problems: list[str]) -> None:
    given_out = (
        select(LotAllocation.lot_id, func.sum(LotAllocation.quantity).label("out"))
        .group_by(LotAllocation.lot_id)
        .subquery()
    )
    for lot_id, quantity, remaining, out in db.session.execute(
        select(
            StockLot.id, StockLot.quantity, StockLot.remaining, func.coalesce(given_out.c.out, 0)
        )
        .outerjoin(given_out, given_out.c.lot_id == StockLot.id)
        .where(StockLot.quantity - StockLot.remaining != func.coalesce(given_out.c.out, 0))
        .order_by(StockLot.id)
    ):
        problems.append(f"lot {lot_id}: {quantity} in, {remaining} left, but {out} allocated")

    # Per move: lots opened − units allocated = quantity.
    parts = union_all(
        select(StockLot.origin_move_id.label("move_id"), StockLot.quantity.label("q")),
        select(LotAllocation.move_id, -LotAllocation.quantity),
        select(StockMove.id, literal(0)),
    ).subquery()
    accounted = (
        select(parts.c.move_id, func.sum(parts.c.q).label("q")).group_by(parts.c.move_id).subquery()
    )
    for move_id, kind, quantity, total in db.session.execute(
        select(StockMove.id, StockMove.kind, StockMove.quantity, accounted.c.q)
        .join(accounted, accounted.c.move_id == StockMove.id)
        .where(accounted.c.q != StockMove.quantity)
        .order_by(StockMove.id)
    ):
        problems.append(
            f"move {move_id} ({kind} {quantity:+d}): its lots account for {total:+d} units"
        )

    for move_id, lot_id in db.session.execute(
        select(LotAllocation.move_id, LotAllocation.lot_id)
        .join(StockMove, StockMove.id == LotAllocation.move_id)
        .join(StockLot, StockLot.id == LotAllocation.lot_id)
        .where(
            (StockLot.school_id != StockMove.school_id) | (StockLot.item_id != StockMove.item_id)
        )
        .order_by(LotAllocation.id)
    ):
        problems.append(f"move {move_id}: allocated to lot {lot_id} of another school or item")


def _returns(problems: list[str]) -> None:
    original = aliased(StockMove)
    for move_id, original_id, kind, same_place, sums_to_zero in db.session.execute(
        select(
            StockMove.id,
            original.id,
            original.kind,
            and_(StockMove.school_id == original.school_id, StockMove.item_id == original.item_id),
            StockMove.quantity + original.quantity == 0,
        )
        .join(original, original.id == StockMove.reverses_id)
        .order_by(StockMove.id)
    ):
        if kind != "redemption" or not same_place or not sums_to_zero:
            problems.append(f"move {move_id}: does not give back redemption {original_id} exactly")
    for original_id, count in db.session.execute(
        select(StockMove.reverses_id, func.count())
        .where(StockMove.reverses_id.is_not(None))
        .group_by(StockMove.reverses_id)
        .having(func.count() > 1)
    ):
        problems.append(f"move {original_id}: returned {count} times")
    for move_id in db.session.scalars(
        select(StockMove.id).where(
            (StockMove.kind == "void_return") & StockMove.reverses_id.is_(None)
        )
    ):
        problems.append(f"move {move_id}: a void-return of no redemption")


def _transfers_and_stocktakes(problems: list[str]) -> None:
    lines = {
        (t, i): q
        for t, i, q in db.session.execute(
            select(
                StockTransferLine.transfer_id,
                StockTransferLine.item_id,
                func.sum(StockTransferLine.quantity),
            )
            .join(StockTransfer, StockTransfer.id == StockTransferLine.transfer_id)
            .where(StockTransfer.status == "approved")
            .group_by(StockTransferLine.transfer_id, StockTransferLine.item_id)
        )
    }
    moved: dict[tuple[int, int], dict[tuple[str, int], int]] = {}
    rows = db.session.execute(
        select(
            StockMove.transfer_id,
            StockMove.item_id,
            StockMove.kind,
            StockMove.school_id,
            func.sum(StockMove.quantity),
        )
        .where(StockMove.transfer_id.is_not(None))
        .group_by(StockMove.transfer_id, StockMove.item_id, StockMove.kind, StockMove.school_id)
    )
    for t, i, kind, school_id, q in rows:
        moved.setdefault((t, i), {})[(kind, school_id)] = q
    schools = dict(
        (t, (f, to))
        for t, f, to in db.session.execute(
            select(StockTransfer.id, StockTransfer.from_school_id, StockTransfer.to_school_id)
        )
    )
    for key in sorted(set(lines) | set(moved)):
        transfer_id, item_id = key
        sender, receiver = schools[transfer_id]
        want = lines.get(key, 0)
        expected = (
            {("transfer_out", sender): -want, ("transfer_in", receiver): want} if want else {}
        )
        if moved.get(key, {}) != expected:
            problems.append(
                f"transfer {transfer_id} item {item_id}: lines say {want} but the moves are "
                f"{moved.get(key, {})}"
            )

    differences = {
        (s, i): d
        for s, i, d in db.session.execute(
            select(StocktakeLine.stocktake_id, StocktakeLine.item_id, StocktakeLine.difference)
            .join(Stocktake, Stocktake.id == StocktakeLine.stocktake_id)
            .where(Stocktake.status == "finalised", StocktakeLine.difference != 0)
        )
    }
    found = {
        (s, i): q
        for s, i, q in db.session.execute(
            select(StockMove.stocktake_id, StockMove.item_id, func.sum(StockMove.quantity))
            .where(StockMove.stocktake_id.is_not(None))
            .group_by(StockMove.stocktake_id, StockMove.item_id)
        )
    }
    for key in sorted(set(differences) | set(found)):
        if differences.get(key, 0) != found.get(key, 0):
            problems.append(
                f"stocktake {key[0]} item {key[1]}: difference {differences.get(key, 0)} but "
                f"moves of {found.get(key, 0)}"
            )


@register_check
def check_stock() -> CheckResult:
    """Re-add the stock ledger (see the module docstring); the number of stock rows checked."""
    problems: list[str] = []
    checked = _per_item_totals(problems)
    _running_balances(problems)
    _lots_and_allocations(problems)
    _returns(problems)
    _transfers_and_stocktakes(problems)
    return CheckResult("stock", checked, problems)
