"""Read helpers for donations: the donor's usage report, the donor wall, display names."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.common import to_local
from app.donations.models import Pledge, Receipt, ReceiptLine
from app.extensions import db
from app.inventory.models import Item, LotAllocation, StockLot, StockMove
from app.org.models import School


def public_donor_name(
    donor_name: str | None, organization: str | None, *, anonymous: bool, kind: str | None = None
) -> str:
    """How a donor appears on public pages: 爱心人士 when anonymous, else the organisation or
    the name. (Only consenting donors appear publicly at all: check ``public_consent``.)"""
    if anonymous or not (donor_name or organization):
        return _("Caring donor")  # 爱心人士
    if kind in ("enterprise", "union", "charity") and organization:
        return organization
    return donor_name or organization or _("Caring donor")


@dataclass
class UsageRow:
    month: str  # YYYY-MM in the deployment's time zone
    school: str
    item: str
    unit: str
    quantity: int


@dataclass
class UsageReport:
    """What became of a donor's goods, with no child named (Public Welfare Donations Law)."""

    received: dict[str, int] = field(default_factory=dict)  # item → units received
    redeemed: list[UsageRow] = field(default_factory=list)  # by month, school, item
    in_stock: dict[str, int] = field(default_factory=dict)  # item → units still on shelves
    written_off: dict[str, int] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    @property
    def total_received(self) -> int:
        return sum(self.received.values())

    @property
    def total_redeemed(self) -> int:
        return sum(row.quantity for row in self.redeemed)


def usage_report(receipt_line_ids: list[int]) -> UsageReport:
    """Follow the donor's receipt lines through their lots (across transfers) to the counter.

    Allocations of redemptions count as given to children, minus their void returns;
    write-offs are reported apart. No student is read at all.
    """
    report = UsageReport()
    if not receipt_line_ids:
        return report
    lines = db.session.execute(
        select(ReceiptLine.quantity, Item.name, Item.unit)
        .join(Item, Item.id == ReceiptLine.item_id)
        .where(ReceiptLine.id.in_(receipt_line_ids))
    ).all()
    for quantity, name, unit in lines:
        report.received[name] = report.received.get(name, 0) + quantity
        report.units[name] = unit
    lots = select(StockLot.id).where(StockLot.receipt_line_id.in_(receipt_line_ids))
    rows = db.session.execute(
        select(StockMove.kind, StockMove.created_at, School.name, Item.name, LotAllocation.quantity)
        .join(StockMove, StockMove.id == LotAllocation.move_id)
        .join(School, School.id == StockMove.school_id)
        .join(Item, Item.id == StockMove.item_id)
        .where(
            LotAllocation.lot_id.in_(lots),
            StockMove.kind.in_(("redemption", "void_return", "write_off")),
        )
    ).all()
    redeemed: dict[tuple[str, str, str], int] = defaultdict(int)
    for kind, created_at, school, item, quantity in rows:
        if kind == "write_off":
            report.written_off[item] = report.written_off.get(item, 0) + quantity
            continue
        # void_return allocations are negative: a voided redemption cancels itself out.
        redeemed[(_month(created_at), school, item)] += quantity
    report.redeemed = [
        UsageRow(month, school, item, report.units.get(item, ""), quantity)
        for (month, school, item), quantity in sorted(redeemed.items())
        if quantity
    ]
    for name, remaining in db.session.execute(
        select(Item.name, StockLot.remaining)
        .join(Item, Item.id == StockLot.item_id)
        .where(StockLot.id.in_(lots), StockLot.remaining > 0)
    ):
        report.in_stock[name] = report.in_stock.get(name, 0) + remaining
    return report


def _month(value: datetime) -> str:
    return to_local(value).strftime("%Y-%m")


def pledge_usage(pledge: Pledge) -> UsageReport:
    line_ids = db.session.scalars(
        select(ReceiptLine.id).join(Receipt).where(Receipt.pledge_id == pledge.id)
    ).all()
    return usage_report(list(line_ids))


@dataclass
class WallEntry:
    name: str
    kind: str
    school: str
    received_at: datetime
    goods: str


def donor_wall(limit: int = 100, district_id: int | None = None) -> list[WallEntry]:
    """Consenting donations, newest first; anonymous donors show as 爱心人士."""
    stmt = (
        select(Receipt)
        .where(Receipt.source != "purchase", Receipt.public_consent.is_(True))
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
        .order_by(Receipt.received_at.desc(), Receipt.id.desc())
        .limit(limit)
    )
    if district_id is not None:
        stmt = stmt.where(
            Receipt.school_id.in_(select(School.id).where(School.district_id == district_id))
        )
    entries = []
    for receipt in db.session.scalars(stmt):
        donor = receipt.donor
        entries.append(
            WallEntry(
                name=public_donor_name(
                    donor.name if donor else None,
                    donor.organization if donor else None,
                    anonymous=receipt.anonymous,
                    kind=donor.kind if donor else None,
                ),
                kind=donor.kind if donor else "individual",
                school=receipt.school.name,
                received_at=receipt.received_at,
                goods="、".join(
                    f"{line.item.name}{line.quantity}{line.item.unit}" for line in receipt.lines
                ),
            )
        )
    return entries
