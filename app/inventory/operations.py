"""Changes to the catalogue and to stock. The stock ledger is changed only here.

How on-hand stays right under concurrency (CORRECTNESS.md): every move changes the cached
``stock_level.on_hand`` with one conditional update,

    UPDATE stock_level SET on_hand = on_hand + :delta
    WHERE school_id = :s AND item_id = :i AND on_hand + :delta >= 0
    RETURNING id, on_hand

which either succeeds atomically or changes nothing (then: ``OutOfStock``, nothing written).
``CHECK (on_hand >= 0)`` is the backstop.

PostgreSQL (READ COMMITTED): the updated row stays locked until commit, and every statement
reads the latest commit, so the lot bookkeeping that follows (lots read ``FOR UPDATE``) cannot
interleave with another move of the same item. Lock order is always: a status row (transfer,
stocktake, the redemption being voided) → stock rows in (item id, school id) order → that
item's lots. Two transactions therefore never deadlock. Status checks ("still requested?",
"not yet returned?", "no open stocktake?") are made after locking the row they depend on.

SQLite: every write transaction starts with ``BEGIN IMMEDIATE`` behind the writer lock
(app/database.py), so transactions that write never overlap; ``FOR UPDATE`` is dropped there.

Operations validate before they write, flush and raise; they never commit (the caller commits
once, or rolls back — always on an error in a transaction that already wrote something).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

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
    if not _is_whole(points) or not 1 <= points <= MAX_QUANTITY:
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


def _is_whole(value: object) -> bool:
    """An int that is not a bool (``True`` would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_quantity(quantity: object, field: str = "quantity") -> int:
    if not _is_whole(quantity):
        raise ValidationFailed(_("The quantity must be a whole number."), field=field)
    if not 1 <= quantity <= MAX_QUANTITY:  # type: ignore[operator]
        raise ValidationFailed(_("The quantity must be between 1 and 1,000,000."), field=field)
    return quantity  # type: ignore[return-value]


def _ensure_level(school_id: int, item_id: int) -> None:
    """Create the (school, item) stock row if missing; a concurrent creator is harmless.

    PostgreSQL: a second inserter of the same key waits for the first to commit and then does
    nothing. SQLite: writers are serialised anyway.
    """
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(StockLevel)
        .values(school_id=school_id, item_id=item_id, on_hand=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["school_id", "item_id"])
    )
    db.session.execute(stmt)


# Built once (statement construction costs more than the SQLite statement itself), on the
# table rather than the model, so the ORM's bulk-update bookkeeping is skipped; the values are
# bound per call.
_LEVELS = StockLevel.__table__
_CHANGE_ON_HAND = (
    update(_LEVELS)
    .where(
        _LEVELS.c.school_id == bindparam("b_school"),
        _LEVELS.c.item_id == bindparam("b_item"),
        _LEVELS.c.on_hand + bindparam("b_delta") >= 0,
    )
    .values(on_hand=_LEVELS.c.on_hand + bindparam("b_delta"), updated_at=bindparam("b_now"))
    .returning(_LEVELS.c.id, _LEVELS.c.on_hand)
)


def _change_on_hand(school_id: int, item_id: int, delta: int) -> int | None:
    """The conditional update; the new on-hand, or None if it would go below zero.

    An outflow never creates the row (no row means nothing on hand: ``OutOfStock`` and nothing
    written). An inflow tries the update first and creates the row only the first time, so the
    common case is one statement (and no burnt id from an INSERT … ON CONFLICT per move).
    """
    params = {"b_school": school_id, "b_item": item_id, "b_delta": delta, "b_now": utcnow()}
    row = db.session.execute(_CHANGE_ON_HAND, params).one_or_none()
    if row is None and delta > 0:
        _ensure_level(school_id, item_id)
        row = db.session.execute(_CHANGE_ON_HAND, params).one_or_none()
    if row is None:
        return None
    level_id, on_hand = row
    # synchronize_session=False leaves a StockLevel already loaded in this session (a page
    # that read it, set_reorder_level) with the old on-hand; bring it in step with the row.
    loaded = db.session.identity_map.get(identity_key(StockLevel, level_id))
    if loaded is not None:
        set_committed_value(loaded, "on_hand", on_hand)
        set_committed_value(loaded, "updated_at", params["b_now"])
    return on_hand


