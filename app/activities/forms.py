"""Forms of the activity pages. Hours are typed as hours (half hours allowed: 1.5) and
carried as minutes; student ticks come from ``request.form.getlist`` and are checked by the
operations (enrolled at the school)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.org.forms import clean, int_or_none, no_control_chars, options


def strip(value: object) -> object:
    """Trim; an empty answer is ``None``. (No NFKC fold: keeps Chinese punctuation.)"""
    if isinstance(value, str):
        return value.strip() or None
    return value


VOLUNTEER_TYPE_LABELS = {
    "campus": _l("School volunteer service"),  # 校内志愿服务
    "red_scarf": _l("Red-scarf caring post"),  # 红领巾爱心岗
    "community": _l("Community service"),  # 社区服务
    "environment": _l("Environmental service"),  # 环保公益
    "elderly": _l("Caring for the elderly and disabled"),  # 敬老助残
    "other": _l("Other"),
}
GRATITUDE_TYPE_LABELS = {
    "thank_letter": _l("Thank-you letters"),  # 感恩信
    "inspiration_talk": _l("Inspirational sharing"),  # 励志分享
    "theme_meeting": _l("Gratitude class meeting"),  # 感恩主题班会
    "donor_meeting": _l("Meeting with donors"),  # 爱心人士见面会
    "other": _l("Other"),
}
KIND_LABELS = {"volunteer": _l("Volunteer service"), "gratitude": _l("Gratitude")}
LOG_STATUS_LABELS = {
    "pending": _l("Waiting for verification"),
    "approved": _l("Verified"),
    "partial": _l("Partly approved"),
    "rejected": _l("Rejected"),
}
LETTER_STATUS_LABELS = {
    "pending": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "rejected": _l("Not published"),
}


def type_label(kind: str, type_: str) -> str:
    labels = VOLUNTEER_TYPE_LABELS if kind == "volunteer" else GRATITUDE_TYPE_LABELS
    return str(labels.get(type_, type_))


def parse_hours(text: str | None, *, allow_zero: bool = False) -> int:
    """Minutes from "2", "1.5", "1,5" or full-width digits; half hours, 0.5–24 (0 if allowed)."""
    raw = unicodedata.normalize("NFKC", text or "").strip().replace(",", ".")
    if not raw:
        raise ValueError(_l("Enter the hours."))
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(_l("Enter the hours as a number, e.g. 1.5.")) from exc
    if not value.is_finite() or value * 2 != (value * 2).to_integral_value():
        raise ValueError(_l("Hours go in half hours: 0.5, 1, 1.5 …"))
    low = Decimal(0) if allow_zero else Decimal("0.5")
    if not low <= value <= 24:
        raise ValueError(
            _l("Between 0 and 24 hours.") if allow_zero else _l("Between 0.5 and 24 hours.")
        )
    return int(value * 60)


class HoursField(StringField):
    """Hours typed by a person; ``data`` is minutes (int) or None."""

    def __init__(self, *args, allow_zero: bool = False, **kwargs):
        kwargs.setdefault(
            "render_kw", {"inputmode": "decimal", "autocomplete": "off", "maxlength": 6}
        )
        super().__init__(*args, **kwargs)
        self.allow_zero = allow_zero
        self.minutes: int | None = None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.minutes = None
        if valuelist and (valuelist[0] or "").strip():
            try:
                self.minutes = parse_hours(valuelist[0], allow_zero=self.allow_zero)
            except ValueError as exc:
                self.minutes = None
                raise ValueError(str(exc.args[0])) from exc

    def pre_validate(self, form):
        if self.flags.required and self.minutes is None and not self.process_errors:
            raise ValidationError(str(_l("Enter the hours.")))


class ActivityForm(FlaskForm):
    kind = SelectField(
        _l("Kind of activity"),
        choices=options([("volunteer", _l("Volunteer service")), ("gratitude", _l("Gratitude"))]),
        validators=[DataRequired()],
    )
    type = SelectField(_l("Activity type"), validators=[DataRequired()], validate_choice=True)
    title = StringField(
        _l("Title"), validators=[DataRequired(), Length(max=100), no_control_chars], filters=[strip]
    )
    held_on = DateField(_l("Date"), validators=[DataRequired()])
    place = StringField(
        _l("Place"), validators=[Optional(), Length(max=100), no_control_chars], filters=[strip]
    )
    organiser = StringField(
        _l("Organiser"),
        validators=[Optional(), Length(max=100), no_control_chars],
        filters=[strip],
        description=_l("e.g. 少先队大队部, 德育处, a class"),
    )
    team_id = SelectField(_l("Volunteer team"), coerce=int_or_none, validate_choice=True)
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 3}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.type.choices = options(
            [
                *((k, str(v)) for k, v in VOLUNTEER_TYPE_LABELS.items() if k != "other"),
                *((k, str(v)) for k, v in GRATITUDE_TYPE_LABELS.items() if k != "other"),
                ("other", str(_l("Other"))),
            ]
        )


class TeamForm(FlaskForm):
    name = StringField(
        _l("Team name"),
        validators=[DataRequired(), Length(max=100), no_control_chars],
        filters=[clean],
    )
    leader_id = SelectField(_l("Teacher in charge"), coerce=int_or_none, validate_choice=True)
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 3}
    )
    active = BooleanField(_l("Active"), default=True)


class TicksForm(FlaskForm):
    """A page of ticked students (the ticks themselves come from ``getlist``)."""


class LogHoursForm(FlaskForm):
    hours = HoursField(_l("Hours each"), validators=[DataRequired()])
    note = StringField(
        _l("Note"),
        validators=[Optional(), Length(max=200), no_control_chars],
        filters=[strip],
        description=_l("What they did, for the person who verifies."),
    )
    photo = FileField(
        _l("Evidence photo (optional)"),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )


class VerifyForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=options(
            [
                ("approve", _l("Approve all hours")),
                ("partial", _l("Approve fewer hours")),
                ("reject", _l("Reject")),
            ]
        ),
        validators=[DataRequired()],
    )
    approved_hours = HoursField(_l("Hours approved"), allow_zero=True)
    note = StringField(
        _l("Reason"),
        validators=[Optional(), Length(max=200), no_control_chars],
        filters=[strip],
        description=_l("Needed for fewer hours or a rejection; the teacher who logged sees it."),
    )


class CorrectForm(FlaskForm):
    approved_hours = HoursField(_l("Correct hours"), allow_zero=True, validators=[DataRequired()])
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(), Length(max=200), no_control_chars],
        filters=[strip],
    )


class LetterForm(FlaskForm):
    student_id = SelectField(_l("Student"), coerce=int_or_none, validate_choice=True)
    receipt_id = SelectField(
        _l("Thanks for the donation"), coerce=int_or_none, validate_choice=True
    )
    donor_id = SelectField(_l("or to the donor"), coerce=int_or_none, validate_choice=True)
    body = TextAreaField(
        _l("The letter"),
        validators=[Optional(), Length(max=2000)],
        render_kw={"rows": 6},
        description=_l("Type the letter, or its text from the handwritten page."),
    )
    photo = FileField(
        _l("Photo of the handwritten letter (optional)"),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )


class ReviewForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=options(
            [("approve", _l("Approve: the donor may read it")), ("reject", _l("Do not publish"))]
        ),
        validators=[DataRequired()],
    )
    note = StringField(
        _l("Reason"),
        validators=[Optional(), Length(max=200), no_control_chars],
        filters=[strip],
    )
