"""Read helpers for donations: the donor's usage report, the donor wall, display names."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.common import to_local
from app.donations.models import Pledge, PledgeLine, Receipt, ReceiptLine, SchoolNeed
from app.extensions import db
from app.inventory.models import Item, LotAllocation, StockLot, StockMove
from app.org.models import Alliance, District, School


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
    anonymous: bool = False  # shown as 爱心人士; the wall then leaves out the donor's kind


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
    return [_wall_entry(receipt) for receipt in db.session.scalars(stmt)]


# ---------------------------------------------------------------- the public pledge pages


def grouped_reference(reference: str | None) -> str:
    """A pledge reference in groups of four for reading out: AX7K3M9QZP → AX7K-3M9Q-ZP."""
    value = reference or ""
    return "-".join(value[i : i + 4] for i in range(0, len(value), 4))


def masked_phone(phone: str | None) -> str:
    """138****5678: enough for donors to recognise their own number, not to read it off."""
    value = phone or ""
    if len(value) <= 7:
        return value[:2] + "*" * max(len(value) - 2, 0)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@dataclass
class DirectoryAlliance:
    alliance: Alliance | None  # None: schools outside any alliance
    schools: list[School]
    need_counts: dict[int, int]


@dataclass
class DirectoryDistrict:
    district: District
    alliances: list[DirectoryAlliance]


def pledge_directory() -> list[DirectoryDistrict]:
    """Active schools by district and alliance (lead school first), with how many items each
    school's needs list asks for. Three queries whatever the number of schools."""
    schools = db.session.scalars(
        select(School)
        .where(School.active.is_(True))
        .order_by(School.district_id, School.alliance_id, School.id)
    ).all()
    districts = {
        d.id: d
        for d in db.session.scalars(
            select(District).where(District.id.in_({s.district_id for s in schools}))
        )
    }
    alliances = {
        a.id: a
        for a in db.session.scalars(
            select(Alliance).where(Alliance.id.in_({s.alliance_id for s in schools}))
        )
    }
    counts = need_counts([s.id for s in schools])
    grouped: dict[int, dict[int | None, list[School]]] = {}
    for school in schools:
        grouped.setdefault(school.district_id, {}).setdefault(school.alliance_id, []).append(school)
    result = []
    for district_id, by_alliance in grouped.items():
        entries = []
        for alliance_id, members in by_alliance.items():
            alliance = alliances.get(alliance_id) if alliance_id is not None else None
            lead_id = alliance.lead_school_id if alliance else None
            members.sort(key=lambda s: (s.id != lead_id, s.id))
            entries.append(
                DirectoryAlliance(alliance, members, {s.id: counts.get(s.id, 0) for s in members})
            )
        # Alliances in the order they were set up; schools outside any alliance last.
        entries.sort(key=lambda e: (e.alliance is None, e.alliance.id if e.alliance else 0))
        result.append(DirectoryDistrict(districts[district_id], entries))
    result.sort(key=lambda d: d.district.id)
    return result


def need_counts(school_ids: list[int]) -> dict[int, int]:
    """How many active items each school's needs list asks for."""
    if not school_ids:
        return {}
    rows = db.session.execute(
        select(SchoolNeed.school_id, func.count())
        .join(Item, Item.id == SchoolNeed.item_id)
        .where(
            SchoolNeed.school_id.in_(school_ids),
            SchoolNeed.active.is_(True),
            Item.active.is_(True),
        )
        .group_by(SchoolNeed.school_id)
    ).all()
    return {school_id: count for school_id, count in rows}


def pledgeable_school(school_id: int) -> School | None:
    """An active school a donor may pledge to (with its alliance loaded)."""
    return db.session.scalars(
        select(School)
        .options(selectinload(School.alliance))
        .where(School.id == school_id, School.active.is_(True))
    ).first()


def pledgeable_alliance(alliance_id: int) -> Alliance | None:
    """An alliance with at least one active school: "wherever most needed" can be honoured."""
    alliance = db.session.get(Alliance, alliance_id)
    if alliance is None:
        return None
    active = db.session.scalar(
        select(func.count())
        .select_from(School)
        .where(School.alliance_id == alliance.id, School.active.is_(True))
    )
    return alliance if active else None


@dataclass(frozen=True)
class NeedLine:
    """One line of the needs list a donor pledges against."""

    item_id: int
    name: str
    unit: str
    target_quantity: int
    note: str | None = None