def _lock_levels(
    keys: Iterable[tuple[int, int]], *, create: bool = True
) -> dict[tuple[int, int], int]:
    """Lock several (school, item) stock rows (creating missing ones); their on-hand by key.

    Every transaction that touches more than one stock row locks them in one global order,
    (item id, school id), so two can never wait on each other: take_lines (one school, item
    order), transfers (two schools) and stocktakes all follow it. On SQLite ``FOR UPDATE`` is
    dropped and the write transaction holds the database already.
    """
    ordered = sorted(set(keys), key=lambda key: (key[1], key[0]))
    if create:
        for school_id, item_id in ordered:
            _ensure_level(school_id, item_id)
    on_hand: dict[tuple[int, int], int] = {}
    for school_id, item_id in ordered:
        value = db.session.execute(
            select(StockLevel.on_hand)
            .where(StockLevel.school_id == school_id, StockLevel.item_id == item_id)
            .with_for_update()
        ).scalar_one_or_none()
        on_hand[(school_id, item_id)] = value or 0
    return on_hand


def _lock_row(obj: object) -> None:
    """Re-read ``obj`` under a row lock (PostgreSQL) so a status check sees the last commit.

    Without it two officers approving the same transfer (or finalising the same stocktake) at
    once would both see "requested"/"open" in their own snapshot and both carry it out.
    ``key_share``: FOR NO KEY UPDATE does not block rows that merely reference this one.
    """
    model = type(obj)
    db.session.execute(
        select(model)
        .where(model.id == obj.id)  # type: ignore[attr-defined]
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


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
        # A transferred lot keeps its age, so first-in-first-out still means the oldest goods.
        received_at=parent.received_at if parent else move.created_at,
        expiry_date=expiry_date,
        origin_move_id=move.id,
        receipt_line_id=receipt_line_id,
        parent_lot_id=parent.id if parent else None,
    )
    db.session.add(lot)
    return lot


def _allocate_from(move: StockMove, lot: StockLot, quantity: int) -> list[tuple[StockLot, int]]:
    """Take ``quantity`` units of the move's item from one batch (checked by the caller)."""
    lot.remaining -= quantity
    db.session.add(LotAllocation(move_id=move.id, lot_id=lot.id, quantity=quantity))
    db.session.flush()
    return [(lot, quantity)]


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
    """On-hand up by ``quantity`` (already validated) and one new lot for the units."""
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
    db.session.flush()
    return move


@dataclass(frozen=True)
class Taken:
    """An outflow as :func:`_take` wrote it: the move and the (lot id, units) it took."""

    move_id: int
    item_id: int
    quantity: int
    balance_after: int
    lots: tuple[tuple[int, int], ...]


_MOVES = StockMove.__table__
_LOTS = StockLot.__table__
_NEW_OUT_MOVE = (
    _MOVES.insert()
    .values(
        school_id=bindparam("b_school"),
        item_id=bindparam("b_item"),
        kind=bindparam("b_kind"),
        quantity=bindparam("b_quantity"),
        balance_after=bindparam("b_balance"),
        reason=bindparam("b_reason"),
        created_at=bindparam("b_now"),
        created_by_id=bindparam("b_user"),
    )
    .returning(_MOVES.c.id)
)
# The item's lots with units left, in the order outflows use them: earliest expiry first (no
# expiry last, on both databases), then first in, first out. FOR UPDATE (PostgreSQL) states
# what the stock row's lock, taken first, already ensures: one move of the item at a time.
_OPEN_LOT_ROWS = (
    select(_LOTS.c.id, _LOTS.c.remaining)
    .where(
        _LOTS.c.school_id == bindparam("b_school"),
        _LOTS.c.item_id == bindparam("b_item"),
        _LOTS.c.remaining > 0,
    )
    .order_by(_LOTS.c.expiry_date.asc().nulls_last(), _LOTS.c.received_at, _LOTS.c.id)
    .with_for_update()
)
_TAKE_FROM_LOT = (
    update(_LOTS)
    .where(_LOTS.c.id == bindparam("b_lot"))
    .values(remaining=_LOTS.c.remaining - bindparam("b_take"))
)
_ALLOCATE = LotAllocation.__table__.insert()


