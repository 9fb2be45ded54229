"""Forms of the public pledge pages: the pledge, and the donor's status lookup.

The pledge form has two parts:

* :class:`PledgeForm` (Flask-WTF): who gives, how to reach them, anonymity and consent, the
  planned drop-off date and a message — plus the CSRF token, a honeypot field and a signed
  "form issued at" stamp (anti-automation, ASVS 2.4.1; no outside captcha).
* :class:`PledgeLines`: the goods — one quantity box per line of the needs list and a few
  "other goods" rows (description + quantity). They are read straight from the POST, because
  the needs list comes from the database, not from the form class; values and per-row
  errors are kept for the re-rendered form.

The rules themselves (quantities 1–1,000,000, phone format, lengths) are checked again by
``app.donations.operations.create_pledge``, which has the last word.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.common import ValidationFailed, has_control_chars, normalise_name
from app.donations.models import DONOR_KINDS
from app.donations.operations import MAX_QUANTITY, PledgeLineInput, check_phone

DONOR_KIND_LABELS = {
    "individual": _l("Individual"),
    "enterprise": _l("Enterprise"),
    "union": _l("Trade union"),
    "charity": _l("Charity"),
    "staff": _l("School staff"),
}
ORGANISATION_KINDS = frozenset({"enterprise", "union", "charity"})

OTHER_ROWS = 3  # blank "other goods" rows without JavaScript
MAX_OTHER_ROWS = 20  # rows read from a POST; the page's script adds rows up to this many
DESCRIPTION_MAX = 200
MESSAGE_MAX = 2000
HONEYPOT = "website"


def clean(value: object) -> object:
    """Trim and NFKC-fold pasted text; an empty answer is ``None``."""
    if isinstance(value, str):
        return normalise_name(value) or None
    return value


def strip_text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def no_control_chars(form, field) -> None:  # noqa: ARG001
    if field.data and has_control_chars(field.data):
        raise ValidationError(_l("Control characters are not allowed."))


def valid_phone(form, field) -> None:  # noqa: ARG001
    if field.data:
        try:
            check_phone(field.data)
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from exc


# ---------------------------------------------------------------- the fill-time stamp


def _stamp_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="aixin-pledge-form")


def form_stamp(issued_at: float | None = None) -> str:
    """A signed "this form was handed out at" time, put in a hidden field of the form."""
    return _stamp_serializer().dumps(int(issued_at if issued_at is not None else time.time()))


def stamp_age(stamp: str | None) -> float | None:
    """Seconds since the form was handed out; None when the stamp is missing or forged."""
    if not stamp or len(stamp) > 200:
        return None
    try:
        issued = _stamp_serializer().loads(stamp)
    except BadSignature:
        return None
    if isinstance(issued, bool) or not isinstance(issued, int):
        return None
    return time.time() - issued


# ---------------------------------------------------------------- who gives


class PlainDateField(DateField):
    """A date field whose "cannot read this" message says what to type."""

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_("Enter a date like 2026-05-20.")) from exc


class PledgeForm(FlaskForm):
    kind = RadioField(
        _l("Who is giving?"),
        choices=[SelectChoice(kind, DONOR_KIND_LABELS[kind]) for kind in DONOR_KINDS],
        default="individual",
        validators=[DataRequired(message=_l("Choose who is giving."))],
    )
    name = StringField(
        _l("Your name"),
        validators=[
            DataRequired(message=_l("Enter your name.")),
            Length(max=100, message=_l("At most %(max)d characters.")),
            no_control_chars,
        ],
        filters=[clean],
        render_kw={"autocomplete": "name"},
    )
    phone = StringField(
        _l("Phone"),
        validators=[
            DataRequired(message=_l("Enter a phone number: the school calls you to arrange.")),
            Length(max=32, message=_l("At most %(max)d characters.")),
            valid_phone,
        ],
        filters=[strip_text],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"},
    )
    organization = StringField(
        _l("Organisation (optional)"),
        validators=[
            Optional(),
            Length(max=100, message=_l("At most %(max)d characters.")),
            no_control_chars,
        ],
        filters=[clean],
        render_kw={"autocomplete": "organization"},
    )
    anonymous = BooleanField(_l("Give anonymously: show me only as “Caring donor”"))
    public_consent = BooleanField(
        _l("The school may thank me publicly (donor wall, certificate check page)")
    )
    planned_date = PlainDateField(
        _l("Planned drop-off date (optional)"),
        validators=[Optional()],
        render_kw={"type": "date"},
    )
    message = TextAreaField(
        _l("A message to the children (optional)"),
        validators=[
            Length(max=MESSAGE_MAX, message=_l("At most %(max)d characters.")),
            no_control_chars,
        ],
        filters=[strip_text],
        render_kw={"rows": 3, "maxlength": MESSAGE_MAX},
    )
    # The honeypot: hidden from people by CSS, filled in by form-filling robots.
    website = StringField(_l("Leave this field empty"), render_kw={"autocomplete": "off"})
    started = HiddenField()


# ---------------------------------------------------------------- the goods


_WHOLE = re.compile(r"[+-]?\d{1,9}")


@dataclass
class LineRow:
    """One row of goods on the form: a needs-list item or an "other goods" row."""

    key: str  # the form field's name prefix: need-<item_id> or other-<n>
    item_id: int | None = None
    label: str = ""
    unit: str = ""
    target: int | None = None
    note: str | None = None
    description: str = ""
    quantity_text: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def is_other(self) -> bool:
        return self.item_id is None

    @property
    def blank(self) -> bool:
        return not self.quantity_text and not self.description


def _fold(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def _quantity(text: str) -> int | None:
    """A whole number typed by a person (full-width digits folded), or None."""
    if not _WHOLE.fullmatch(text):
        return None
    return int(text)


class PledgeLines:
    """The goods part of the pledge form, read from ``formdata`` against the needs list."""

    def __init__(self, needs: list, formdata: MultiDict | None = None):
        formdata = formdata if formdata is not None else MultiDict()
        self.errors: list[str] = []
        self.needs = [
            LineRow(
                key=f"need-{need.item_id}",
                item_id=need.item_id,
                label=need.name,
                unit=need.unit,
                target=need.target_quantity,
                note=need.note,
                quantity_text=_fold(formdata.get(f"need-{need.item_id}"))[:40],
            )
            for need in needs
        ]
        others = []
        for n in range(MAX_OTHER_ROWS):
            description = formdata.get(f"other-{n}-description")
            quantity = formdata.get(f"other-{n}-quantity")
            if description is None and quantity is None:
                continue
            others.append(
                LineRow(
                    key=f"other-{n}",
                    # Kept whole (escaped on output) so the donor sees what they typed;
                    # an over-long description is refused, not cut.
                    description=(description or "").strip()[: DESCRIPTION_MAX * 4],
                    quantity_text=_fold(quantity)[:40],
                )
            )
        filled = [row for row in others if not row.blank]
        # Blank rows to type into: at least OTHER_ROWS rows, and one spare after the filled ones.
        spare = max(OTHER_ROWS - len(filled), 1)
        self.others = filled + [LineRow(key="") for _ in range(spare)]
        for index, row in enumerate(self.others):
            row.key = f"other-{index}"
        self.others = self.others[:MAX_OTHER_ROWS]
        self._sources: list[LineRow] = []  # the row of each line handed to create_pledge

    @property
    def rows(self) -> list[LineRow]:
        return self.needs + self.others

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(row.errors for row in self.rows)

    def validate(self) -> list[PledgeLineInput]:
        """The filled rows as pledge lines; errors go to their rows (and ``self.errors``)."""
        lines: list[PledgeLineInput] = []
        self._sources = []
        for row in self.rows:
            if row.blank:
                continue
            if row.is_other and not row.description:
                row.errors.append(_("Describe the goods."))
                continue
            if row.is_other and len(row.description) > DESCRIPTION_MAX:
                row.errors.append(_("At most %(max)d characters.", max=DESCRIPTION_MAX))
                continue
            if row.is_other and has_control_chars(row.description):
                row.errors.append(_("Control characters are not allowed."))
                continue
            if not row.quantity_text:
                row.errors.append(_("Enter how many."))
                continue
            quantity = _quantity(row.quantity_text)
            if quantity is None and re.fullmatch(r"[+-]?\d+", row.quantity_text):
                quantity = MAX_QUANTITY + 1  # too many digits: out of range, not "not a number"
            if quantity is None:
                row.errors.append(_("Enter a whole number, like 10."))
                continue
            if not 1 <= quantity <= MAX_QUANTITY:
                row.errors.append(_("The quantity must be between 1 and 1,000,000."))
                continue
            lines.append(
                PledgeLineInput(
                    quantity=quantity,
                    item_id=row.item_id,
                    description=row.description if row.is_other else None,
                )
            )
            self._sources.append(row)
        if not lines and not self.has_errors:
            self.errors.append(
                _("Enter a quantity for at least one item, or describe other goods.")
            )
        return lines

    def attach(self, exc: ValidationFailed) -> bool:
        """Put an error of ``create_pledge`` on the row it names (``lines.3.quantity``)."""
        match = re.fullmatch(r"lines\.(\d+)\.\w+", exc.field or "")
        if match and int(match.group(1)) < len(self._sources):
            self._sources[int(match.group(1))].errors.append(exc.message)
            return True
        if (exc.field or "") == "lines":
            self.errors.append(exc.message)
            return True
        return False


# ---------------------------------------------------------------- the status lookup


class StatusLookupForm(FlaskForm):
    reference = StringField(
        _l("Pledge reference"),
        validators=[
            DataRequired(message=_l("Enter the reference of your pledge.")),
            Length(max=40, message=_l("At most %(max)d characters.")),
        ],
        filters=[strip_text],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    phone = StringField(
        _l("The phone number you gave"),
        validators=[
            DataRequired(message=_l("Enter the phone number you gave with the pledge.")),
            Length(max=32, message=_l("At most %(max)d characters.")),
        ],
        filters=[strip_text],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"},
    )
