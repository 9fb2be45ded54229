"""Donors, pledges, receipts and their acknowledgement (捐赠证书 / 感谢信).

A donor pledges goods online (``Pledge``) to a school, or to an alliance "wherever most
needed"; the school receives them, fully or in part, on a ``Receipt`` whose lines raise stock
through the inventory ledger. A walk-in donation or the school's own purchase (学校自助) is a
receipt without a pledge. Each received donation gets a numbered certificate with a public
verification page; the officer records how the donor was thanked.
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
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.common import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User
    from app.inventory.models import Item
    from app.org.models import Alliance, School

DONOR_KINDS = ("individual", "enterprise", "union", "charity", "staff")
PLEDGE_STATUSES = ("pledged", "partly_received", "received", "cancelled")
RECEIPT_SOURCES = ("pledge", "walk_in", "purchase")
CONDITIONS = ("new", "good", "fair")
THANKED_VIA = ("letter", "certificate", "phone", "other")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Donor(db.Model):
    """A person or organisation that gives. Found again by phone and name."""

    __tablename__ = "donor"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"kind IN {_in(DONOR_KINDS)}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    organization: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return cls.district_id == user.district_id


class Pledge(db.Model):
    """认捐: what a donor promised to bring, and how much of it has arrived."""

    __tablename__ = "pledge"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {_in(PLEDGE_STATUSES)}", name="status"),
        CheckConstraint(
            "(school_id IS NOT NULL AND alliance_id IS NULL)"
            " OR (school_id IS NULL AND alliance_id IS NOT NULL)",
            name="one_target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)  # shown to the donor
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donor.id"), index=True)
    # A school, or an alliance "wherever most needed" until an officer assigns a school.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    alliance_id: Mapped[int | None] = mapped_column(ForeignKey("alliance.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pledged")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    public_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_date: Mapped[date | None] = mapped_column(Date)
    message: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    cancelled_reason: Mapped[str | None] = mapped_column(String(200))

    donor: Mapped[Donor] = relationship()
    school: Mapped[School | None] = relationship()
    alliance: Mapped[Alliance | None] = relationship()
    lines: Mapped[list[PledgeLine]] = relationship(
        back_populates="pledge", order_by="PledgeLine.id"
    )

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        """A school's pledges, and an alliance's open pledges for the alliance's schools."""
        from app.auth.scope import school_ids_in_scope
        from app.org.models import School

        schools = school_ids_in_scope(user)
        alliances = select(School.alliance_id).where(School.id.in_(schools))
        return cls.school_id.in_(schools) | cls.alliance_id.in_(alliances)


class PledgeLine(db.Model):
    __tablename__ = "pledge_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_quantity >= 0", name="received_not_negative"),
        CheckConstraint("item_id IS NOT NULL OR description IS NOT NULL", name="what"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledge.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"))
    description: Mapped[str | None] = mapped_column(String(200))  # goods not in the catalogue
    quantity: Mapped[int] = mapped_column(Integer)
    received_quantity: Mapped[int] = mapped_column(Integer, default=0)

    pledge: Mapped[Pledge] = relationship(back_populates="lines")
    item: Mapped[Item | None] = relationship()


class Receipt(db.Model):
    """入库: goods that arrived at a school — a pledge (in full or part), a walk-in donation,
    or the school's own purchase. Its lines raise stock through the inventory ledger."""

    __tablename__ = "receipt"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"source IN {_in(RECEIPT_SOURCES)}", name="source"),
        CheckConstraint("source <> 'pledge' OR pledge_id IS NOT NULL", name="pledge_source"),
        CheckConstraint(
            "thanked_via IS NULL OR thanked_via IN " + _in(THANKED_VIA), name="thanked_via"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledge.id"), index=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donor.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    public_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str | None] = mapped_column(String(2000))
    # Acknowledgement: donations (not purchases) get a numbered certificate.
    certificate_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    verify_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    thanked_at: Mapped[datetime | None] = mapped_column(DateTime)
    thanked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    thanked_via: Mapped[str | None] = mapped_column(String(12))

    school: Mapped[School] = relationship()
    pledge: Mapped[Pledge | None] = relationship()
    donor: Mapped[Donor | None] = relationship()
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    lines: Mapped[list[ReceiptLine]] = relationship(
        back_populates="receipt", order_by="ReceiptLine.id"
    )

    @property
    def is_donation(self) -> bool:
        return self.source != "purchase"

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class ReceiptLine(db.Model):
    __tablename__ = "receipt_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(f"condition IN {_in(CONDITIONS)}", name="condition"),
        CheckConstraint("unit_value_fen IS NULL OR unit_value_fen >= 0", name="value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(8), default="new")
    expiry_date: Mapped[date | None] = mapped_column(Date)
    unit_value_fen: Mapped[int | None] = mapped_column(Integer)  # estimated value, in fen
    pledge_line_id: Mapped[int | None] = mapped_column(ForeignKey("pledge_line.id"), index=True)

    receipt: Mapped[Receipt] = relationship(back_populates="lines")
    item: Mapped[Item] = relationship()


class SchoolNeed(db.Model):
    """The 爱心超市's wish list: what it wants now, shown on the public pledge page."""

    __tablename__ = "school_need"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("school_id", "item_id"),
        CheckConstraint("target_quantity > 0", name="target_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    target_quantity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    item: Mapped[Item] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class DocumentSequence(db.Model):
    """Per-district, per-year counters for numbered documents (certificates)."""

    __tablename__ = "document_sequence"
    __table_args__ = (UniqueConstraint("district_id", "name", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    name: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