def _take(
    school_id: int,
    item_id: int,
    quantity: int,
    kind: str,
    *,
    user_id: int | None,
    reason: str | None = None,
    **refs: int | None,
) -> Taken:
    """On-hand down by ``quantity`` (already validated), the move, and the units taken from
    the lots in FEFO/FIFO order — in SQLAlchemy Core, a handful of statements.

    ``OutOfStock`` before anything is written. Lots already loaded in the session are brought
    in step with their rows. ``refs`` (transfer_id, stocktake_id) go on the move.
    """
    balance = _change_on_hand(school_id, item_id, -quantity)
    if balance is None:
        raise _out_of_stock(item_id)
    move_id = db.session.execute(
        _NEW_OUT_MOVE.values(**refs) if refs else _NEW_OUT_MOVE,
        {
            "b_school": school_id,
            "b_item": item_id,
            "b_kind": kind,
            "b_quantity": -quantity,
            "b_balance": balance,
            "b_reason": (reason or None) and reason[:200],
            "b_now": utcnow(),
            "b_user": user_id,
        },
    ).scalar_one()
    taken: list[tuple[int, int]] = []
    need = quantity
    for lot_id, remaining in db.session.execute(
        _OPEN_LOT_ROWS, {"b_school": school_id, "b_item": item_id}
    ):
        take = min(remaining, need)
        taken.append((lot_id, take))
        need -= take
        if need == 0:
            break
    if need:
        raise LedgerInconsistent(f"school {school_id} item {item_id}: lots short by {need} units")
    db.session.execute(_TAKE_FROM_LOT, [{"b_lot": lot, "b_take": n} for lot, n in taken])
    db.session.execute(
        _ALLOCATE, [{"move_id": move_id, "lot_id": lot, "quantity": n} for lot, n in taken]
    )
    for lot_id, n in taken:
        loaded = db.session.identity_map.get(identity_key(StockLot, lot_id))
        if loaded is not None:
            set_committed_value(loaded, "remaining", loaded.remaining - n)
    return Taken(move_id, item_id, quantity, balance, tuple(taken))


