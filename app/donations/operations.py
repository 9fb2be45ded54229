"""Pledges, receiving goods into stock, certificates and thanks; the needs list.

A receipt is one transaction: its lines, the stock moves they cause (through
:mod:`app.inventory.operations`), the pledge's progress and the certificate number — all or
nothing. Operations flush and raise; the caller commits.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.common import DomainError, ValidationFailed, has_control_chars, local_today, utcnow
from app.donations.models import (
    CONDITIONS,
    DONOR_KINDS,
    THANKED_VIA,
    DocumentSequence,
    Donor,
    Pledge,
    PledgeLine,
    Receipt,
    ReceiptLine,
    SchoolNeed,
)
from app.extensions import db
from app.inventory import operations as inventory
from app.inventory.models import Item
from app.org.models import Alliance, District, School

MAX_LINES = 200
MAX_QUANTITY = 1_000_000
MAX_VALUE_FEN = 100_000_000_00  # ¥100 million per unit: anything above is a typo
MAX_SHELF_YEARS = 10

# Mainland mobile (11 digits, 1[3-9]…) or a landline with area code (0371-6xxxxxxx).
_PHONE = re.compile(r"^(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(?:-\d{1,6})?)$")
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone


class PledgeNotFound(DomainError):
    code = "not_found"
    status = 404


def normalise_phone(phone: str) -> str:
    """Digits and dashes only: full-width digits, spaces and +86 are folded away."""
    import unicodedata

    value = unicodedata.normalize("NFKC", phone or "").strip()
    value = re.sub(r"[\s()（）]", "", value)
    value = re.sub(r"^(?:\+?86)", "", value)
    return value


def _digits(phone: str | None) -> str:
    """A phone as digits only: 0371-66001234 and 037166001234 are the same number."""
    return re.sub(r"\D", "", phone or "")


def check_phone(phone: str, field: str = "phone") -> str:
    value = normalise_phone(phone)
    if not _PHONE.match(value):
        raise ValidationFailed(
            _("Enter a mobile number (11 digits) or a landline with its area code."), field=field
        )
    return value


def _clean_text(
    value: str | None, field: str, *, required: bool, limit: int, fold: bool = True
) -> str | None:
    """Trimmed text within ``limit``. Names are NFKC-folded (full-width Ａ１ → A1); free text
    (``fold=False``) is not, or Chinese punctuation would turn into ASCII (，！ → ,!)."""
    import unicodedata

    value = (unicodedata.normalize("NFKC", value or "") if fold else (value or "")).strip()
    if not value:
        if required:
            raise ValidationFailed(_("This field is required."), field=field)
        return None
    if len(value) > limit:
        raise ValidationFailed(_("At most %(n)d characters.", n=limit), field=field)
    if has_control_chars(value):
        raise ValidationFailed(_("Control characters are not allowed."), field=field)
    return value


def _check_quantity(quantity: object, field: str) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed(_("The quantity must be a whole number."), field=field)
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed(_("The quantity must be between 1 and 1,000,000."), field=field)
    return quantity


# ---------------------------------------------------------------- donors and pledges


@dataclass(frozen=True)
class DonorInput:
    """Who gives. ``phone`` is required on a pledge (the donor finds it again by phone) and
    optional on a walk-in donation, where the officer may not have it."""

    name: str
    phone: str | None
    kind: str = "individual"
    organization: str | None = None


@dataclass(frozen=True)
class PledgeLineInput:
    quantity: int
    item_id: int | None = None
    description: str | None = None


def find_or_create_donor(
    district_id: int, donor: DonorInput, *, phone_required: bool = True
) -> Donor:
    """The same person (phone and name) giving again is the same donor.

    Without a phone (a walk-in donation, ``phone_required=False``) there is nothing reliable to
    recognise a person by, so each such donation gets its own donor row: two different 张伟
    must never share one (their kind and organisation would overwrite each other).
    """
    if donor.kind not in DONOR_KINDS:
        raise ValidationFailed(_("Choose who is giving."), field="kind")
    name = _clean_text(donor.name, "name", required=True, limit=100)
    if phone_required or (donor.phone and donor.phone.strip()):
        phone: str | None = check_phone(donor.phone or "")
    else:
        phone = None
    organization = _clean_text(donor.organization, "organization", required=False, limit=100)
    if donor.kind in ("enterprise", "union", "charity") and not organization:
        organization = name
    if phone is not None:
        existing = db.session.scalars(
            select(Donor)
            .where(Donor.district_id == district_id, Donor.phone == phone, Donor.name == name)
            .order_by(Donor.id)
            .limit(1)
        ).first()
        if existing is not None:
            existing.kind = donor.kind
            if organization:
                existing.organization = organization
            return existing
    row = Donor(
        district_id=district_id, kind=donor.kind, name=name, phone=phone, organization=organization
    )
    db.session.add(row)
    db.session.flush()
    return row


def new_reference() -> str:
    """A pledge reference like AX7K3M9QZP: short, unguessable, easy to read out."""
    while True:
        reference = "AX" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
        if not db.session.scalar(select(func.count()).where(Pledge.reference == reference)):
            return reference


def normalise_reference(reference: str) -> str:
    import unicodedata

    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", reference or "")).upper()


def create_pledge(
    *,
    donor: DonorInput,
    lines: Iterable[PledgeLineInput],
    school_id: int | None = None,
    alliance_id: int | None = None,
    anonymous: bool = False,
    public_consent: bool = False,
    planned_date: date | None = None,
    message: str | None = None,
) -> Pledge:
    """认捐: a donor promises goods to a school, or to an alliance "wherever most needed"."""
    if (school_id is None) == (alliance_id is None):
        raise ValidationFailed(_("Choose a school or an alliance."), field="school_id")
    if school_id is not None:
        school = db.session.get(School, school_id) if isinstance(school_id, int) else None
        if school is None or not school.active:
            raise ValidationFailed(_("Choose a school."), field="school_id")
        district_id = school.district_id
    else:
        alliance = db.session.get(Alliance, alliance_id) if isinstance(alliance_id, int) else None
        if alliance is None:
            raise ValidationFailed(_("Choose an alliance."), field="alliance_id")
        district_id = alliance.district_id
    lines = list(lines)
    if not lines:
        raise ValidationFailed(_("Add at least one kind of goods."), field="lines")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(_("At most %(n)d lines.", n=MAX_LINES), field="lines")
    if planned_date is not None:
        today = local_today()
        if not today - timedelta(days=1) <= planned_date <= today + timedelta(days=366):
            raise ValidationFailed(
                _("Choose a drop-off date within the next year."), field="planned_date"
            )
    message = _clean_text(message, "message", required=False, limit=2000, fold=False)
    checked: list[PledgeLine] = []
    for index, line in enumerate(lines):
        quantity = _check_quantity(line.quantity, f"lines.{index}.quantity")
        if line.item_id is not None:
            item = db.session.get(Item, line.item_id) if isinstance(line.item_id, int) else None
            if item is None or not item.active or item.district_id != district_id:
                raise ValidationFailed(_("Unknown item."), field=f"lines.{index}.item_id")
            checked.append(PledgeLine(item_id=item.id, quantity=quantity))
        else:
            description = _clean_text(
                line.description,
                f"lines.{index}.description",
                required=True,
                limit=200,
                fold=False,
            )
            checked.append(PledgeLine(description=description, quantity=quantity))
    donor_row = find_or_create_donor(district_id, donor)
    pledge = Pledge(
        reference=new_reference(),
        district_id=district_id,
        donor_id=donor_row.id,
        school_id=school_id,
        alliance_id=alliance_id,
        status="pledged",
        anonymous=bool(anonymous),
        public_consent=bool(public_consent),
        planned_date=planned_date,
        message=message,
        created_at=utcnow(),
    )
    db.session.add(pledge)
    db.session.flush()
    for line in checked:
        line.pledge_id = pledge.id
        db.session.add(line)
    db.session.flush()
    return pledge


def find_pledge(reference: str, phone: str) -> Pledge:
    """The donor's own pledge, by reference and the phone they gave (both must match)."""
    pledge = db.session.scalars(
        select(Pledge).where(Pledge.reference == normalise_reference(reference))
    ).first()
    if pledge is None or _digits(pledge.donor.phone) != _digits(normalise_phone(phone)):
        raise PledgeNotFound(_("No pledge with this reference and phone number."))
    return pledge


