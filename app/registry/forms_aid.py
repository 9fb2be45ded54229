"""Forms of the aid pages: certification steps, programmes and grants, pairings.

Lengths match the columns; selects whose choices depend on the school get them in the view,
and the operations re-check every id (a forged id gets the rule's own message).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.org.forms import clean, int_or_none, no_control_chars, options
from app.registry.certification import CATEGORY_LABELS, LEVEL_LABELS
from app.registry.grants import AID_MODE_LABELS, AMOUNT_KEY_LABELS, AMOUNT_KEYS
from app.registry.models import AID_MODES, LEVELS, PAIRING_KINDS, SPECIAL_GROUPS
from app.registry.pairing import LOG_KIND_LABELS, LOG_KINDS, PAIRING_KIND_LABELS

MAX_YUAN = Decimal("1000000")


def _strip(value: object) -> object:
    return value.strip() or None if isinstance(value, str) else value


def _sane_date(form, field) -> None:  # noqa: ARG001
    if field.data is not None and not date(2000, 1, 1) <= field.data <= date(2100, 12, 31):
        raise ValidationError(_l("Enter a real date."))


def _long_text(label, *, required: bool = False, rows: int = 4):
    return TextAreaField(
        label,
        validators=[DataRequired() if required else Optional(), Length(max=2000), no_control_chars],
        filters=[_strip],
        render_kw={"rows": rows},
    )


def _short_text(label, max_length: int, *, required: bool = False):
    return StringField(
        label,
        validators=[
            DataRequired() if required else Optional(),
            Length(max=max_length),
            no_control_chars,
        ],
        filters=[clean],
    )


def _date(label, *, required: bool = False):
    return DateField(
        label,
        validators=[InputRequired() if required else Optional(), _sane_date],
        render_kw={"max": "2100-12-31"},
    )


def parse_yuan(text: object) -> int | None:
    """ "1,250" / "1250.5" / "¥625" → fen; blank → None; anything else raises ValueError."""
    if text is None:
        return None
    value = str(text).strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError("not an amount") from exc
    if not amount.is_finite() or amount <= 0 or amount > MAX_YUAN:
        raise ValueError("out of range")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("more than two decimals")
    return int(amount * 100)


def _yuan_check(form, field) -> None:  # noqa: ARG001
    try:
        field.fen = parse_yuan(field.data)
    except ValueError as exc:
        raise ValidationError(
            _l("Enter an amount in yuan, greater than 0, with at most two decimals.")
        ) from exc


def _yuan(label, *, required: bool = False):
    return StringField(
        label,
        validators=[DataRequired() if required else Optional(), Length(max=20), _yuan_check],
        filters=[clean],
        render_kw={"inputmode": "decimal", "placeholder": "0.00"},
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# ---------------------------------------------------------------- certification


class ApplicationForm(FlaskForm):
    """Filled on the family's behalf by the head teacher or the officer."""

    student_id = SelectField(
        _l("Student"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    categories = MultiCheckboxField(
        _l("Special groups"),
        choices=options((c, CATEGORY_LABELS[c]) for c in SPECIAL_GROUPS),
    )
    situation = _long_text(_l("The family's situation (in the family's own words)"), rows=5)
    written_pledge = BooleanField(_l("The family has signed the written pledge (书面承诺)"))
    pledge_signed_on = _date(_l("Pledge signed on"))


class ClassReviewForm(FlaskForm):
    recommended_level = RadioField(
        _l("Recommended level"),
        choices=options((lv, LEVEL_LABELS[lv]) for lv in LEVELS),
        validators=[InputRequired(message=_l("Choose a level."))],
    )
    note = _long_text(_l("Note of the class review group"), rows=3)


class DecisionForm(FlaskForm):
    outcome = RadioField(
        _l("Level decided"),
        choices=options(
            [*((lv, LEVEL_LABELS[lv]) for lv in LEVELS), ("reject", _l("Not certified"))]
        ),
        validators=[InputRequired(message=_l("Choose the decision."))],
    )
    note = _long_text(_l("Note (the reason, when not certified)"), rows=3)


class ObjectionForm(FlaskForm):
    received_on = _date(_l("Received on"), required=True)
    content = _long_text(_l("What the objection says"), required=True, rows=3)


class ResolveObjectionForm(FlaskForm):
    upheld = RadioField(
        _l("Result of the check"),
        choices=options(
            [
                ("no", _l("Not upheld: the certification stands")),
                ("yes", _l("Upheld: the student is not certified")),
            ]
        ),
        validators=[InputRequired(message=_l("Choose the result."))],
    )
    resolution = _long_text(_l("How it was checked and resolved"), required=True, rows=3)


class LevelChangeForm(FlaskForm):
    new_level = SelectField(
        _l("New level"),
        choices=options(
            [*((lv, LEVEL_LABELS[lv]) for lv in LEVELS), ("revoke", _l("Revoke the certification"))]
        ),
    )
    reason = _long_text(_l("Reason"), required=True, rows=3)


class ExportForm(FlaskForm):
    format = SelectField(_l("Format"), choices=options([("xlsx", "Excel (.xlsx)"), ("csv", "CSV")]))


# ---------------------------------------------------------------- programmes and grants


class ProgrammeForm(FlaskForm):
    name = _short_text(_l("Programme name"), 100, required=True)
    aid_mode = SelectField(
        _l("Aid mode"), choices=options((m, AID_MODE_LABELS[m]) for m in AID_MODES)
    )
    description = _long_text(_l("Description"), rows=3)
    primary_boarding = _yuan(AMOUNT_KEY_LABELS["primary_boarding"])
    primary_day = _yuan(AMOUNT_KEY_LABELS["primary_day"])
    lower_secondary_boarding = _yuan(AMOUNT_KEY_LABELS["lower_secondary_boarding"])
    lower_secondary_day = _yuan(AMOUNT_KEY_LABELS["lower_secondary_day"])
    active = BooleanField(_l("Active (can be chosen for new grants)"), default=True)

    def amounts_fen(self) -> dict[str, int | None]:
        return {key: getattr(getattr(self, key), "fen", None) for key in AMOUNT_KEYS}


class GrantForm(FlaskForm):
    student_id = SelectField(
        _l("Student"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    programme_id = SelectField(
        _l("Programme"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    amount = _yuan(_l("Amount (yuan)"))  # empty: the programme's default (checked by the view)
    paid_on = _date(_l("Paid on"), required=True)
    school_year = SelectField(_l("School year"), coerce=int, validate_choice=False)
    funding_source = _short_text(_l("Funding source"), 100)
    paid_by = _short_text(_l("Paid out by"), 100)
    note = _short_text(_l("Note"), 200)


class BatchGrantForm(FlaskForm):
    """The common part of a batch; the students and their amounts are rows of the page."""

    programme_id = SelectField(
        _l("Programme"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    paid_on = _date(_l("Paid on"), required=True)
    school_year = SelectField(_l("School year"), coerce=int, validate_choice=False)
    funding_source = _short_text(_l("Funding source"), 100)
    paid_by = _short_text(_l("Paid out by"), 100)
    note = _short_text(_l("Note"), 200)


# ---------------------------------------------------------------- pairings


class PairingForm(FlaskForm):
    kind = SelectField(
        _l("Kind of pairing"), choices=options((k, PAIRING_KIND_LABELS[k]) for k in PAIRING_KINDS)
    )
    student_id = SelectField(
        _l("Student helped"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    helper_user_id = SelectField(
        _l("Helping teacher"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    helper_student_id = SelectField(
        _l("Helping student"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )
    helper_name = _short_text(_l("Helping school or family"), 100)
    started_on = _date(_l("Started on"), required=True)
    note = _long_text(_l("Note"), rows=3)


class PairingLogForm(FlaskForm):
    happened_on = _date(_l("Date"), required=True)
    kind = SelectField(_l("Kind"), choices=options((k, LOG_KIND_LABELS[k]) for k in LOG_KINDS))
    content = _long_text(_l("What was done"), required=True, rows=3)


class EndPairingForm(FlaskForm):
    ended_on = _date(_l("Ended on"), required=True)
