"""Read helpers of the catalogue and stock pages: scoped, paginated, a fixed number of queries
per page whatever the number of items (no query per row).

The needs list's reads live here too, :func:`public_needs` for the public pledge page among
them; its writes are ``app.donations.operations.set_need`` / ``remove_need``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.auth.models import User
from app.auth.roles import Role
from app.auth.scope import scoped
from app.common import local_today
from app.donations.models import ReceiptLine, SchoolNeed
from app.extensions import db
from app.inventory.models import (
    CATEGORIES,
    Item,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
    StockTransferLine,
)
from app.org.models import School

EXPIRY_WARNING_DAYS = 30
# Lists follow the catalogue's own order of categories (文具, 图书, 生活用品 …), then the name.
CATEGORY_ORDER = case({c: i for i, c in enumerate(CATEGORIES)}, value=Item.category, else_=99)


def expiry_cutoff(today: date | None = None) -> date:
    """Lots expiring on or before this day are "expiring soon" (expired ones included)."""
    return (today or local_today()) + timedelta(days=EXPIRY_WARNING_DAYS)


# ---------------------------------------------------------------- the catalogue


def catalogue_statement(
    user: User, *, q: str | None = None, category: str | None = None, status: str = "active"
) -> Select:
    """The user's district catalogue, filtered; ordered by category, then name."""
    stmt = scoped(select(Item), user)
    if q:
        stmt = stmt.where(
            or_(
                Item.name.icontains(q, autoescape=True),
                Item.description.icontains(q, autoescape=True),
            )
        )
    if category:
        stmt = stmt.where(Item.category == category)
    if status == "active":
        stmt = stmt.where(Item.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(Item.active.is_(False))
    return stmt.order_by(CATEGORY_ORDER, Item.name, Item.id)


def active_items(district_id: int) -> list[Item]:
    return list(
        db.session.scalars(
            select(Item)
            .where(Item.district_id == district_id, Item.active.is_(True))
            .order_by(CATEGORY_ORDER, Item.name, Item.id)
        )
    )


# ---------------------------------------------------------------- on-hand


@dataclass
class ExpiryInfo:
    first_expiry: date | None  # the earliest expiry, today or later, within the warning window
    expiring_units: int  # units of lots that expire within the window (not yet expired)
    expired_units: int  # units of lots whose expiry date has passed

    @property
    def flagged(self) -> bool:
        return bool(self.expiring_units or self.expired_units)


def _low() -> object:
    return and_(
        StockLevel.reorder_level.is_not(None), StockLevel.on_hand < StockLevel.reorder_level
    )


def _expiring_exists(cutoff: date) -> object:
    return exists().where(
        StockLot.school_id == StockLevel.school_id,
        StockLot.item_id == StockLevel.item_id,
        StockLot.remaining > 0,
        StockLot.expiry_date.is_not(None),
        StockLot.expiry_date <= cutoff,
    )


def on_hand_statement(
    school_id: int,
    *,
    q: str | None = None,
    category: str | None = None,
    show: str | None = None,
    cutoff: date | None = None,
) -> Select:
    """The school's stock rows (every item it stocks or has stocked), items loaded with them."""
    stmt = (
        select(StockLevel)
        .join(StockLevel.item)
        .options(joinedload(StockLevel.item))
        .where(StockLevel.school_id == school_id)
    )
    if q:
        stmt = stmt.where(Item.name.icontains(q, autoescape=True))
    if category:
        stmt = stmt.where(Item.category == category)
    if show == "low":
        stmt = stmt.where(_low())
    elif show == "expiring":
        stmt = stmt.where(_expiring_exists(cutoff or expiry_cutoff()))
    elif show == "in_stock":
        stmt = stmt.where(StockLevel.on_hand > 0)
    return stmt.order_by(CATEGORY_ORDER, Item.name, StockLevel.id)


def expiry_for(school_id: int, item_ids: list[int], cutoff: date | None = None) -> dict:
    """Per item: units expired and expiring soon in its open lots, in one query."""
    if not item_ids:
        return {}
    today = local_today()
    cutoff = cutoff or expiry_cutoff(today)
    soon = and_(StockLot.expiry_date >= today, StockLot.expiry_date <= cutoff)
    gone = StockLot.expiry_date < today
    rows = db.session.execute(
        select(
            StockLot.item_id,
            func.min(case((soon, StockLot.expiry_date))),
            func.sum(case((soon, StockLot.remaining), else_=0)),
            func.sum(case((gone, StockLot.remaining), else_=0)),
        )
        .where(
            StockLot.school_id == school_id,
            StockLot.item_id.in_(item_ids),
            StockLot.remaining > 0,
            StockLot.expiry_date.is_not(None),
            StockLot.expiry_date <= cutoff,
        )
        .group_by(StockLot.item_id)
    )
    return {
        item_id: ExpiryInfo(first, int(expiring or 0), int(expired or 0))
        for item_id, first, expiring, expired in rows
    }


@dataclass
class SchoolStockSummary:
    school: School
    items_in_stock: int = 0
    units: int = 0
    low: int = 0
    expiring: int = 0


def schools_statement(user: User) -> Select:
    """Schools in scope for the stock index: alliance by alliance, lead school first."""
    from app.org.models import Alliance

    return (
        scoped(select(School), user)
        .outerjoin(Alliance, Alliance.id == School.alliance_id)
        .options(joinedload(School.alliance))
        .order_by(
            School.active.desc(),
            School.alliance_id.is_(None),
            School.alliance_id,
            (Alliance.lead_school_id != School.id),
            School.id,
        )
    )


def stock_summaries(schools: list[School]) -> list[SchoolStockSummary]:
    """Items in stock, units, low-stock and expiring items of each school, in two queries."""
    ids = [s.id for s in schools]
    if not ids:
        return []
    stats = {
        school_id: (int(items or 0), int(units or 0), int(low or 0))
        for school_id, items, units, low in db.session.execute(
            select(
                StockLevel.school_id,
                func.sum(case((StockLevel.on_hand > 0, 1), else_=0)),
                func.sum(StockLevel.on_hand),
                func.sum(case((_low(), 1), else_=0)),
            )
            .where(StockLevel.school_id.in_(ids))
            .group_by(StockLevel.school_id)
        )
    }
    expiring = dict(
        db.session.execute(
            select(StockLot.school_id, func.count(func.distinct(StockLot.item_id)))
            .where(
                StockLot.school_id.in_(ids),
                StockLot.remaining > 0,
                StockLot.expiry_date.is_not(None),
                StockLot.expiry_date <= expiry_cutoff(),
            )
            .group_by(StockLot.school_id)
        ).all()
    )
    out = []
    for school in schools:
        items, units, low = stats.get(school.id, (0, 0, 0))
        out.append(SchoolStockSummary(school, items, units, low, int(expiring.get(school.id, 0))))
    return out


def stock_level(school_id: int, item_id: int) -> StockLevel | None:
    return db.session.scalars(
        select(StockLevel).where(StockLevel.school_id == school_id, StockLevel.item_id == item_id)
    ).first()


def open_lots(school_id: int, item_id: int) -> list[StockLot]:
    """Lots with units left, in the order goods leave: earliest expiry, then oldest."""
    return list(
        db.session.scalars(
            select(StockLot)
            .where(
                StockLot.school_id == school_id,
                StockLot.item_id == item_id,
                StockLot.remaining > 0,
            )
            .order_by(
                StockLot.expiry_date.is_(None),
                StockLot.expiry_date,
                StockLot.received_at,
                StockLot.id,
            )
        )
    )


def history_statement(school_id: int, item_id: int) -> Select:
    """One item's moves at one school, newest first, with who made them."""
    return (
        select(StockMove)
        .where(StockMove.school_id == school_id, StockMove.item_id == item_id)
        .options(joinedload(StockMove.created_by))
        .order_by(StockMove.id.desc())
    )


def receipts_of_lines(line_ids: list[int]) -> dict[int, int]:
    """receipt line id → receipt id, for linking moves to their receipts (one query)."""
    if not line_ids:
        return {}
    return dict(
        db.session.execute(
            select(ReceiptLine.id, ReceiptLine.receipt_id).where(ReceiptLine.id.in_(line_ids))
        ).all()
    )


def on_hand_map(school_id: int, item_ids: list[int] | None = None) -> dict[int, int]:
    stmt = select(StockLevel.item_id, StockLevel.on_hand).where(StockLevel.school_id == school_id)
    if item_ids is not None:
        if not item_ids:
            return {}
        stmt = stmt.where(StockLevel.item_id.in_(item_ids))
    return {item_id: int(n) for item_id, n in db.session.execute(stmt)}


def items_in_stock(school_id: int) -> list[StockLevel]:
    """The school's stock rows with units on hand, items loaded (for a transfer's lines)."""
    return list(
        db.session.scalars(
            select(StockLevel)
            .join(StockLevel.item)
            .options(joinedload(StockLevel.item))
            .where(StockLevel.school_id == school_id, StockLevel.on_hand > 0)
            .order_by(CATEGORY_ORDER, Item.name, Item.id)
        )
    )


def stocked_items(school_id: int) -> list[StockLevel]:
    """Every stock row of the school (also at zero), items loaded (for a count sheet)."""
    return list(
        db.session.scalars(
            select(StockLevel)
            .join(StockLevel.item)
            .options(joinedload(StockLevel.item))
            .where(StockLevel.school_id == school_id)
            .order_by(CATEGORY_ORDER, Item.name, Item.id)
        )
    )


# ---------------------------------------------------------------- stocktakes


@dataclass
class StocktakeStats:
    lines: int = 0
    counted: int = 0
    changed: int = 0
    net: int = 0  # sum of differences (finalised only)


def stocktakes_statement(school_id: int) -> Select:
    return (
        select(Stocktake)
        .where(Stocktake.school_id == school_id)
        .order_by(Stocktake.created_at.desc(), Stocktake.id.desc())
    )


def stocktake_stats(stocktake_ids: list[int]) -> dict[int, StocktakeStats]:
    if not stocktake_ids:
        return {}
    rows = db.session.execute(
        select(
            StocktakeLine.stocktake_id,
            func.count(),
            func.count(StocktakeLine.counted),
            func.sum(case((StocktakeLine.difference != 0, 1), else_=0)),
            func.sum(func.coalesce(StocktakeLine.difference, 0)),
        )
        .where(StocktakeLine.stocktake_id.in_(stocktake_ids))
        .group_by(StocktakeLine.stocktake_id)
    )
    return {
        sid: StocktakeStats(int(n), int(counted), int(changed or 0), int(net or 0))
        for sid, n, counted, changed, net in rows
    }


def stocktake_lines(stocktake: Stocktake) -> list[StocktakeLine]:
    """The count sheet's lines with their items, in shelf order (category, name)."""
    return list(
        db.session.scalars(
            select(StocktakeLine)
            .join(StocktakeLine.item)
            .options(joinedload(StocktakeLine.item))
            .where(StocktakeLine.stocktake_id == stocktake.id)
            .order_by(CATEGORY_ORDER, Item.name, StocktakeLine.id)
        )
    )


def open_stocktake(school_id: int) -> Stocktake | None:
    return db.session.scalars(
        select(Stocktake).where(Stocktake.school_id == school_id, Stocktake.status == "open")
    ).first()


def users_by_id(ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}


# ---------------------------------------------------------------- transfers


def transfers_statement(
    user: User, *, status: str | None = None, school_id: int | None = None
) -> Select:
    """Transfers in scope, newest first, schools and lines loaded with them."""
    stmt = scoped(select(StockTransfer), user).options(
        joinedload(StockTransfer.from_school),
        joinedload(StockTransfer.to_school),
        selectinload(StockTransfer.lines).joinedload(StockTransferLine.item),
    )
    if status:
        stmt = stmt.where(StockTransfer.status == status)
    if school_id:
        stmt = stmt.where(
            or_(StockTransfer.from_school_id == school_id, StockTransfer.to_school_id == school_id)
        )
    return stmt.order_by(StockTransfer.requested_at.desc(), StockTransfer.id.desc())


def transfer_in_scope(transfer_id: int, user: User) -> StockTransfer | None:
    return db.session.scalars(
        transfers_statement(user).where(StockTransfer.id == transfer_id)
    ).first()


def partner_schools(school: School) -> list[School]:
    """The other active schools of the school's alliance (where goods may go)."""
    if school.alliance_id is None:
        return []
    return list(
        db.session.scalars(
            select(School)
            .where(
                School.alliance_id == school.alliance_id,
                School.id != school.id,
                School.active.is_(True),
            )
            .order_by(School.id)
        )
    )


def may_decide(transfer: StockTransfer, user: User) -> bool:
    """The alliance lead of the transfer's alliance, or a district admin of its district."""
    if user.role == Role.ALLIANCE_LEAD:
        return user.alliance_id == transfer.alliance_id
    if user.role == Role.DISTRICT_ADMIN:
        return transfer.from_school.district_id == user.district_id
    return False


# ---------------------------------------------------------------- the needs list (需求清单)


@dataclass
class NeedRow:
    need: SchoolNeed
    on_hand: int


@dataclass
class Suggestion:
    item: Item
    on_hand: int
    reorder_level: int

    @property
    def suggested_target(self) -> int:
        """Enough to bring the shelf back to twice its low-stock level."""
        return max(2 * self.reorder_level - self.on_hand, 1)


def needs_of_school(school_id: int) -> list[NeedRow]:
    """The school's active needs with item and on-hand, in two queries."""
    needs = list(
        db.session.scalars(
            select(SchoolNeed)
            .join(SchoolNeed.item)
            .options(joinedload(SchoolNeed.item))
            .where(SchoolNeed.school_id == school_id, SchoolNeed.active.is_(True))
            .order_by(CATEGORY_ORDER, Item.name, SchoolNeed.id)
        )
    )
    stock = on_hand_map(school_id, [n.item_id for n in needs])
    return [NeedRow(n, stock.get(n.item_id, 0)) for n in needs]


def need_suggestions(school_id: int) -> list[Suggestion]:
    """Active items below their low-stock level at the school and not yet on its needs list."""
    listed = exists().where(
        SchoolNeed.school_id == school_id,
        SchoolNeed.item_id == StockLevel.item_id,
        SchoolNeed.active.is_(True),
    )
    rows = db.session.scalars(
        select(StockLevel)
        .join(StockLevel.item)
        .options(joinedload(StockLevel.item))
        .where(StockLevel.school_id == school_id, _low(), Item.active.is_(True), ~listed)
        .order_by(CATEGORY_ORDER, Item.name, Item.id)
    )
    return [Suggestion(r.item, r.on_hand, r.reorder_level or 0) for r in rows]


@dataclass(frozen=True)
class PublicNeed:
    """One line of a school's needs list as the public pledge page shows it."""

    need_id: int
    item_id: int
    name: str
    unit: str
    category: str
    target_quantity: int
    on_hand: int
    note: str | None


def public_needs(school_id: int) -> list[PublicNeed]:
    """The school's active needs of active items: item name, unit, target and on-hand.

    For the public pledge page (no login, so no scope: the caller chooses the school). Two
    queries whatever the length of the list.
    """
    rows = [r for r in needs_of_school(school_id) if r.need.item.active]
    return [
        PublicNeed(
            need_id=r.need.id,
            item_id=r.need.item_id,
            name=r.need.item.name,
            unit=r.need.item.unit,
            category=r.need.item.category,
            target_quantity=r.need.target_quantity,
            on_hand=r.on_hand,
            note=r.need.note,
        )
        for r in rows
    ]