def _lock_pledge(pledge: Pledge) -> list[PledgeLine]:
    """Re-read the pledge and its lines, the pledge row locked until commit.

    Everything that changes a pledge or its lines' received quantities locks the pledge first
    (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite: the write transaction holds the database's
    write lock), so two officers receiving the same pledge at once queue instead of both
    counting from a stale figure — and a cancellation cannot slip in between.
    """
    db.session.flush()  # a refresh would drop the caller's unsaved changes
    db.session.refresh(pledge, with_for_update=True)
    return list(
        db.session.scalars(
            select(PledgeLine)
            .where(PledgeLine.pledge_id == pledge.id)
            .order_by(PledgeLine.id)
            .execution_options(populate_existing=True)
        )
    )


def assign_pledge_school(pledge: Pledge, school_id: int) -> Pledge:
    """An alliance pledge ("wherever most needed") goes to one of the alliance's schools."""
    _lock_pledge(pledge)
    if pledge.status == "cancelled":
        raise DomainError(_("This pledge was cancelled."), code="pledge_cancelled")
    school = db.session.get(School, school_id) if isinstance(school_id, int) else None
    alliance_id = pledge.alliance_id or (pledge.school.alliance_id if pledge.school else None)
    if school is None or school.alliance_id != alliance_id or alliance_id is None:
        raise ValidationFailed(_("Choose a school of the alliance."), field="school_id")
    if not school.active:
        raise ValidationFailed(_("This school is deactivated."), field="school_id")
    if pledge.school_id is not None and pledge.status != "pledged":
        raise DomainError(
            _("Goods of this pledge have already been received."), code="pledge_received"
        )
    pledge.school_id = school.id
    pledge.alliance_id = None
    db.session.flush()
    return pledge


