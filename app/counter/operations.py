"""Redemption at the 爱心超市 counter — the one place where the two ledgers move together.

``redeem`` = :func:`read_cart` then :func:`check_out`, in the caller's transaction (the caller
commits, or rolls back on any ``DomainError``):

``read_cart`` — reads only, so on SQLite it runs before the write lock is taken:

1. the card: known, of the clerk's school, not revoked, its student enrolled there;
2. the items: in the district's catalogue, active; quantities merged per item.

``check_out`` — the writes, SQLAlchemy Core statements built once at import:

3. the points: ``points.spend_points`` takes the total by a conditional update — the student's
   account row is locked from here on (PostgreSQL) or the database is (SQLite);
4. the limits: per item, per student, per month or semester, counted *after* that lock, so two
   checkouts of the same child cannot both slip under a limit;
5. the stock: ``inventory.take_lines`` takes every line by conditional updates, in item order;
6. the redemption and its lines, pointing at the points entry and the stock moves.

Any rule that says no raises a ``DomainError`` (``insufficient_points``, ``out_of_stock``,
``limit_exceeded``, ``card_revoked`` …) and the caller rolls everything back. ``void_redemption``
gives points and stock back by compensating entries. Idempotent retries are the API's job
(:mod:`app.counter.idempotency`), in the same transaction as the writes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select

from app.auth.models import User
from app.auth.roles import Role
from app.common import DomainError, ValidationFailed, local_today, local_zone, utcnow
from app.counter.models import Card, DayClose, Redemption, RedemptionLine
from app.extensions import db
from app.inventory import operations as inventory
from app.inventory.models import Item, StockMove
from app.points import operations as points
from app.points.models import PointEntry
from app.registry.models import Student

CARD_PREFIX = "AX"
# The points entry's reason: stored data, the same whatever language the clerk's page is in,
# and like any shop's receipt it says where, not why the child had points.
COUNTER_REASON = "爱心超市"
_CARD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each
MAX_LINES = 200


class CardNotFound(DomainError):
    code = "not_found"
    status = 404


class CardRevoked(DomainError):
    code = "card_revoked"


class LimitExceeded(DomainError):
    code = "limit_exceeded"


class VoidNotAllowed(DomainError):
    code = "void_not_allowed"
    status = 403


@dataclass(frozen=True)
class Line:
    item_id: int
    quantity: int


# ---------------------------------------------------------------- cards


def new_card_code() -> str:
    """AX + 20 random symbols of 32 = 100 bits; unguessable and unrelated to any number."""
    return CARD_PREFIX + "".join(secrets.choice(_CARD_ALPHABET) for _ in range(20))


def issue_card(student: Student, *, user_id: int | None = None) -> Card:
    """The student's card (a new one if they have none)."""
    existing = db.session.scalars(
        select(Card).where(Card.student_id == student.id, Card.status == "active")
    ).first()
    if existing is not None:
        return existing
    card = Card(
        student_id=student.id,
        school_id=student.school_id,
        code=new_card_code(),
        status="active",
        issued_by_id=user_id,
    )
    db.session.add(card)
    db.session.flush()
    return card


def reissue_card(student: Student, *, reason: str, user_id: int | None = None) -> Card:
    """A lost card: the old code stops working at once (409 card_revoked) and a new one is made."""
    for card in db.session.scalars(
        select(Card).where(Card.student_id == student.id, Card.status == "active")
    ):
        card.status = "revoked"
        card.revoked_at = utcnow()
        card.revoked_reason = (reason or "").strip()[:200] or None
    db.session.flush()
    return issue_card(student, user_id=user_id)