def _out_of_stock(item_id: int) -> OutOfStock:
    name = db.session.scalar(select(Item.name).where(Item.id == item_id)) or str(item_id)
    return OutOfStock(_("Not enough %(item)s in stock.", item=name), item_id=item_id)


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
) -> tuple[StockMove, list[tuple[StockLot, int]]]:
    """On-hand down by ``quantity`` (already validated), allocated to lots; the move and the
    lots it took from. ``OutOfStock`` before anything is written."""
    if lot_id is None:
        taken = _take(school_id, item_id, quantity, kind, user_id=user_id, reason=reason, **refs)
        move = db.session.get(StockMove, taken.move_id)
        return move, [(db.session.get(StockLot, lot), n) for lot, n in taken.lots]
    # One batch (a write-off of expired goods): check it before changing anything. The stock
    # row is locked first, as everywhere, so the lock order stays row → its lots.
    _lock_levels([(school_id, item_id)], create=False)
    lot = db.session.scalars(
        select(StockLot)
        .where(
            StockLot.id == lot_id,
            StockLot.school_id == school_id,
            StockLot.item_id == item_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if lot is None:
        raise ValidationFailed(_("That batch is not of this item here."), field="lot_id")
    if lot.remaining < quantity:
        raise OutOfStock(_("That batch does not have enough units left."), item_id=item_id)
    balance = _change_on_hand(school_id, item_id, -quantity)
    if balance is None:
        raise _out_of_stock(item_id)
    move = _new_move(school_id, item_id, kind, -quantity, balance, user_id, reason, **refs)
    return move, _allocate_from(move, lot, quantity)


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
        _check_quantity(quantity),
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
    """Units leave the shelf (redemption, write-off …); ``OutOfStock`` if there are too few.

    A refused take writes nothing itself; in a larger transaction the caller rolls back.
    """
    if kind not in ("redemption", "write_off"):
        raise ValueError(f"take_stock does not do {kind!r}")
    move, _lots = _outflow(
        school_id,
        item_id,
        _check_quantity(quantity),
        kind,
        user_id=user_id,
        reason=reason,
        lot_id=lot_id,
    )
    return move


def take_lines(
    school_id: int,
    lines: Iterable[Line],
    *,
    kind: str = "redemption",
    user_id: int | None = None,
    reason: str | None = None,
) -> list[Taken]:
    """Several items at once, all or nothing (the caller rolls back on ``OutOfStock``).

    Items are changed in id order so that two transactions never wait on each other's rows.
    The counter's path: Core statements only, no ORM objects (:func:`_take`).
    """
    merged: dict[int, int] = {}
    for index, line in enumerate(lines):
        quantity = _check_quantity(line.quantity, field=f"lines.{index}.quantity")
        merged[line.item_id] = merged.get(line.item_id, 0) + quantity
    return [
        _take(school_id, item_id, merged[item_id], kind, user_id=user_id, reason=reason)
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
    move, _lots = _outflow(
        school_id,
        item_id,
        _check_quantity(quantity),
        "write_off",
        user_id=user_id,
        reason=reason.strip(),
        lot_id=lot_id,
    )
    return move


def adjust_stock(
    school_id: int, item_id: int, delta: int, *, reason: str, user_id: int | None = None
) -> StockMove:
    """A correction with a reason: positive adds a lot of unknown origin, negative takes."""
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason for the adjustment."), field="reason")
    if not _is_whole(delta):
        raise ValidationFailed(_("The quantity must be a whole number."), field="quantity")
    if delta == 0:
        raise ValidationFailed(_("The adjustment cannot be zero."), field="quantity")
    quantity = _check_quantity(abs(delta))
    if delta > 0:
        return _inflow(
            school_id, item_id, quantity, "adjustment", user_id=user_id, reason=reason.strip()
        )
    move, _lots = _outflow(
        school_id, item_id, quantity, "adjustment", user_id=user_id, reason=reason.strip()
    )
    return move


def return_stock(
    original: StockMove, *, user_id: int | None = None, reason: str | None = None
) -> StockMove:
    """Give back the units of an outflow (a voided redemption) to the very lots they left."""
    if original.kind != "redemption":
        raise ValueError("only redemptions are returned")
    # Lock the redemption first: two voids of it at once would otherwise both find "not yet
    # returned" in their own snapshot (PostgreSQL) and put the goods back twice.
    _lock_row(original)
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
    given = dict(
        db.session.execute(
            select(LotAllocation.lot_id, func.sum(LotAllocation.quantity))
            .where(LotAllocation.move_id == original.id)
            .group_by(LotAllocation.lot_id)
        ).all()
    )
    # Through the ORM on freshly read, locked rows: a lot already in the session is updated,
    # not left with a stale ``remaining``.
    lots = db.session.scalars(
        select(StockLot)
        .where(StockLot.id.in_(list(given)))
        .order_by(StockLot.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for lot in lots:
        lot.remaining += given[lot.id]
        db.session.add(LotAllocation(move_id=move.id, lot_id=lot.id, quantity=-given[lot.id]))
    db.session.flush()
    return move


def return_lines(
    originals: Iterable[StockMove], *, user_id: int | None = None, reason: str | None = None
) -> list[StockMove]:
    """Give back every line of a voided multi-item redemption, in the global lock order
    (item, school) — the order take_lines used — so a void never deadlocks with a take."""
    return [
        return_stock(original, user_id=user_id, reason=reason)
        for original in sorted(originals, key=lambda m: (m.item_id, m.school_id, m.id))
    ]


def set_reorder_level(school_id: int, item_id: int, level: int | None) -> StockLevel:
    """The on-hand below which the item is marked low and suggested for the needs list."""
    if level is not None and (not _is_whole(level) or not 0 <= level <= MAX_QUANTITY):
        raise ValidationFailed(_("The low-stock level must be 0 or more."), field="level")
    _ensure_level(school_id, item_id)
    row = db.session.scalars(
        select(StockLevel)
        .where(StockLevel.school_id == school_id, StockLevel.item_id == item_id)
        .execution_options(populate_existing=True)
    ).one()
    row.reorder_level = level
    db.session.flush()
    return row


# ---------------------------------------------------------------- transfers (共同体互助)


def _items_of_district(item_ids: Iterable[int], district_id: int, field: str) -> None:
    wanted = set(item_ids)
    found = set(
        db.session.scalars(
            select(Item.id).where(Item.id.in_(wanted), Item.district_id == district_id)
        )
    )
    if found != wanted:
        raise ValidationFailed(_("Choose an item from the catalogue."), field=field)


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
    # Everything is checked before anything is written.
    for index, line in enumerate(lines):
        _check_quantity(line.quantity, field=f"lines.{index}.quantity")
    _items_of_district((line.item_id for line in lines), source.district_id, "lines")
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
        db.session.add(
            StockTransferLine(transfer_id=transfer.id, item_id=line.item_id, quantity=line.quantity)
        )
    db.session.flush()
    return transfer


def _decide(transfer: StockTransfer, status: str, user_id: int | None, note: str | None) -> None:
    _lock_row(transfer)
    if transfer.status != "requested":
        raise DomainError(_("This transfer has already been decided."), code="already_decided")
    transfer.status = status
    transfer.decided_at = utcnow()
    transfer.decided_by_id = user_id
    transfer.decision_note = note


def approve_transfer(
    transfer: StockTransfer, *, user_id: int | None, note: str | None = None
) -> list[StockMove]:
    """Approve and carry out: out of the sender, into the receiver, lots and donor chain kept.

    ``OutOfStock`` if the sender no longer has the goods (the caller rolls back).
    """
    from app.org.models import School

    _decide(transfer, "approved", user_id, note)
    source = db.session.get(School, transfer.from_school_id)
    target = db.session.get(School, transfer.to_school_id)
    if source is None or target is None or source.alliance_id != target.alliance_id:
        # A school left the alliance after the request.
        raise DomainError(
            _("Goods can only be passed within one alliance."), code="not_same_alliance"
        )
    lines = db.session.scalars(
        select(StockTransferLine)
        .where(StockTransferLine.transfer_id == transfer.id)
        .order_by(StockTransferLine.item_id, StockTransferLine.id)
    ).all()
    # Both schools' rows of every item, in the global lock order: a transfer A→B and one B→A
    # of the same item approved at once would otherwise deadlock on PostgreSQL.
    _lock_levels(
        (school_id, line.item_id)
        for line in lines
        for school_id in (transfer.from_school_id, transfer.to_school_id)
    )
    moves = []
    for line in lines:
        out, taken = _outflow(
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
        # One incoming lot per lot taken from: same expiry, same age, same receipt line.
        for parent, quantity in taken:
            _open_lot(
                into,
                quantity,
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
    from app.org.models import School

    # The school's row is the lock that lets only one of two simultaneous starts through.
    school = db.session.execute(
        select(School).where(School.id == school_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if school is None:
        raise ValidationFailed(_("Choose another school."), field="school_id")
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
    _items_of_district(wanted, school.district_id, "item_ids")
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


def _open_stocktake_lines(stocktake: Stocktake) -> list[StocktakeLine]:
    """Lock the stocktake, check it is open, and read its lines as committed last."""
    _lock_row(stocktake)
    if stocktake.status != "open":
        raise DomainError(_("This stocktake is closed."), code="stocktake_closed")
    return list(
        db.session.scalars(
            select(StocktakeLine)
            .where(StocktakeLine.stocktake_id == stocktake.id)
            .order_by(StocktakeLine.item_id)
            .execution_options(populate_existing=True)
        )
    )


def record_counts(stocktake: Stocktake, counts: dict[int, int | None]) -> None:
    """Enter counted quantities (None clears a count: that item will not change)."""
    by_item = {line.item_id: line for line in _open_stocktake_lines(stocktake)}
    for item_id, counted in counts.items():
        line = by_item.get(item_id)
        if line is None:
            raise ValidationFailed(_("That item is not on this count sheet."), field="counts")
        if counted is not None and (not _is_whole(counted) or not 0 <= counted <= MAX_QUANTITY):
            raise ValidationFailed(_("A count must be 0 or more."), field="counts")
    for item_id, counted in counts.items():
        by_item[item_id].counted = counted
    db.session.flush()


def finalise_stocktake(stocktake: Stocktake, *, user_id: int | None) -> list[StockMove]:
    """Set each counted item's on-hand to its count, by a 'stocktake' move of the difference.

    The difference is taken against on-hand *now*, so goods given out while counting are not
    counted twice — count with the counter closed for an exact result.
    """
    counted = [line for line in _open_stocktake_lines(stocktake) if line.counted is not None]
    # Lock the counted items' rows (item order) and read on-hand under the lock.
    on_hand = _lock_levels((stocktake.school_id, line.item_id) for line in counted)
    reason = _("Stocktake #%(id)d", id=stocktake.id)
    moves = []
    for line in counted:
        difference = line.counted - on_hand[(stocktake.school_id, line.item_id)]
        line.difference = difference
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
            out, _lots = _outflow(
                stocktake.school_id,
                line.item_id,
                -difference,
                "stocktake",
                user_id=user_id,
                reason=reason,
                stocktake_id=stocktake.id,
            )
            moves.append(out)
    stocktake.status = "finalised"
    stocktake.finalised_at = utcnow()
    stocktake.finalised_by_id = user_id
    db.session.flush()
    return moves


def cancel_stocktake(stocktake: Stocktake, *, user_id: int | None) -> None:
    _open_stocktake_lines(stocktake)
    stocktake.status = "cancelled"
    stocktake.finalised_by_id = user_id
    stocktake.finalised_at = utcnow()
    db.session.flush()
