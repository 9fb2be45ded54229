"""The catalogue and the stock ledger of each school's 爱心超市.

* ``Item``: the district's catalogue (name, category, unit, points price, limits, shelf life).
* ``StockMove``: the ledger. Append-only; every change of on-hand is one move with a kind.
* ``StockLevel``: the cached on-hand per school and item, changed only in the same transaction
  as its move, by a conditional update (``on_hand + :q >= 0``), with ``CHECK (on_hand >= 0)``
  as the backstop. ``flask ledger check`` re-adds every on-hand from its moves.
* ``StockLot`` and ``LotAllocation``: where each unit came from. Every inflow opens a lot (a
  receipt's lot remembers its receipt line, so a donor's goods can be followed); every outflow is
  allocated to lots, earliest expiry first, then first in first out. A transfer's incoming lots
  keep the receipt line of the lots they came from, so the chain survives moves between schools.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.common import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User
    from app.org.models import School

CATEGORIES = ("stationery", "books", "daily", "clothing", "sports", "food", "other")
LIMIT_PERIODS = ("month", "semester")
MOVE_KINDS = (
    "receipt",  # goods received: donation, walk-in or the school's own purchase
    "redemption",  # given out at the counter
    "void_return",  # a voided redemption's goods back on the shelf
    "transfer_out",  # to another school of the alliance (共同体互助)
    "transfer_in",
    "adjustment",  # a correction with a reason
    "stocktake",  # the difference a finalised stocktake found
    "write_off",  # expired or damaged (报损)
)
INFLOW_KINDS = frozenset({"receipt", "void_return", "transfer_in"})
OUTFLOW_KINDS = frozenset({"redemption", "transfer_out", "write_off"})
# adjustment and stocktake go either way.


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Item(db.Model):
    """A catalogue item of a district. Schools see it; only district admins change it."""

    __tablename__ = "item"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("district_id", "name"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint(f"category IN {_in(CATEGORIES)}", name="category"),
        CheckConstraint(
            f"(limit_quantity IS NULL AND limit_period IS NULL) OR "
            f"(limit_quantity > 0 AND limit_period IN {_in(LIMIT_PERIODS)})",
            name="limit",
        ),
        CheckConstraint("shelf_life_days IS NULL OR shelf_life_days > 0", name="shelf_life"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(20))  # 个, 本, 支, 件, 套, 盒 …
    points: Mapped[int] = mapped_column(Integer)
    limit_quantity: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(10))
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(2000))
    photo: Mapped[str | None] = mapped_column(String(200))  # file name under the instance folder
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return cls.district_id == user.district_id


class StockLevel(db.Model):
    """On-hand of one item at one school: the cached sum of its moves."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("school_id", "item_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reorder_level IS NULL OR reorder_level >= 0", name="reorder_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    # Below this the stock page marks the item "low" and the needs list suggests it.
    reorder_level: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    item: Mapped[Item] = relationship()
    school: Mapped[School] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class StockMove(db.Model):
    """One change of on-hand. Never updated or deleted: a mistake gets a compensating move."""

    __tablename__ = "stock_move"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(MOVE_KINDS)}", name="kind"),
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_stock_move_school_item", "school_id", "item_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)  # signed: + in, - out
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # What the move came from (at most one is set).
    receipt_line_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_line.id"), index=True)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("stock_transfer.id"), index=True)
    stocktake_id: Mapped[int | None] = mapped_column(ForeignKey("stocktake.id"), index=True)
    # A void_return points at the move it gives back.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"), index=True)

    item: Mapped[Item] = relationship()
    created_by: Mapped[User | None] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class StockLot(db.Model):
    """Units that came in together. ``remaining`` falls as outflows are allocated to it."""

    __tablename__ = "stock_lot"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_range"),
        Index("ix_stock_lot_open", "school_id", "item_id", "remaining"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    origin_move_id: Mapped[int] = mapped_column(ForeignKey("stock_move.id"), index=True)
    # The donor chain: the receipt line the units were received on, kept across transfers.
    receipt_line_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_line.id"), index=True)
    parent_lot_id: Mapped[int | None] = mapped_column(ForeignKey("stock_lot.id"))


class LotAllocation(db.Model):
    """Which lots a move took units from (positive) or gave them back to (negative)."""

    __tablename__ = "lot_allocation"
    __table_args__ = (CheckConstraint("quantity <> 0", name="quantity_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    move_id: Mapped[int] = mapped_column(ForeignKey("stock_move.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("stock_lot.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)


TRANSFER_STATUSES = ("requested", "approved", "rejected", "cancelled")


class StockTransfer(db.Model):
    """Goods passed from one school to another of the same alliance (共同体互助).

    The sending school's officer requests it; the alliance lead (or a district admin) approves,
    and on approval the stock moves out and in, in one transaction.
    """

    __tablename__ = "stock_transfer"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {_in(TRANSFER_STATUSES)}", name="status"),
        CheckConstraint("from_school_id <> to_school_id", name="two_schools"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    to_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    alliance_id: Mapped[int] = mapped_column(ForeignKey("alliance.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="requested")
    note: Mapped[str | None] = mapped_column(String(2000))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decision_note: Mapped[str | None] = mapped_column(String(2000))

    from_school: Mapped[School] = relationship(foreign_keys=[from_school_id])
    to_school: Mapped[School] = relationship(foreign_keys=[to_school_id])
    lines: Mapped[list[StockTransferLine]] = relationship(
        back_populates="transfer", order_by="StockTransferLine.id"
    )

    @property
    def school_id(self) -> int:
        return self.from_school_id

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        """Both schools' users see it; the alliance lead sees the alliance's transfers."""
        from app.auth.scope import school_ids_in_scope

        schools = school_ids_in_scope(user)
        return cls.from_school_id.in_(schools) | cls.to_school_id.in_(schools)


class StockTransferLine(db.Model):
    __tablename__ = "stock_transfer_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfer.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    quantity: Mapped[int] = mapped_column(Integer)

    transfer: Mapped[StockTransfer] = relationship(back_populates="lines")
    item: Mapped[Item] = relationship()


STOCKTAKE_STATUSES = ("open", "finalised", "cancelled")


class Stocktake(db.Model):
    """A count of some or all items (盘点). Finalising changes only the counted items."""

    __tablename__ = "stocktake"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"status IN {_in(STOCKTAKE_STATUSES)}", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    finalised_at: Mapped[datetime | None] = mapped_column(DateTime)
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    lines: Mapped[list[StocktakeLine]] = relationship(
        back_populates="stocktake", order_by="StocktakeLine.id"
    )

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class StocktakeLine(db.Model):
    __tablename__ = "stocktake_line"
    __table_args__ = (
        UniqueConstraint("stocktake_id", "item_id"),
        CheckConstraint("counted IS NULL OR counted >= 0", name="counted_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktake.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    expected: Mapped[int] = mapped_column(Integer)  # on-hand when the count sheet was made
    counted: Mapped[int | None] = mapped_column(Integer)  # None: not counted, not changed
    difference: Mapped[int | None] = mapped_column(Integer)  # set when finalised

    stocktake: Mapped[Stocktake] = relationship(back_populates="lines")
    item: Mapped[Item] = relationship()