def cancel_pledge(pledge: Pledge, reason: str | None) -> None:
    """The donor called it off, or it will not come; received goods stay received."""
    _lock_pledge(pledge)
    if pledge.status in ("received", "cancelled"):
        raise DomainError(_("This pledge can no longer be cancelled."), code="pledge_closed")
    pledge.status = "cancelled"
    pledge.cancelled_reason = _clean_text(reason, "reason", required=False, limit=200, fold=False)
    db.session.flush()


def _refresh_pledge_status(pledge: Pledge, lines: list[PledgeLine]) -> None:
    if all(line.received_quantity >= line.quantity for line in lines):
        pledge.status = "received"
    elif any(line.received_quantity > 0 for line in lines):
        pledge.status = "partly_received"


def outstanding(line: PledgeLine) -> int:
    """How many units of a pledge line are still to come."""
    return max(line.quantity - line.received_quantity, 0)


# ---------------------------------------------------------------- receiving (入库)


@dataclass(frozen=True)
class ReceiptLineInput:
    item_id: int
    quantity: int
    condition: str = "new"
    expiry_date: date | None = None
    unit_value_fen: int | None = None
    pledge_line_id: int | None = None


@dataclass
class _CheckedLine:
    item: Item
    quantity: int
    condition: str
    expiry: date | None
    unit_value_fen: int | None
    pledge_line: PledgeLine | None