def normalise_code(code: str) -> str:
    """What a keyboard-wedge scanner or a person typed: case and separators folded."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())[:40]


_CARD = (
    select(Card.__table__.c.id, Card.__table__.c.student_id, Card.__table__.c.status)
    .join(Student.__table__, Student.__table__.c.id == Card.__table__.c.student_id)
    .where(
        Card.__table__.c.code == bindparam("b_code"),
        Card.__table__.c.school_id == bindparam("b_school"),
        Student.__table__.c.school_id == bindparam("b_school"),
        Student.__table__.c.status == "enrolled",
    )
)


def _scanned(code: str, clerk: User):  # noqa: ANN202 - a row (id, student_id, status)
    """The card behind a scanned code, if it is of the clerk's school and its student is still
    enrolled there (else not found); a replaced card is ``card_revoked``. One table query."""
    card = (
        db.session.execute(
            _CARD, {"b_code": normalise_code(code), "b_school": clerk.school_id}
        ).first()
        if clerk.school_id
        else None
    )
    if card is None:
        raise CardNotFound(_("Unknown card."))
    if card.status != "active":
        raise CardRevoked(_("This card has been replaced; please use the new card."))
    return card


def find_card(code: str, clerk: User) -> Card:
    """The scanned card as an object (the lookup, the pages); see :func:`_scanned`."""
    return db.session.get(Card, _scanned(code, clerk).id)


# ---------------------------------------------------------------- limits


def semester_start(day: date) -> date:
    """Autumn semester from 1 August (through the winter break), spring from 1 February."""
    if day.month >= 8:
        return date(day.year, 8, 1)
    if day.month >= 2:
        return date(day.year, 2, 1)
    return date(day.year - 1, 8, 1)


def period_start(period: str, day: date) -> date:
    return date(day.year, day.month, 1) if period == "month" else semester_start(day)


def _utc_start(day: date) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=local_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


# Built once; counted after the points lock, inside the checkout's transaction.
_REDEEMED_SINCE = (
    select(func.coalesce(func.sum(RedemptionLine.quantity), 0))
    .join(Redemption, Redemption.id == RedemptionLine.redemption_id)
    .where(
        Redemption.student_id == bindparam("b_student"),
        Redemption.status == "completed",
        RedemptionLine.item_id == bindparam("b_item"),
        Redemption.created_at >= bindparam("b_since"),
    )
)


def already_redeemed(student_id: int, item_id: int, since: date) -> int:
    """Units of an item the student took since a local date (voided checkouts don't count)."""
    return int(
        db.session.scalar(
            _REDEEMED_SINCE,
            {"b_student": student_id, "b_item": item_id, "b_since": _utc_start(since)},
        )
    )


# ---------------------------------------------------------------- redemption


@dataclass(frozen=True)
class CartLine:
    item_id: int
    quantity: int
    points: int  # for the line: unit points × quantity
    limit_quantity: int | None = None
    limit_period: str | None = None
    name: str = ""


@dataclass(frozen=True)
class Cart:
    """What a checkout needs, read before anything is written (:func:`read_cart`)."""

    clerk_id: int
    school_id: int
    card_id: int
    student_id: int
    lines: tuple[CartLine, ...]  # one per item, in item order (the stock lock order)

    @property
    def total(self) -> int:
        return sum(line.points for line in self.lines)


@dataclass(frozen=True)
class Checkout:
    """A completed redemption, as :func:`check_out` wrote it."""

    id: int
    points_spent: int
    balance_after: int
    created_at: datetime  # UTC, naive, as stored
    lines: tuple[CartLine, ...]


def _merge(lines: Iterable[Line]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for index, line in enumerate(lines):
        if (
            isinstance(line.quantity, bool)
            or not isinstance(line.quantity, int)
            or not (1 <= line.quantity <= inventory.MAX_QUANTITY)
        ):
            raise ValidationFailed(
                _("The quantity must be between 1 and 1,000,000."), field=f"lines.{index}.quantity"
            )
        wanted[line.item_id] = wanted.get(line.item_id, 0) + line.quantity
    if not wanted:
        raise ValidationFailed(_("The cart is empty."), field="lines")
    if len(wanted) > MAX_LINES:
        raise ValidationFailed(_("At most %(n)d lines.", n=MAX_LINES), field="lines")
    return wanted


# The items' read of read_cart, built once, on the table (plain rows are cheaper than objects).
_ITEMS_T = Item.__table__
_ITEMS = select(
    _ITEMS_T.c.id,
    _ITEMS_T.c.points,
    _ITEMS_T.c.limit_quantity,
    _ITEMS_T.c.limit_period,
    _ITEMS_T.c.name,
).where(
    _ITEMS_T.c.id.in_(bindparam("b_ids", expanding=True)),
    _ITEMS_T.c.district_id == bindparam("b_district"),
    _ITEMS_T.c.active.is_(True),
)


def read_cart(*, clerk: User, card_code: str, lines: Iterable[Line]) -> Cart:
    """Steps 1–2, reads only: the card (of the clerk's school, not revoked, its student still
    enrolled there) and the items (in the district's catalogue, active). Two queries."""
    wanted = _merge(lines)
    card = _scanned(card_code, clerk)
    items = {
        row.id: row
        for row in db.session.execute(
            _ITEMS, {"b_ids": list(wanted), "b_district": clerk.district_id}
        )
    }
    for index, item_id in enumerate(wanted):
        if item_id not in items:
            raise ValidationFailed(_("Unknown item."), field=f"lines.{index}.item_id")
    return Cart(
        clerk_id=clerk.id,
        school_id=clerk.school_id,
        card_id=card.id,
        student_id=card.student_id,
        lines=tuple(
            CartLine(
                item_id=item_id,
                quantity=wanted[item_id],
                points=items[item_id].points * wanted[item_id],
                limit_quantity=items[item_id].limit_quantity,
                limit_period=items[item_id].limit_period,
                name=items[item_id].name,
            )
            for item_id in sorted(wanted)
        ),
    )


def _check_limits(cart: Cart) -> None:
    today = local_today()
    for line in cart.lines:
        if not line.limit_quantity:
            continue
        taken = already_redeemed(
            cart.student_id, line.item_id, period_start(line.limit_period, today)
        )
        if taken + line.quantity > line.limit_quantity:
            per = _("per month") if line.limit_period == "month" else _("per semester")
            raise LimitExceeded(
                _(
                    "%(item)s: at most %(n)d %(per)s; %(left)d left.",
                    item=line.name,
                    n=line.limit_quantity,
                    per=per,
                    left=max(line.limit_quantity - taken, 0),
                )
            )


_REDEMPTIONS = Redemption.__table__
_NEW_REDEMPTION = _REDEMPTIONS.insert().returning(_REDEMPTIONS.c.id)
_NEW_LINE = RedemptionLine.__table__.insert()


def check_out(cart: Cart) -> Checkout:
    """Steps 3–6, the writes, in the caller's transaction; a ``DomainError`` means roll back.

    Points first (the student's account row is locked from here on — PostgreSQL — or the
    database is — SQLite), then the limits, counted after that lock, then the stock in item
    order, then the redemption and its lines. SQLAlchemy Core statements built once.
    """
    spent = points.spend_points(
        cart.student_id, cart.school_id, cart.total, reason=COUNTER_REASON, user_id=cart.clerk_id
    )
    _check_limits(cart)
    taken = inventory.take_lines(
        cart.school_id,
        [inventory.Line(line.item_id, line.quantity) for line in cart.lines],
        kind="redemption",
        user_id=cart.clerk_id,
    )
    redemption_id = db.session.execute(
        _NEW_REDEMPTION,
        {
            "school_id": cart.school_id,
            "student_id": cart.student_id,
            "card_id": cart.card_id,
            "clerk_id": cart.clerk_id,
            "created_at": spent.created_at,
            "points_spent": cart.total,
            "balance_after": spent.balance_after,
            "status": "completed",
            "point_entry_id": spent.entry_id,
        },
    ).scalar_one()
    db.session.execute(
        _NEW_LINE,
        [
            {
                "redemption_id": redemption_id,
                "item_id": line.item_id,
                "quantity": line.quantity,
                "points": line.points,
                "stock_move_id": move.move_id,
            }
            for line, move in zip(cart.lines, taken, strict=True)
        ],
    )
    return Checkout(
        id=redemption_id,
        points_spent=cart.total,
        balance_after=spent.balance_after,
        created_at=spent.created_at,
        lines=cart.lines,
    )


def redeem(*, clerk: User, card_code: str, lines: Iterable[Line]) -> Checkout:
    """Check out a student's cart: points and stock go down together, or nothing happens."""
    return check_out(read_cart(clerk=clerk, card_code=card_code, lines=lines))


def can_void(redemption: Redemption, user: User) -> bool:
    """The clerk who served it, on the same (local) day; the school's officer and above later."""
    if user.role in (Role.SCHOOL_OFFICER, Role.DISTRICT_ADMIN):
        return True
    created_local = redemption.created_at.replace(tzinfo=UTC).astimezone(local_zone()).date()
    return (
        user.role == Role.CLERK
        and user.id == redemption.clerk_id
        and created_local == local_today()
    )


def void_redemption(redemption: Redemption, *, user: User, reason: str) -> Redemption:
    """Undo a checkout: the points come back by a "void" entry, the goods by void-returns."""
    # Re-read the row under a lock: two voids of one checkout must not both pass the check.
    db.session.refresh(redemption, with_for_update=True)
    if redemption.status == "void":
        raise DomainError(_("This checkout has already been voided."), code="already_void")
    if not can_void(redemption, user):
        raise VoidNotAllowed(
            _("Only the clerk on the same day, or the school's aid officer, may void a checkout.")
        )
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    entry = db.session.get(PointEntry, redemption.point_entry_id)
    back = points.reverse(entry, reason=reason, user_id=user.id)

    moves = {line.stock_move_id: line for line in redemption.lines}
    originals = [db.session.get(StockMove, move_id) for move_id in moves]
    for back_move in inventory.return_lines(originals, user_id=user.id, reason=reason):
        moves[back_move.reverses_id].return_move_id = back_move.id
    redemption.status = "void"
    redemption.voided_at = utcnow()
    redemption.voided_by_id = user.id
    redemption.void_reason = reason.strip()[:200]
    redemption.void_entry_id = back.id
    db.session.flush()
    return redemption


# ---------------------------------------------------------------- the day's close (日结)


def day_figures(school_id: int, clerk_id: int, day: date) -> dict[str, int]:
    """Checkouts served by a clerk on a local day: counts, points and units (voids apart)."""
    start, end = _utc_start(day), _utc_start(date.fromordinal(day.toordinal() + 1))
    base = select(Redemption).where(
        Redemption.school_id == school_id,
        Redemption.clerk_id == clerk_id,
        Redemption.created_at >= start,
        Redemption.created_at < end,
    )
    rows = db.session.scalars(base).all()
    done = [r for r in rows if r.status == "completed"]
    units = db.session.scalar(
        select(func.coalesce(func.sum(RedemptionLine.quantity), 0)).where(
            RedemptionLine.redemption_id.in_([r.id for r in done] or [0])
        )
    )
    return {
        "redemptions": len(done),
        "voids": len(rows) - len(done),
        "points_taken": sum(r.points_spent for r in done),
        "items_given": int(units),
    }


def close_day(*, school_id: int, clerk_id: int, day: date, note: str | None = None) -> DayClose:
    """Record the clerk's day (again, if more checkouts came after a first close)."""
    figures = day_figures(school_id, clerk_id, day)
    row = db.session.scalars(
        select(DayClose).where(
            DayClose.school_id == school_id, DayClose.clerk_id == clerk_id, DayClose.day == day
        )
    ).first()
    if row is None:
        row = DayClose(school_id=school_id, clerk_id=clerk_id, day=day)
        db.session.add(row)
    elif row.signed_off_at is not None:
        raise DomainError(_("This day has been signed off."), code="day_signed_off")
    for key, value in figures.items():
        setattr(row, key, value)
    row.closed_at = utcnow()
    row.note = (note or "").strip()[:2000] or None
    db.session.flush()
    return row


def sign_off_day(row: DayClose, *, officer: User) -> None:
    if row.signed_off_at is not None:
        raise DomainError(_("This day has been signed off."), code="day_signed_off")
    row.signed_off_by_id = officer.id
    row.signed_off_at = utcnow()
    db.session.flush()
