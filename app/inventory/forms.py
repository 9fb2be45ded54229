"""Forms of the catalogue and stock pages.

Lengths and bounds match the columns and API-v1.md (a 300-character name or a quantity of
10**20 is a 422 on the form, never a database error). Optional text comes back as ``None``.
Lists of quantities keyed by item (a count sheet, a transfer's lines) are not WTForms fields:
:func:`parse_quantities` reads them from the posted form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.common import has_control_chars, normalise_name
from app.inventory.models import CATEGORIES, LIMIT_PERIODS
from app.org.forms import int_or_none, options

MAX_QUANTITY = 1_000_000

CATEGORY_LABELS = {
    "stationery": _l("Stationery"),
    "books": _l("Books"),
    "daily": _l("Daily necessities"),
    "clothing": _l("Clothing"),
    "sports": _l("Sports goods"),
    "food": _l("Food"),
    "other": _l("Other"),
}
LIMIT_PERIOD_LABELS = {"month": _l("per month"), "semester": _l("per semester")}
MOVE_KIND_LABELS = {
    "receipt": _l("Received into stock"),
    "redemption": _l("Redeemed"),
    "void_return": _l("Voided, back on the shelf"),
    "transfer_out": _l("Transferred out"),
    "transfer_in": _l("Transferred in"),
    "adjustment": _l("Adjustment"),
    "stocktake": _l("Stocktake difference"),
    "write_off": _l("Write-off"),
}
TRANSFER_STATUS_LABELS = {
    "requested": _l("Awaiting approval"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
}
STOCKTAKE_STATUS_LABELS = {
    "open": _l("Counting"),
    "finalised": _l("Finalised"),
    "cancelled": _l("Cancelled"),
}
WRITE_OFF_CAUSES = {
    "expired": _l("Expired"),
    "damaged": _l("Damaged"),
    "other": _l("Other"),
}


def clean(value: object) -> object:
    """Trim and NFKC-fold pasted text; an empty answer is ``None``."""
    if isinstance(value, str):
        return normalise_name(value) or None
    return value


def clean_text(value: object) -> object:
    """Free text keeps its line breaks; only the ends are trimmed."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def no_control_chars(form, field) -> None:  # noqa: ARG001
    if isinstance(field.data, str) and has_control_chars(field.data):
        raise ValidationError(_l("Control characters are not allowed."))


def _text(label, max_length: int, *, required: bool = False, **kw):
    first = DataRequired() if required else Optional()
    return StringField(
        label,
        validators=[first, Length(max=max_length), no_control_chars],
        filters=[clean],
        **kw,
    )


def _long_text(label, max_length: int, rows: int = 3):
    return TextAreaField(
        label,
        validators=[Optional(), Length(max=max_length), no_control_chars],
        filters=[clean_text],
        render_kw={"rows": rows},
    )


def _quantity(label, *, minimum: int = 1, required: bool = True, **kw):
    return IntegerField(
        label,
        validators=[
            InputRequired() if required else Optional(),
            NumberRange(
                min=minimum,
                max=MAX_QUANTITY,
                message=_l(
                    "Enter a whole number from %(min)d to %(max)s.",
                    min=minimum,
                    max="1,000,000",
                ),
            ),
        ],
        render_kw={"inputmode": "numeric", "min": minimum, "max": MAX_QUANTITY},
        **kw,
    )


def _choice_or_blank(value: object) -> str:
    """A select whose empty option means "none"; a missing value (None) is that option too."""
    return "" if value is None or value == "None" else str(value)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# ---------------------------------------------------------------- the catalogue


class ItemForm(FlaskForm):
    name = _text(_l("Item name"), 100, required=True)
    category = SelectField(
        _l("Category"), choices=options((c, CATEGORY_LABELS[c]) for c in CATEGORIES)
    )
    unit = _text(
        _l("Unit"),
        20,
        required=True,
        description=_l("As counted on the shelf: 个, 本, 支, 件, 套, 盒 …"),
    )
    points = _quantity(_l("Points price"))
    limit_quantity = IntegerField(
        _l("Limit per student"),
        validators=[
            Optional(),
            NumberRange(min=1, max=1000, message=_l("Enter a limit from 1 to 1000.")),
        ],
        render_kw={"inputmode": "numeric", "min": 1, "max": 1000},
    )
    limit_period = SelectField(
        _l("Limit period"),
        coerce=_choice_or_blank,
        choices=options(
            [("", _l("— no limit —")), *((p, LIMIT_PERIOD_LABELS[p]) for p in LIMIT_PERIODS)]
        ),
        default="",
    )
    shelf_life_days = IntegerField(
        _l("Shelf life (days)"),
        validators=[
            Optional(),
            NumberRange(min=1, max=3650, message=_l("Enter 1 to 3650 days.")),
        ],
        render_kw={"inputmode": "numeric", "min": 1, "max": 3650},
    )
    description = _long_text(_l("Description"), 2000)
    photo = FileField(_l("Upload a photo"), render_kw={"accept": "image/jpeg,image/png,image/webp"})
    remove_photo = BooleanField(_l("Remove the current photo"))
    active = BooleanField(_l("Active (can be stocked and redeemed)"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.limit_period.data is None:  # an item without a limit, or the field not posted
            self.limit_period.data = ""

    def validate_limit_period(self, field) -> None:
        if bool(field.data) != (self.limit_quantity.data is not None):
            raise ValidationError(_l("A limit needs both a quantity and a period."))


class CatalogueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Search"),
        validators=[Optional(), Length(max=100), no_control_chars],
        filters=[clean],
    )
    category = SelectField(
        _l("Category"),
        choices=options([("", _l("All categories")), *CATEGORY_LABELS.items()]),
        validators=[Optional()],
        default="",
    )
    status = SelectField(
        _l("Status"),
        choices=options(
            [("active", _l("Active")), ("inactive", _l("Inactive")), ("all", _l("All"))]
        ),
        default="active",
    )


# ---------------------------------------------------------------- stock


class StockFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Search"),
        validators=[Optional(), Length(max=100), no_control_chars],
        filters=[clean],
    )
    category = SelectField(
        _l("Category"),
        choices=options([("", _l("All categories")), *CATEGORY_LABELS.items()]),
        validators=[Optional()],
        default="",
    )
    show = SelectField(
        _l("Show"),
        choices=options(
            [
                ("", _l("All items")),
                ("low", _l("Low stock")),
                ("expiring", _l("Expiring soon")),
                ("in_stock", _l("In stock")),
            ]
        ),
        validators=[Optional()],
        default="",
    )


