"""The 爱心超市 counter: students' cards, redemptions and their lines, idempotency keys, and
each clerk's day close (日结). Nothing here records how a student got their points or whether
they are in the aid registry."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.common import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User
    from app.inventory.models import Item
    from app.registry.models import Student


class Card(db.Model):
    """A student's QR card. The code is random (≥ 100 bits), never derived from 学籍号 or ID.
    Reissuing revokes the old code at once."""

    __tablename__ = "card"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        # At most one active card per student.
        Index(
            "uq_card_active_student",
            "student_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="active")
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))

    student: Mapped[Student] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class Redemption(db.Model):
    """One checkout at the counter: points and stock went down together."""

    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint("status IN ('completed', 'void')", name="status"),
        CheckConstraint("points_spent > 0", name="points_positive"),
        Index("ix_redemption_school_created", "school_id", "created_at"),
        Index("ix_redemption_student_created", "student_id", "created_at"),
        Index("ix_redemption_clerk_created", "clerk_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"))
    clerk_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    points_spent: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="completed")
    point_entry_id: Mapped[int] = mapped_column(ForeignKey("point_entry.id"))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    void_reason: Mapped[str | None] = mapped_column(String(200))
    void_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))

    student: Mapped[Student] = relationship()
    lines: Mapped[list[RedemptionLine]] = relationship(
        back_populates="redemption", order_by="RedemptionLine.id"
    )

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class RedemptionLine(db.Model):
    __tablename__ = "redemption_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_redemption_line_item", "item_id", "redemption_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemption.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)  # for the line: unit price × quantity
    stock_move_id: Mapped[int] = mapped_column(ForeignKey("stock_move.id"))
    return_move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))

    redemption: Mapped[Redemption] = relationship(back_populates="lines")
    item: Mapped[Item] = relationship()


class IdempotencyKey(db.Model):
    """The first answer to a request made with this key (the Stripe design): a retry gets it
    back and changes nothing. Stored in the same transaction as the ledger rows."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_key_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DayClose(db.Model):
    """日结: one clerk's counter day, signed off by the school officer."""

    __tablename__ = "day_close"
    __audited__ = True
    __table_args__ = (UniqueConstraint("school_id", "clerk_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    clerk_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    day: Mapped[date] = mapped_column(Date)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    voids: Mapped[int] = mapped_column(Integer, default=0)
    points_taken: Mapped[int] = mapped_column(Integer, default=0)
    items_given: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    signed_off_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(String(2000))

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)
