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


def check_phone(phone: str, field: str = "phone") -> str:
    value = normalise_phone(phone)
    if not _PHONE.match(value):
        raise ValidationFailed(
            _("Enter a mobile number (11 digits) or a landline with its area code."), field=field
        )
    return value


def _clean_text(value: str | None, field: str, *, required: bool, limit: int) -> str | None:
    import unicodedata

    value = unicodedata.normalize("NFKC", value or "").strip()
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
    name: str
    phone: str
    kind: str = "individual"
    organization: str | None = None


@dataclass(frozen=True)
class PledgeLineInput:
    quantity: int
    item_id: int | None = None
    description: str | None = None


def find_or_create_donor(district_id: int, donor: DonorInput) -> Donor:
    """The same person (phone and name) pledging again is the same donor."""
    if donor.kind not in DONOR_KINDS:
        raise ValidationFailed(_("Choose who is giving."), field="kind")
    name = _clean_text(donor.name, "name", required=True, limit=100)
    phone = check_phone(donor.phone)
    organization = _clean_text(donor.organization, "organization", required=False, limit=100)
    if donor.kind in ("enterprise", "union", "charity") and not organization:
        organization = name
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
    message = _clean_text(message, "message", required=False, limit=2000)
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
                line.description, f"lines.{index}.description", required=True, limit=200
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
    if pledge is None or pledge.donor.phone != normalise_phone(phone):
        raise PledgeNotFound(_("No pledge with this reference and phone number."))
    return pledge


def assign_pledge_school(pledge: Pledge, school_id: int) -> Pledge:
    """An alliance pledge ("wherever most needed") goes to one of the alliance's schools."""
    if pledge.status == "cancelled":
        raise DomainError(_("This pledge was cancelled."), code="pledge_cancelled")
    school = db.session.get(School, school_id)
    alliance_id = pledge.alliance_id or (pledge.school.alliance_id if pledge.school else None)
    if school is None or school.alliance_id != alliance_id or alliance_id is None:
        raise ValidationFailed(_("Choose a school of the alliance."), field="school_id")
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
    if pledge.status in ("received", "cancelled"):
        raise DomainError(_("This pledge can no longer be cancelled."), code="pledge_closed")
    pledge.status = "cancelled"
    pledge.cancelled_reason = _clean_text(reason, "reason", required=False, limit=200)
    db.session.flush()


def _refresh_pledge_status(pledge: Pledge) -> None:
    lines = pledge.lines
    if all(line.received_quantity >= line.quantity for line in lines):
        pledge.status = "received"
    elif any(line.received_quantity > 0 for line in lines):
        pledge.status = "partly_received"


# ---------------------------------------------------------------- receiving (入库)


@dataclass(frozen=True)
class ReceiptLineInput:
    item_id: int
    quantity: int
    condition: str = "new"
    expiry_date: date | None = None
    unit_value_fen: int | None = None
    pledge_line_id: int | None = None


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
    """
    school = db.session.get(School, school_id)
    if school is None:
        raise ValidationFailed(_("Choose a school."), field="school_id")
    source = source or ("pledge" if pledge is not None else "walk_in")
    if source not in ("pledge", "walk_in", "purchase"):
        raise ValidationFailed(_("Unknown source."), field="source")
    donor_row = None
    if source == "pledge":
        if pledge is None:
            raise ValidationFailed(_("Choose the pledge."), field="pledge_id")
        if pledge.status == "cancelled":
            raise DomainError(_("This pledge was cancelled."), code="pledge_cancelled")
        if pledge.school_id is None:
            assign_pledge_school(pledge, school.id)  # an alliance pledge, brought here
        if pledge.school_id != school.id:
            raise ValidationFailed(_("This pledge is for another school."), field="pledge_id")
        donor_row = pledge.donor
        anonymous, public_consent = pledge.anonymous, pledge.public_consent
    elif source == "walk_in":
        if donor is None:
            raise ValidationFailed(_("Enter the donor."), field="donor")
        donor_row = find_or_create_donor(school.district_id, donor)
    lines = list(lines)
    if not lines:
        raise ValidationFailed(_("Add at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(_("At most %(n)d lines.", n=MAX_LINES), field="lines")
    pledge_lines = {line.id: line for line in pledge.lines} if pledge is not None else {}
    receipt = Receipt(
        school_id=school.id,
        source=source,
        pledge_id=pledge.id if pledge is not None else None,
        donor_id=donor_row.id if donor_row is not None else None,
        anonymous=bool(anonymous),
        public_consent=bool(public_consent) and source != "purchase",
        received_at=utcnow(),
        received_by_id=user_id,
        note=_clean_text(note, "note", required=False, limit=2000),
    )
    db.session.add(receipt)
    db.session.flush()
    today = local_today()
    for index, line in enumerate(lines):
        quantity = _check_quantity(line.quantity, f"lines.{index}.quantity")
        item = db.session.get(Item, line.item_id) if isinstance(line.item_id, int) else None
        if item is None or item.district_id != school.district_id:
            raise ValidationFailed(_("Unknown item."), field=f"lines.{index}.item_id")
        if line.condition not in CONDITIONS:
            raise ValidationFailed(_("Choose the condition."), field=f"lines.{index}.condition")
        if line.unit_value_fen is not None and not 0 <= line.unit_value_fen <= MAX_VALUE_FEN:
            raise ValidationFailed(
                _("Enter a sensible value."), field=f"lines.{index}.unit_value_fen"
            )
        expiry = line.expiry_date
        if expiry is None and item.shelf_life_days:
            expiry = today + timedelta(days=item.shelf_life_days)
        pledge_line = None
        if line.pledge_line_id is not None:
            pledge_line = pledge_lines.get(line.pledge_line_id)
            if pledge_line is None:
                raise ValidationFailed(
                    _("That line is not part of this pledge."),
                    field=f"lines.{index}.pledge_line_id",
                )
            if pledge_line.item_id is None:
                pledge_line.item_id = item.id  # "other goods" now named by a catalogue item
            elif pledge_line.item_id != item.id:
                raise ValidationFailed(
                    _("The item differs from the pledged item."), field=f"lines.{index}.item_id"
                )
            pledge_line.received_quantity += quantity
        receipt_line = ReceiptLine(
            receipt_id=receipt.id,
            item_id=item.id,
            quantity=quantity,
            condition=line.condition,
            expiry_date=expiry,
            unit_value_fen=line.unit_value_fen,
            pledge_line_id=pledge_line.id if pledge_line is not None else None,
        )
        db.session.add(receipt_line)
        db.session.flush()
        inventory.receive_stock(
            school.id,
            item.id,
            quantity,
            user_id=user_id,
            receipt_line_id=receipt_line.id,
            expiry_date=expiry,
        )
    if pledge is not None:
        _refresh_pledge_status(pledge)
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
    need.note = _clean_text(note, "note", required=False, limit=200)
    need.active = True
    need.updated_at = utcnow()
    db.session.flush()
    return need


def remove_need(need: SchoolNeed) -> None:
    """Take an item off the wish list (kept, inactive, so its history stays)."""
    need.active = False
    need.updated_at = utcnow()
    db.session.flush()
