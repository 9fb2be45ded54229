"""Forms of the school officer's donation pages: receiving, walk-ins, purchases, thanks.

Numbers, dates and money are parsed here with our own messages (full-width digits, ``¥`` and
``元`` are accepted: officers paste from spreadsheets and Chinese input methods), so every error
reads in the user's language. Rules that need the database — is the item in the catalogue, is
this more than the pledge still expects — are the operation's; the view shows its refusal on
the field it names.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import TextInput

from app.donations.models import CONDITIONS, DONOR_KINDS, THANKED_VIA
from app.donations.operations import MAX_QUANTITY, MAX_VALUE_FEN
from app.org.forms import clean, int_or_none, no_control_chars, options

CONDITION_LABELS = {"new": _l("New"), "good": _l("Good"), "fair": _l("Fair")}
DONOR_KIND_LABELS = {
    "individual": _l("Individual"),
    "enterprise": _l("Enterprise"),
    "union": _l("Trade union"),
    "charity": _l("Charity"),
    "staff": _l("School staff"),
}
THANKED_VIA_LABELS = {
    "letter": _l("Thank-you letter"),
    "certificate": _l("Donation certificate"),
    "phone": _l("Phone call"),
    "other": _l("Other"),
}
PLEDGE_STATUS_LABELS = {
    "pledged": _l("Pledged"),
    "partly_received": _l("Partly received"),
    "received": _l("Received"),
    "cancelled": _l("Cancelled"),
}
SOURCE_LABELS = {
    "pledge": _l("Pledge"),
    "walk_in": _l("Walk-in donation"),
    "purchase": _l("School purchase"),
}

DEFAULT_ROWS = 5  # empty lines on a new walk-in or purchase form; JavaScript adds more
MAX_ROWS = 200


def _fold(value: str) -> str:
    """Full-width digits and punctuation to ASCII, spaces and thousands separators away."""
    return re.sub(r"[\s,]", "", unicodedata.normalize("NFKC", value or ""))


class QuantityField(Field):
    """A whole number of units; empty is ``None``."""

    widget = TextInput(input_type="text")

    def __init__(self, label=None, validators=None, minimum: int = 1, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)
        self.minimum = minimum

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist:
            return
        text = _fold(valuelist[0])
        if not text:
            return
        if not re.fullmatch(r"\d{1,7}", text):
            raise ValueError(_l("Enter a whole number."))
        number = int(text)
        if not self.minimum <= number <= MAX_QUANTITY:
            raise ValueError(_l("Enter a number from %(min)d to 1,000,000.", min=self.minimum))
        self.data = number


class YuanField(Field):
    """An amount in yuan (up to two decimals) kept as fen; empty is ``None``."""

    widget = TextInput(input_type="text")

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{Decimal(self.data) / 100:.2f}"

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist:
            return
        text = _fold(valuelist[0]).removeprefix("¥").removesuffix("元")
        if not text:
            return
        if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", text):
            raise ValueError(_l("Enter an amount in yuan, such as 12.50."))
        try:
            fen = int((Decimal(text) * 100).to_integral_value())
        except InvalidOperation as exc:  # pragma: no cover - the pattern rules this out
            raise ValueError(_l("Enter an amount in yuan, such as 12.50.")) from exc
        if fen > MAX_VALUE_FEN:
            raise ValueError(_l("Enter a sensible value."))
        self.data = fen


class LooseDateField(Field):
    """A date as the browser's date picker sends it (2026-03-05), or typed as 2026/3/5."""

    widget = TextInput(input_type="date")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.isoformat() if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist:
            return
        text = unicodedata.normalize("NFKC", valuelist[0] or "").strip()
        if not text:
            return
        match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
        try:
            if not match:
                raise ValueError
            self.data = datetime(*(int(g) for g in match.groups())).date()
        except ValueError as exc:
            raise ValueError(_l("Enter a date such as 2026-03-05.")) from exc


class ReceiptLineForm(Form):
    """One line of goods. On a pledge the line names its pledge line (hidden)."""

    pledge_line_id = HiddenField(filters=[lambda v: _int_or_none_quiet(v)])
    item_id = SelectField(
        _l("Item"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    quantity = QuantityField(_l("Quantity"), minimum=0)
    condition = SelectField(
        _l("Condition"),
        choices=options((c, CONDITION_LABELS[c]) for c in CONDITIONS),
        default="new",
    )
    expiry_date = LooseDateField(_l("Expiry date"))
    unit_value = YuanField(_l("Value per unit (yuan)"))

    @property
    def blank(self) -> bool:
        """Nothing entered on this line: skipped (a pledge line with 0 is not received now)."""
        return not self.quantity.data and (
            self.item_id.data is None or bool(self.pledge_line_id.data)
        )


def _int_or_none_quiet(value: object) -> int | None:
    try:
        return int_or_none(value)
    except (TypeError, ValueError):
        return -1  # a forged value: the operation answers "not part of this pledge"


class ReceiveForm(FlaskForm):
    """Receiving goods: the lines and a note."""

    lines = FieldList(FormField(ReceiptLineForm), min_entries=0, max_entries=MAX_ROWS)
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=2000), no_control_chars],
        filters=[lambda v: v.strip() or None if isinstance(v, str) else v],
        render_kw={"rows": 2},
    )


class WalkInForm(ReceiveForm):
    """A donation without a pledge: who gave, and the goods."""

    school_id = SelectField(_l("School"), coerce=int_or_none, validate_choice=False)
    kind = SelectField(
        _l("Donor type"),
        choices=options((k, DONOR_KIND_LABELS[k]) for k in DONOR_KINDS),
        default="individual",
    )
    name = StringField(
        _l("Donor name"),
        validators=[Optional(), Length(max=100), no_control_chars],
        filters=[clean],
        description=_l("Leave empty if the donor did not give a name (shown as 爱心人士)."),
    )
    phone = StringField(
        _l("Phone"),
        validators=[Optional(), Length(max=32)],
        filters=[clean],
        description=_l("Optional: for thanking the donor."),
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    organization = StringField(
        _l("Company or organisation"),
        validators=[Optional(), Length(max=100), no_control_chars],
        filters=[clean],
    )
    anonymous = BooleanField(_l("The donor wishes to stay anonymous (爱心人士)"))
    public_consent = BooleanField(_l("The donor agrees to be thanked publicly (donor wall)"))

    def validate_phone(self, field) -> None:
        if field.data and not self.name.data:
            raise ValidationError(_l("Enter the donor's name with the phone number."))


class PurchaseForm(ReceiveForm):
    """The school's own purchase (学校自助): no donor, no certificate."""

    school_id = SelectField(_l("School"), coerce=int_or_none, validate_choice=False)


class AssignForm(FlaskForm):
    school_id = SelectField(_l("School"), coerce=int_or_none, validate_choice=False)


class CancelForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[Optional(), Length(max=200), no_control_chars],
        filters=[clean],
    )


class ThankForm(FlaskForm):
    via = SelectField(
        _l("Thanked by"),
        choices=options((v, THANKED_VIA_LABELS[v]) for v in THANKED_VIA),
        default="certificate",
    )
    next = HiddenField()