class ReorderLevelForm(FlaskForm):
    level = IntegerField(
        _l("Low-stock level"),
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_QUANTITY,
                message=_l("Enter a whole number from %(min)d to %(max)s.", min=0, max="1,000,000"),
            ),
        ],
        description=_l("Below this the item is marked low and suggested for the needs list."),
        render_kw={"inputmode": "numeric", "min": 0, "max": MAX_QUANTITY},
    )


class AdjustForm(FlaskForm):
    direction = RadioField(
        _l("Change"),
        choices=options([("add", _l("Add to stock")), ("remove", _l("Take out of stock"))]),
        default="add",
        validators=[InputRequired()],
    )
    quantity = _quantity(_l("Quantity"))
    reason = _text(_l("Reason"), 200, required=True)


class WriteOffForm(FlaskForm):
    cause = SelectField(
        _l("Why"), choices=options(WRITE_OFF_CAUSES.items()), validators=[InputRequired()]
    )
    quantity = _quantity(_l("Quantity"))
    # Choices are the item's open lots; the operation checks the lot (a forged id gets
    # "that batch does not have enough units left").
    lot_id = SelectField(
        _l("Batch"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    reason = _text(_l("Reason details"), 150)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Not an inline validator: Optional() on the field would stop it on an empty answer.
        if self.cause.data == "other" and not self.reason.data and not self.reason.errors:
            self.reason.errors = [
                *self.reason.errors,
                _l("Describe why the goods are written off."),
            ]
            valid = False
        return valid


# ---------------------------------------------------------------- the needs list


class NeedForm(FlaskForm):
    item_id = SelectField(
        _l("Item"), coerce=int_or_none, validate_choice=False, validators=[InputRequired()]
    )
    target_quantity = _quantity(_l("Quantity wanted"))
    note = _text(_l("Note"), 200)


class NeedEditForm(FlaskForm):
    target_quantity = _quantity(_l("Quantity wanted"))
    note = _text(_l("Note"), 200)


# ---------------------------------------------------------------- stocktakes and transfers


class StocktakeStartForm(FlaskForm):
    scope = RadioField(
        _l("What to count"),
        choices=options(
            [("all", _l("Every item the school stocks")), ("chosen", _l("Only the items I choose"))]
        ),
        default="all",
        validators=[InputRequired()],
    )
    item_ids = MultiCheckboxField(_l("Items"), coerce=int, validate_choice=False)
    note = _long_text(_l("Note"), 2000, rows=2)

    def validate_item_ids(self, field) -> None:
        if self.scope.data == "chosen" and not field.data:
            raise ValidationError(_l("Choose at least one item to count."))


class TransferForm(FlaskForm):
    to_school_id = SelectField(
        _l("To school"), coerce=int_or_none, validate_choice=False, validators=[InputRequired()]
    )
    note = _long_text(_l("Note"), 2000, rows=2)


class DecisionForm(FlaskForm):
    note = _long_text(_l("Decision note"), 2000, rows=2)


_WHOLE = re.compile(r"[0-9]{1,7}")


def parse_quantities(
    form: Mapping[str, str],
    prefix: str,
    item_ids: Iterable[int],
    *,
    minimum: int,
) -> tuple[dict[int, int | None], dict[int, str]]:
    """Read ``<prefix><item_id>`` fields: blank is ``None``; anything else a whole number in
    ``minimum``..1,000,000. Returns (values, errors by item id); nothing is partly accepted."""
    values: dict[int, int | None] = {}
    errors: dict[int, str] = {}
    for item_id in item_ids:
        raw = form.get(f"{prefix}{item_id}")
        if raw is None:
            continue
        text = normalise_name(raw)
        if not text:
            values[item_id] = None
            continue
        if not _WHOLE.fullmatch(text) or not minimum <= int(text) <= MAX_QUANTITY:
            errors[item_id] = _(
                "Enter a whole number from %(min)d to %(max)s.", min=minimum, max="1,000,000"
            )
            continue
        values[item_id] = int(text)
    return values, errors
