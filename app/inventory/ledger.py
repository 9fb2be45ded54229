"""The stock ledger's part of ``flask ledger check``."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.inventory.models import LotAllocation, StockLevel, StockLot, StockMove
from app.ledgers import CheckResult, register_check


@register_check
def check_stock() -> CheckResult:
    """For every school and item: on-hand = sum of moves = sum of lots' remaining = the last
    move's balance_after; every lot's allocations add up to what it gave out."""
    problems: list[str] = []
    moves = dict(
        ((s, i), total)
        for s, i, total in db.session.execute(
            select(StockMove.school_id, StockMove.item_id, func.sum(StockMove.quantity)).group_by(
                StockMove.school_id, StockMove.item_id
            )
        )
    )
    lots = dict(
        ((s, i), total)
        for s, i, total in db.session.execute(
            select(StockLot.school_id, StockLot.item_id, func.sum(StockLot.remaining)).group_by(
                StockLot.school_id, StockLot.item_id
            )
        )
    )
    last_id = (
        select(func.max(StockMove.id))
        .group_by(StockMove.school_id, StockMove.item_id)
        .scalar_subquery()
    )
    last_balance = dict(
        ((s, i), b)
        for s, i, b in db.session.execute(
            select(StockMove.school_id, StockMove.item_id, StockMove.balance_after).where(
                StockMove.id.in_(last_id)
            )
        )
    )
    levels = {
        (s, i): on_hand
        for s, i, on_hand in db.session.execute(
            select(StockLevel.school_id, StockLevel.item_id, StockLevel.on_hand)
        )
    }
    for key in sorted(set(levels) | set(moves) | set(lots)):
        on_hand = levels.get(key, 0)
        where = f"school {key[0]} item {key[1]}"
        if moves.get(key, 0) != on_hand:
            problems.append(f"{where}: on-hand {on_hand} but moves add up to {moves.get(key, 0)}")
        if lots.get(key, 0) != on_hand:
            problems.append(f"{where}: on-hand {on_hand} but lots hold {lots.get(key, 0)}")
        if key in last_balance and last_balance[key] != on_hand:
            problems.append(
                f"{where}: on-hand {on_hand} but the last move left {last_balance[key]}"
            )
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
    ):
        problems.append(f"lot {lot_id}: {quantity} in, {remaining} left, but {out} allocated")
    return CheckResult("stock", len(levels), problems)
