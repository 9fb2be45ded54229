"""Changes to the catalogue and to stock. The stock ledger is changed only here.

How on-hand stays right under concurrency (CORRECTNESS.md): every move changes the cached
``stock_level.on_hand`` with one conditional update,

    UPDATE stock_level SET on_hand = on_hand + :delta
    WHERE school_id = :s AND item_id = :i AND on_hand + :delta >= 0
    RETURNING on_hand

which either succeeds atomically or changes nothing (then: ``OutOfStock``). On PostgreSQL the
updated row stays locked until commit, so the lot bookkeeping that follows in the same
transaction cannot interleave with another move of the same item; on SQLite every write
transaction holds the database's write lock. ``CHECK (on_hand >= 0)`` is the backstop.
A transaction touching several items changes them in item-id order, so two cannot deadlock.

Operations flush and raise; they never commit (the caller commits once, or rolls back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.common import DomainError, ValidationFailed, utcnow
from app.extensions import db
from app.inventory.models import (
    CATEGORIES,
    LIMIT_PERIODS,
    Item,
    LotAllocation,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
    StockTransferLine,
)

MAX_QUANTITY = 1_000_000


class OutOfStock(DomainError):
    code = "out_of_stock"

    def __init__(self, message: str, *, item_id: int | None = None):
        super().__init__(message)
        self.item_id = item_id


class LedgerInconsistent(DomainError):
    """Lots and on-hand disagree: a bug or a hand edit. ``flask ledger check`` names it."""

    code = "ledger_inconsistent"
    status = 500


@dataclass(frozen=True)
class Line:
    item_id: int
    quantity: int


# ---------------------------------------------------------------- the catalogue


def _check_item_fields(
    *,
    name: str,
    category: str,
    unit: str,
    points: int,
    limit_quantity: int | None,
    limit_period: str | None,
    shelf_life_days: int | None,
) -> None:
    if not name.strip():
        raise ValidationFailed(_("Enter a name."), field="name")
    if category not in CATEGORIES:
        raise ValidationFailed(_("Choose a category."), field="category")
    if not unit.strip():
        raise ValidationFailed(_("Enter a unit."), field="unit")
    if not 1 <= points <= MAX_QUANTITY:
        raise ValidationFailed(_("Points must be between 1 and 1,000,000."), field="points")
    if (limit_quantity is None) != (limit_period is None):
        raise ValidationFailed(
            _("A limit needs both a quantity and a period."), field="limit_quantity"
        )
    if limit_quantity is not None and (
        not 1 <= limit_quantity <= 1000 or limit_period not in LIMIT_PERIODS
    ):
        raise ValidationFailed(
            _("The limit must be 1–1000 per month or semester."), field="limit_quantity"
        )
    if shelf_life_days is not None and not 1 <= shelf_life_days <= 3650:
        raise ValidationFailed(_("Shelf life must be 1–3650 days."), field="shelf_life_days")


def create_item(
    *,
    district_id: int,
    name: str,
    category: str,
    unit: str,
    points: int,
    limit_quantity: int | None = None,
    limit_period: str | None = None,
    shelf_life_days: int | None = None,
    description: str | None = None,
) -> Item:
    """Add an item to the district's catalogue."""
    _check_item_fields(
        name=name,
        category=category,
        unit=unit,
        points=points,
        limit_quantity=limit_quantity,
        limit_period=limit_period,
        shelf_life_days=shelf_life_days,
    )
    name = name.strip()
    taken = db.session.scalar(
        select(func.count()).where(Item.district_id == district_id, Item.name == name)
    )
    if taken:
        raise ValidationFailed(_("An item with this name already exists."), field="name")
    item = Item(
        district_id=district_id,
        name=name,
        category=category,
        unit=unit.strip(),
        points=points,
        limit_quantity=limit_quantity,
        limit_period=limit_period,
        shelf_life_days=shelf_life_days,
        description=description,
        active=True,
    )
    db.session.add(item)
    db.session.flush()
    return item