def alliance_needs(alliance_id: int) -> list[NeedLine]:
    """The needs of an alliance's active schools, added up per item ("wherever most needed")."""
    rows = db.session.execute(
        select(Item.id, Item.name, Item.unit, func.sum(SchoolNeed.target_quantity))
        .join(SchoolNeed, SchoolNeed.item_id == Item.id)
        .join(School, School.id == SchoolNeed.school_id)
        .where(
            School.alliance_id == alliance_id,
            School.active.is_(True),
            SchoolNeed.active.is_(True),
            Item.active.is_(True),
        )
        .group_by(Item.id, Item.name, Item.unit, Item.category)
        .order_by(Item.category, Item.name, Item.id)
    ).all()
    return [NeedLine(item_id, name, unit, int(total)) for item_id, name, unit, total in rows]


def school_needs(school_id: int) -> list[NeedLine]:
    """The school's public needs list (the inventory domain keeps it)."""
    from app.inventory.queries import public_needs

    return [
        NeedLine(n.item_id, n.name, n.unit, n.target_quantity, n.note)
        for n in public_needs(school_id)
    ]


def pledge_for_donor(pledge_id: int) -> Pledge | None:
    """The pledge a donor has just proved is theirs, with what the status page shows."""
    return db.session.scalars(
        select(Pledge)
        .options(
            selectinload(Pledge.donor),
            selectinload(Pledge.school),
            selectinload(Pledge.alliance).selectinload(Alliance.lead_school),
            selectinload(Pledge.lines).selectinload(PledgeLine.item),
        )
        .where(Pledge.id == pledge_id)
    ).first()


def pledge_receipts(pledge_id: int) -> list[Receipt]:
    """The receipts of a pledge, oldest first, with school and goods."""
    return list(
        db.session.scalars(
            select(Receipt)
            .options(
                selectinload(Receipt.school),
                selectinload(Receipt.lines).selectinload(ReceiptLine.item),
            )
            .where(Receipt.pledge_id == pledge_id)
            .order_by(Receipt.received_at, Receipt.id)
        )
    )


def certificate_donor_name(receipt: Receipt) -> str:
    """The donor on a certificate's public check page.

    Rule: the name (or organisation) only when the donor consented to public thanks and did
    not ask to stay anonymous; otherwise 爱心人士. Whoever scans the QR code sees no more than
    the donor wall would show.
    """
    donor = receipt.donor
    return public_donor_name(
        donor.name if donor else None,
        donor.organization if donor else None,
        anonymous=receipt.anonymous or not receipt.public_consent,
        kind=donor.kind if donor else None,
    )


_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def receipt_by_verify_token(token: str) -> Receipt | None:
    """The donation whose certificate carries this token (in its QR code); None if unknown."""
    if not _TOKEN.fullmatch(token or ""):  # URL-safe base64, as secrets.token_urlsafe makes
        return None
    return db.session.scalars(
        select(Receipt)
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
        .where(Receipt.verify_token == token, Receipt.certificate_no.is_not(None))
    ).first()


def _wall_entry(receipt: Receipt) -> WallEntry:
    donor = receipt.donor
    return WallEntry(
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
        anonymous=receipt.anonymous or donor is None,
    )


WALL_PER_PAGE = 30


def donor_wall_page(page: int, per_page: int = WALL_PER_PAGE) -> tuple[object, list[WallEntry]]:
    """One page of the public donor wall (consenting donations, newest first) and its entries.

    Four queries per page whatever its length: the page, donors, schools, lines with items.
    """
    stmt = (
        select(Receipt)
        .where(Receipt.source != "purchase", Receipt.public_consent.is_(True))
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
        .order_by(Receipt.received_at.desc(), Receipt.id.desc())
    )
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False)
    return pagination, [_wall_entry(receipt) for receipt in pagination.items]


def wall_months(entries: list[WallEntry]) -> list[tuple[str, list[WallEntry]]]:
    """Entries (newest first) grouped by the month they arrived, in the deployment's zone."""
    groups: list[tuple[str, list[WallEntry]]] = []
    for entry in entries:
        month = _month(entry.received_at)
        if not groups or groups[-1][0] != month:
            groups.append((month, []))
        groups[-1][1].append(entry)
    return groups