def _check_receipt_line(
    index: int, line: ReceiptLineInput, district_id: int, pledge_items: set[int], today: date
) -> _CheckedLine:
    prefix = f"lines.{index}"
    if line.item_id is None:
        raise ValidationFailed(_("Choose the item."), field=f"{prefix}.item_id")
    quantity = _check_quantity(line.quantity, f"{prefix}.quantity")
    item = (
        db.session.get(Item, line.item_id)
        if isinstance(line.item_id, int) and not isinstance(line.item_id, bool)
        else None
    )
    if item is None or item.district_id != district_id:
        raise ValidationFailed(_("Unknown item."), field=f"{prefix}.item_id")
    # A pledged item that left the catalogue since may still arrive; nothing else inactive.
    if not item.active and item.id not in pledge_items:
        raise ValidationFailed(
            _("This item is no longer in the catalogue."), field=f"{prefix}.item_id"
        )
    if line.condition not in CONDITIONS:
        raise ValidationFailed(_("Choose the condition."), field=f"{prefix}.condition")
    value = line.unit_value_fen
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE_FEN
    ):
        raise ValidationFailed(_("Enter a sensible value."), field=f"{prefix}.unit_value_fen")
    expiry = line.expiry_date
    if expiry is not None:
        if not isinstance(expiry, date):
            raise ValidationFailed(_("Enter a date."), field=f"{prefix}.expiry_date")
        if expiry < today:
            raise ValidationFailed(
                _("This date has passed: expired goods are not taken into stock."),
                field=f"{prefix}.expiry_date",
            )
        if expiry > today + timedelta(days=MAX_SHELF_YEARS * 366):
            raise ValidationFailed(
                _("Enter an expiry date within %(n)d years.", n=MAX_SHELF_YEARS),
                field=f"{prefix}.expiry_date",
            )
    elif item.shelf_life_days:
        expiry = today + timedelta(days=item.shelf_life_days)
    return _CheckedLine(item, quantity, line.condition, expiry, value, None)


def _match_pledge_lines(
    checked: list[_CheckedLine], inputs: list[ReceiptLineInput], pledge_lines: list[PledgeLine]
) -> None:
    """Tie every line of a pledge receipt to a line of the pledge, and refuse over-receipt.

    A line may name its pledge line (the receiving form does); otherwise it is matched to the
    pledge's line for the same item, else to an "other goods" line still waiting to be named
    by a catalogue item (the JSON API does this). Goods that are not on the pledge, or more
    than is still to come, are refused: extra goods are recorded as a walk-in donation.
    """
    by_id = {line.id: line for line in pledge_lines}
    taken: dict[int, int] = {}  # pledge line id -> units this receipt brings
    # "Other goods" lines that this receipt has named with an item.
    named: dict[int, int] = {}

    def left(pledge_line: PledgeLine) -> int:
        return outstanding(pledge_line) - taken.get(pledge_line.id, 0)

    def item_of(pledge_line: PledgeLine) -> int | None:
        return pledge_line.item_id or named.get(pledge_line.id)

    for index, (line, given) in enumerate(zip(checked, inputs, strict=True)):
        prefix = f"lines.{index}"
        if given.pledge_line_id is not None:
            pledge_line = (
                by_id.get(given.pledge_line_id) if isinstance(given.pledge_line_id, int) else None
            )
            if pledge_line is None:
                raise ValidationFailed(
                    _("That line is not part of this pledge."), field=f"{prefix}.pledge_line_id"
                )
            if item_of(pledge_line) not in (None, line.item.id):
                raise ValidationFailed(
                    _("The item differs from the pledged item."), field=f"{prefix}.item_id"
                )
        else:
            candidates = [pl for pl in pledge_lines if item_of(pl) == line.item.id and left(pl)]
            candidates += [pl for pl in pledge_lines if item_of(pl) is None and left(pl)]
            if not candidates:
                raise ValidationFailed(
                    _(
                        "This item is not on the pledge, or has all arrived. Record extra "
                        "goods as a walk-in donation."
                    ),
                    field=f"{prefix}.item_id",
                )
            pledge_line = candidates[0]
        if line.quantity > left(pledge_line):
            raise ValidationFailed(
                _(
                    "Only %(n)d still to come on this line. Record extra goods as a walk-in "
                    "donation.",
                    n=left(pledge_line),
                ),
                field=f"{prefix}.quantity",
            )
        if pledge_line.item_id is None:
            named[pledge_line.id] = line.item.id
        taken[pledge_line.id] = taken.get(pledge_line.id, 0) + line.quantity
        line.pledge_line = pledge_line