def update_item(item: Item, **fields: object) -> Item:
    """Change an item. A new points price applies to redemptions from now on."""
    merged = {
        key: fields.get(key, getattr(item, key))
        for key in (
            "name",
            "category",
            "unit",
            "points",
            "limit_quantity",
            "limit_period",
            "shelf_life_days",
        )
    }
    _check_item_fields(**merged)  # type: ignore[arg-type]
    name = str(merged["name"]).strip()
    taken = db.session.scalar(
        select(func.count()).where(
            Item.district_id == item.district_id, Item.name == name, Item.id != item.id
        )
    )
    if taken:
        raise ValidationFailed(_("An item with this name already exists."), field="name")
    for key, value in merged.items():
        setattr(item, key, value.strip() if isinstance(value, str) else value)
    for key in ("description", "active", "photo"):
        if key in fields:
            setattr(item, key, fields[key])
    db.session.flush()
    return item


# ---------------------------------------------------------------- the ledger's core


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed(_("The quantity must be a whole number."), field="quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed(_("The quantity must be between 1 and 1,000,000."), field="quantity")


def _ensure_level(school_id: int, item_id: int) -> None:
    """Create the (school, item) stock row if missing; a concurrent creator is harmless."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(StockLevel)
        .values(school_id=school_id, item_id=item_id, on_hand=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["school_id", "item_id"])
    )
    db.session.execute(stmt)


def _change_on_hand(school_id: int, item_id: int, delta: int) -> int | None:
    """The conditional update; the new on-hand, or None if it would go below zero."""
    _ensure_level(school_id, item_id)
    stmt = (
        update(StockLevel)
        .where(
            StockLevel.school_id == school_id,
            StockLevel.item_id == item_id,
            StockLevel.on_hand + delta >= 0,
        )
        .values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow())
        .returning(StockLevel.on_hand)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).scalar()


def _new_move(
    school_id: int,
    item_id: int,
    kind: str,
    delta: int,
    balance: int,
    user_id: int | None,
    reason: str | None,
    **refs: int | None,
) -> StockMove:
    move = StockMove(
        school_id=school_id,
        item_id=item_id,
        kind=kind,
        quantity=delta,
        balance_after=balance,
        reason=(reason or None) and reason[:200],
        created_by_id=user_id,
        created_at=utcnow(),
        **refs,
    )
    db.session.add(move)
    db.session.flush()
    return move


def _open_lot(
    move: StockMove,
    quantity: int,
    *,
    expiry_date: date | None = None,
    receipt_line_id: int | None = None,
    parent: StockLot | None = None,
) -> StockLot:
    lot = StockLot(
        school_id=move.school_id,
        item_id=move.item_id,
        quantity=quantity,
        remaining=quantity,
        received_at=parent.received_at if parent else move.created_at,
        expiry_date=expiry_date,
        origin_move_id=move.id,
        receipt_line_id=receipt_line_id,
        parent_lot_id=parent.id if parent else None,
    )
    db.session.add(lot)
    db.session.flush()
    return lot


def _allocate(move: StockMove, quantity: int, *, lot_id: int | None = None) -> list[LotAllocation]:
    """Take ``quantity`` units of the move's item from its lots: earliest expiry, then oldest."""
    stmt = select(StockLot).where(
        StockLot.school_id == move.school_id,
        StockLot.item_id == move.item_id,
        StockLot.remaining > 0,
    )
    if lot_id is not None:
        stmt = stmt.where(StockLot.id == lot_id)
    stmt = stmt.order_by(
        StockLot.expiry_date.is_(None), StockLot.expiry_date, StockLot.received_at, StockLot.id
    ).execution_options(populate_existing=True)
    allocations = []
    need = quantity
    for lot in db.session.scalars(stmt):
        take = min(lot.remaining, need)
        lot.remaining -= take
        allocation = LotAllocation(move_id=move.id, lot_id=lot.id, quantity=take)
        db.session.add(allocation)
        allocations.append(allocation)
        need -= take
        if need == 0:
            break
    if need:
        if lot_id is not None:
            raise OutOfStock(_("That batch does not have enough units left."), item_id=move.item_id)
        raise LedgerInconsistent(
            f"school {move.school_id} item {move.item_id}: lots short by {need} units"
        )
    db.session.flush()
    return allocations


def _inflow(
    school_id: int,
    item_id: int,
    quantity: int,
    kind: str,
    *,
    user_id: int | None,
    reason: str | None = None,
    expiry_date: date | None = None,
    receipt_line_id: int | None = None,
    **refs: int | None,
) -> StockMove:
    _check_quantity(quantity)
    balance = _change_on_hand(school_id, item_id, quantity)
    assert balance is not None  # an increase always succeeds
    move = _new_move(
        school_id,
        item_id,
        kind,
        quantity,
        balance,
        user_id,
        reason,
        receipt_line_id=receipt_line_id,
        **refs,
    )
    _open_lot(move, quantity, expiry_date=expiry_date, receipt_line_id=receipt_line_id)
    return move


def _outflow(
    school_id: int,
    item_id: int,
    quantity: int,
    kind: str,
    *,
    user_id: int | None,
    reason: str | None = None,
    lot_id: int | None = None,
    **refs: int | None,
) -> StockMove:
    _check_quantity(quantity)
    balance = _change_on_hand(school_id, item_id, -quantity)
    if balance is None:
        name = db.session.scalar(select(Item.name).where(Item.id == item_id)) or str(item_id)
        raise OutOfStock(_("Not enough %(item)s in stock.", item=name), item_id=item_id)
    move = _new_move(school_id, item_id, kind, -quantity, balance, user_id, reason, **refs)
    _allocate(move, quantity, lot_id=lot_id)
    return move


# ---------------------------------------------------------------- public operations


def receive_stock(
    school_id: int,
    item_id: int,
    quantity: int,
    *,
    user_id: int | None = None,
    receipt_line_id: int | None = None,
    expiry_date: date | None = None,
    reason: str | None = None,
) -> StockMove:
    """Goods arrived (a receipt line): on-hand up, a new lot that remembers the receipt line."""
    return _inflow(
        school_id,
        item_id,
        quantity,
        "receipt",
        user_id=user_id,
        reason=reason,
        expiry_date=expiry_date,
        receipt_line_id=receipt_line_id,
    )


def take_stock(
    school_id: int,
    item_id: int,
    quantity: int,
    *,
    kind: str = "redemption",
    user_id: int | None = None,
    reason: str | None = None,
    lot_id: int | None = None,
) -> StockMove:
    """Units leave the shelf (redemption, write-off …); ``OutOfStock`` if there are too few."""
    if kind not in ("redemption", "write_off"):
        raise ValueError(f"take_stock does not do {kind!r}")
    return _outflow(
        school_id, item_id, quantity, kind, user_id=user_id, reason=reason, lot_id=lot_id
    )


def take_lines(
    school_id: int,
    lines: Iterable[Line],
    *,
    kind: str = "redemption",
    user_id: int | None = None,
    reason: str | None = None,
) -> list[StockMove]:
    """Several items at once, all or nothing (the caller rolls back on ``OutOfStock``).

    Items are changed in id order so that two transactions never wait on each other's rows.
    """
    merged: dict[int, int] = {}
    for line in lines:
        merged[line.item_id] = merged.get(line.item_id, 0) + line.quantity
    return [
        take_stock(school_id, item_id, merged[item_id], kind=kind, user_id=user_id, reason=reason)
        for item_id in sorted(merged)
    ]


def write_off(
    school_id: int,
    item_id: int,
    quantity: int,
    *,
    reason: str,
    user_id: int | None = None,
    lot_id: int | None = None,
) -> StockMove:
    """报损: expired or damaged goods leave stock, with a reason (and the batch, if known)."""
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason for the write-off."), field="reason")
    return _outflow(
        school_id,
        item_id,
        quantity,
        "write_off",
        user_id=user_id,
        reason=reason.strip(),
        lot_id=lot_id,
    )


def adjust_stock(
    school_id: int, item_id: int, delta: int, *, reason: str, user_id: int | None = None
) -> StockMove:
    """A correction with a reason: positive adds a lot of unknown origin, negative takes."""
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason for the adjustment."), field="reason")
    if delta == 0:
        raise ValidationFailed(_("The adjustment cannot be zero."), field="quantity")
    if delta > 0:
        return _inflow(
            school_id, item_id, delta, "adjustment", user_id=user_id, reason=reason.strip()
        )
    return _outflow(
        school_id, item_id, -delta, "adjustment", user_id=user_id, reason=reason.strip()
    )


def return_stock(
    original: StockMove, *, user_id: int | None = None, reason: str | None = None
) -> StockMove:
    """Give back the units of an outflow (a voided redemption) to the very lots they left."""
    if original.kind != "redemption":
        raise ValueError("only redemptions are returned")
    already = db.session.scalar(select(func.count()).where(StockMove.reverses_id == original.id))
    if already:
        raise DomainError(_("These goods have already been returned."), code="already_returned")
    quantity = -original.quantity
    balance = _change_on_hand(original.school_id, original.item_id, quantity)
    assert balance is not None
    move = _new_move(
        original.school_id,
        original.item_id,
        "void_return",
        quantity,
        balance,
        user_id,
        reason,
        reverses_id=original.id,
    )
    for allocation in db.session.scalars(
        select(LotAllocation).where(LotAllocation.move_id == original.id)
    ):
        db.session.execute(
            update(StockLot)
            .where(StockLot.id == allocation.lot_id)
            .values(remaining=StockLot.remaining + allocation.quantity)
            .execution_options(synchronize_session=False)
        )
        db.session.add(
            LotAllocation(move_id=move.id, lot_id=allocation.lot_id, quantity=-allocation.quantity)
        )
    db.session.flush()
    return move


def set_reorder_level(school_id: int, item_id: int, level: int | None) -> StockLevel:
    """The on-hand below which the item is marked low and suggested for the needs list."""
    if level is not None and not 0 <= level <= MAX_QUANTITY:
        raise ValidationFailed(_("The low-stock level must be 0 or more."), field="level")
    _ensure_level(school_id, item_id)
    row = db.session.scalars(
        select(StockLevel).where(StockLevel.school_id == school_id, StockLevel.item_id == item_id)
    ).one()
    row.reorder_level = level
    db.session.flush()
    return row


# ---------------------------------------------------------------- transfers (共同体互助)


def request_transfer(
    *,
    from_school_id: int,
    to_school_id: int,
    lines: Iterable[Line],
    user_id: int | None,
    note: str | None = None,
) -> StockTransfer:
    """The sending school proposes to pass goods to another school of its alliance."""
    from app.org.models import School

    source = db.session.get(School, from_school_id)
    target = db.session.get(School, to_school_id)
    if source is None or target is None or source.id == target.id:
        raise ValidationFailed(_("Choose another school."), field="to_school_id")
    if source.alliance_id is None or source.alliance_id != target.alliance_id:
        raise ValidationFailed(
            _("Goods can only be passed within one alliance."), field="to_school_id"
        )
    lines = list(lines)
    if not lines:
        raise ValidationFailed(_("Add at least one item."), field="lines")
    transfer = StockTransfer(
        from_school_id=source.id,
        to_school_id=target.id,
        alliance_id=source.alliance_id,
        status="requested",
        note=note,
        requested_by_id=user_id,
        requested_at=utcnow(),
    )
    db.session.add(transfer)
    db.session.flush()
    for line in lines:
        _check_quantity(line.quantity)
        db.session.add(
            StockTransferLine(transfer_id=transfer.id, item_id=line.item_id, quantity=line.quantity)
        )
    db.session.flush()
    return transfer


def _decide(transfer: StockTransfer, status: str, user_id: int | None, note: str | None) -> None:
    if transfer.status != "requested":
        raise DomainError(_("This transfer has already been decided."), code="already_decided")
    transfer.status = status
    transfer.decided_at = utcnow()
    transfer.decided_by_id = user_id
    transfer.decision_note = note


def approve_transfer(
    transfer: StockTransfer, *, user_id: int | None, note: str | None = None
) -> list[StockMove]:
    """Approve and carry out: out of the sender, into the receiver, lots and donor chain kept."""
    _decide(transfer, "approved", user_id, note)
    moves = []
    for line in sorted(transfer.lines, key=lambda ln: ln.item_id):
        out = _outflow(
            transfer.from_school_id,
            line.item_id,
            line.quantity,
            "transfer_out",
            user_id=user_id,
            transfer_id=transfer.id,
        )
        balance = _change_on_hand(transfer.to_school_id, line.item_id, line.quantity)
        assert balance is not None
        into = _new_move(
            transfer.to_school_id,
            line.item_id,
            "transfer_in",
            line.quantity,
            balance,
            user_id,
            None,
            transfer_id=transfer.id,
        )
        for allocation in db.session.scalars(
            select(LotAllocation).where(LotAllocation.move_id == out.id)
        ):
            parent = db.session.get(StockLot, allocation.lot_id)
            _open_lot(
                into,
                allocation.quantity,
                expiry_date=parent.expiry_date,
                receipt_line_id=parent.receipt_line_id,
                parent=parent,
            )
        moves += [out, into]
    db.session.flush()
    return moves


def reject_transfer(transfer: StockTransfer, *, user_id: int | None, note: str | None) -> None:
    _decide(transfer, "rejected", user_id, note)
    db.session.flush()


def cancel_transfer(transfer: StockTransfer, *, user_id: int | None) -> None:
    _decide(transfer, "cancelled", user_id, None)
    db.session.flush()


# ---------------------------------------------------------------- stocktake (盘点)


def start_stocktake(
    school_id: int,
    *,
    item_ids: Iterable[int] | None = None,
    user_id: int | None = None,
    note: str | None = None,
) -> Stocktake:
    """A count sheet for some or all items the school stocks (or has ever stocked)."""
    open_one = db.session.scalar(
        select(func.count()).where(Stocktake.school_id == school_id, Stocktake.status == "open")
    )
    if open_one:
        raise DomainError(_("Finish or cancel the open stocktake first."), code="stocktake_open")
    levels = dict(
        db.session.execute(
            select(StockLevel.item_id, StockLevel.on_hand).where(StockLevel.school_id == school_id)
        ).all()
    )
    wanted = sorted(set(item_ids) if item_ids is not None else set(levels))
    if not wanted:
        raise ValidationFailed(_("Choose at least one item to count."), field="item_ids")
    stocktake = Stocktake(
        school_id=school_id, status="open", note=note, created_by_id=user_id, created_at=utcnow()
    )
    db.session.add(stocktake)
    db.session.flush()
    for item_id in wanted:
        db.session.add(
            StocktakeLine(
                stocktake_id=stocktake.id, item_id=item_id, expected=levels.get(item_id, 0)
            )
        )
    db.session.flush()
    return stocktake


def record_counts(stocktake: Stocktake, counts: dict[int, int | None]) -> None:
    """Enter counted quantities (None clears a count: that item will not change)."""
    if stocktake.status != "open":
        raise DomainError(_("This stocktake is closed."), code="stocktake_closed")
    by_item = {line.item_id: line for line in stocktake.lines}
    for item_id, counted in counts.items():
        line = by_item.get(item_id)
        if line is None:
            raise ValidationFailed(_("That item is not on this count sheet."), field="counts")
        if counted is not None and not 0 <= counted <= MAX_QUANTITY:
            raise ValidationFailed(_("A count must be 0 or more."), field="counts")
        line.counted = counted
    db.session.flush()


def finalise_stocktake(stocktake: Stocktake, *, user_id: int | None) -> list[StockMove]:
    """Set each counted item's on-hand to its count, by a 'stocktake' move of the difference.

    The difference is taken against on-hand *now*, so goods given out while counting are not
    counted twice — count with the counter closed for an exact result.
    """
    if stocktake.status != "open":
        raise DomainError(_("This stocktake is closed."), code="stocktake_closed")
    moves = []
    for line in sorted(stocktake.lines, key=lambda ln: ln.item_id):
        if line.counted is None:
            continue
        _ensure_level(stocktake.school_id, line.item_id)
        # Lock the row while the difference is worked out (PostgreSQL; SQLite's write
        # transaction holds the whole database already).
        on_hand = db.session.scalar(
            select(StockLevel.on_hand)
            .where(StockLevel.school_id == stocktake.school_id, StockLevel.item_id == line.item_id)
            .with_for_update()
        )
        difference = line.counted - on_hand
        line.difference = difference
        reason = _("Stocktake #%(id)d", id=stocktake.id)
        if difference > 0:
            moves.append(
                _inflow(
                    stocktake.school_id,
                    line.item_id,
                    difference,
                    "stocktake",
                    user_id=user_id,
                    reason=reason,
                    stocktake_id=stocktake.id,
                )
            )
        elif difference < 0:
            moves.append(
                _outflow(
                    stocktake.school_id,
                    line.item_id,
                    -difference,
                    "stocktake",
                    user_id=user_id,
                    reason=reason,
                    stocktake_id=stocktake.id,
                )
            )
    stocktake.status = "finalised"
    stocktake.finalised_at = utcnow()
    stocktake.finalised_by_id = user_id
    db.session.flush()
    return moves


def cancel_stocktake(stocktake: Stocktake, *, user_id: int | None) -> None:
    if stocktake.status != "open":
        raise DomainError(_("This stocktake is closed."), code="stocktake_closed")
    stocktake.status = "cancelled"
    stocktake.finalised_by_id = user_id
    stocktake.finalised_at = utcnow()
    db.session.flush()