def receive_goods(
    *,
    school_id: int,
    lines: Iterable[ReceiptLineInput],
    source: str | None = None,
    pledge: Pledge | None = None,
    donor: DonorInput | None = None,
    anonymous: bool = False,
    public_consent: bool = False,
    note: str | None = None,
    user_id: int | None = None,
) -> Receipt:
    """Goods arrive: a pledge (in full or part), a walk-in donation, or a purchase (学校自助).

    Every line raises stock through the ledger; a donation gets its certificate number.
    A walk-in without ``donor`` is an unnamed donor's gift (shown as 爱心人士). All lines are
    checked before anything is written; the caller rolls back on any error, so a receipt is
    stored whole or not at all.
    """
    school = db.session.get(School, school_id) if isinstance(school_id, int) else None
    if school is None:
        raise ValidationFailed(_("Choose a school."), field="school_id")
    if not school.active:
        raise DomainError(_("This school is deactivated."), code="school_inactive")
    source = source or ("pledge" if pledge is not None else "walk_in")
    if source not in ("pledge", "walk_in", "purchase"):
        raise ValidationFailed(_("Unknown source."), field="source")
    if source != "pledge" and pledge is not None:
        raise ValidationFailed(_("Only a pledge receipt names a pledge."), field="pledge_id")
    if source != "walk_in" and donor is not None:
        raise ValidationFailed(
            _("Only a walk-in donation names its donor here."), field="donor_name"
        )
    lines = list(lines)
    if not lines:
        raise ValidationFailed(_("Add at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(_("At most %(n)d lines.", n=MAX_LINES), field="lines")

    pledge_lines: list[PledgeLine] = []
    if source == "pledge":
        if pledge is None:
            raise ValidationFailed(_("Choose the pledge."), field="pledge_id")
        pledge_lines = _lock_pledge(pledge)
        if pledge.status == "cancelled":
            raise DomainError(_("This pledge was cancelled."), code="pledge_cancelled")
        if pledge.status == "received":
            raise DomainError(
                _(
                    "Everything pledged has arrived already. Record extra goods as a walk-in "
                    "donation."
                ),
                code="pledge_closed",
            )
        if pledge.school_id is None:
            assign_pledge_school(pledge, school.id)  # an alliance pledge, brought here
        if pledge.school_id != school.id:
            raise ValidationFailed(_("This pledge is for another school."), field="pledge_id")

    today = local_today()
    pledge_items = {pl.item_id for pl in pledge_lines if pl.item_id is not None}
    checked = [
        _check_receipt_line(index, line, school.district_id, pledge_items, today)
        for index, line in enumerate(lines)
    ]
    if source == "pledge":
        _match_pledge_lines(checked, lines, pledge_lines)

    donor_row = None
    if source == "pledge":
        donor_row = pledge.donor
        anonymous, public_consent = pledge.anonymous, pledge.public_consent
    elif source == "walk_in":
        if donor is not None:
            donor_row = find_or_create_donor(school.district_id, donor, phone_required=False)
        else:
            anonymous = True  # nobody named: the certificate says 爱心人士
    else:
        anonymous = public_consent = False

    receipt = Receipt(
        school_id=school.id,
        source=source,
        pledge_id=pledge.id if pledge is not None else None,
        donor_id=donor_row.id if donor_row is not None else None,
        anonymous=bool(anonymous),
        public_consent=bool(public_consent),
        received_at=utcnow(),
        received_by_id=user_id,
        note=_clean_text(note, "note", required=False, limit=2000, fold=False),
    )
    db.session.add(receipt)
    db.session.flush()
    rows = []
    for line in checked:
        if line.pledge_line is not None:
            if line.pledge_line.item_id is None:
                line.pledge_line.item_id = line.item.id  # "other goods" now named by an item
            line.pledge_line.received_quantity += line.quantity
        row = ReceiptLine(
            receipt_id=receipt.id,
            item_id=line.item.id,
            quantity=line.quantity,
            condition=line.condition,
            expiry_date=line.expiry,
            unit_value_fen=line.unit_value_fen,
            pledge_line_id=line.pledge_line.id if line.pledge_line is not None else None,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    # Stock rows are changed in item-id order, so two receipts never wait on each other.
    for row in sorted(rows, key=lambda r: (r.item_id, r.id)):
        inventory.receive_stock(
            school.id,
            row.item_id,
            row.quantity,
            user_id=user_id,
            receipt_line_id=row.id,
            expiry_date=row.expiry_date,
        )
    if pledge is not None:
        _refresh_pledge_status(pledge, pledge_lines)
    if receipt.is_donation:
        issue_certificate(receipt, school.district_id)
    db.session.flush()
    return receipt


def _next_number(district_id: int, name: str, year: int) -> int:
    """The next value of a per-district, per-year counter, safe under concurrency: the
    conditional increment locks the row (PostgreSQL) or runs under the write lock (SQLite)."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    db.session.execute(
        module.insert(DocumentSequence)
        .values(district_id=district_id, name=name, year=year, last_value=0)
        .on_conflict_do_nothing(index_elements=["district_id", "name", "year"])
    )
    return db.session.execute(
        update(DocumentSequence)
        .where(
            DocumentSequence.district_id == district_id,
            DocumentSequence.name == name,
            DocumentSequence.year == year,
        )
        .values(last_value=DocumentSequence.last_value + 1)
        .returning(DocumentSequence.last_value)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def issue_certificate(receipt: Receipt, district_id: int) -> None:
    """A numbered 捐赠证书 (e.g. ERQI-2026-00012) and the secret of its public check page."""
    if receipt.certificate_no:
        return
    district = db.session.get(District, district_id)
    year = local_today().year
    number = _next_number(district_id, "certificate", year)
    receipt.certificate_no = f"{district.code.upper()}-{year}-{number:05d}"
    receipt.verify_token = secrets.token_urlsafe(16)
    db.session.flush()


def mark_thanked(receipt: Receipt, *, via: str, user_id: int | None) -> None:
    """The donor has been thanked — by letter, certificate, phone call or otherwise."""
    if not receipt.is_donation:
        raise DomainError(_("A purchase has no donor to thank."), code="not_a_donation")
    if via not in THANKED_VIA:
        raise ValidationFailed(_("Choose how the donor was thanked."), field="via")
    # Locked and re-read: of two officers clicking at once, one records the thanks.
    db.session.flush()  # a refresh would drop the caller's unsaved changes
    db.session.refresh(receipt, with_for_update=True)
    if receipt.thanked_at is not None:
        raise DomainError(_("This donor has already been thanked."), code="already_thanked")
    receipt.thanked_at = utcnow()
    receipt.thanked_by_id = user_id
    receipt.thanked_via = via
    db.session.flush()


# ---------------------------------------------------------------- the needs list (需求清单)


def set_need(
    *, school_id: int, item_id: int, target_quantity: int, note: str | None = None
) -> SchoolNeed:
    """Put an item on the school's wish list (or change its target)."""
    _check_quantity(target_quantity, "target_quantity")
    school = db.session.get(School, school_id)
    item = db.session.get(Item, item_id) if isinstance(item_id, int) else None
    if school is None or item is None or item.district_id != school.district_id:
        raise ValidationFailed(_("Unknown item."), field="item_id")
    if not item.active:
        raise ValidationFailed(_("This item is no longer in the catalogue."), field="item_id")
    need = db.session.scalars(
        select(SchoolNeed).where(SchoolNeed.school_id == school_id, SchoolNeed.item_id == item_id)
    ).first()
    if need is None:
        need = SchoolNeed(school_id=school_id, item_id=item_id)
        db.session.add(need)
    need.target_quantity = target_quantity
    need.note = _clean_text(note, "note", required=False, limit=200, fold=False)
    need.active = True
    need.updated_at = utcnow()
    db.session.flush()
    return need


def remove_need(need: SchoolNeed) -> None:
    """Take an item off the wish list (kept, inactive, so its history stays)."""
    need.active = False
    need.updated_at = utcnow()
    db.session.flush()
