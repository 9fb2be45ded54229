"""Forms of the points pages: rules, awards, corrections, the monthly allowance."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from app.org.forms import int_or_none, no_control_chars, options
from app.points.operations import MAX_POINTS, RULE_BOUNDS


def strip(value: object) -> object:
    """Trim; an empty answer is ``None``. (No NFKC fold: keeps Chinese punctuation.)"""
    if isinstance(value, str):
        return value.strip() or None
    return value


AWARD_KINDS = (
    ("award", _l("Award")),
    ("volunteer", _l("Volunteer service")),
    ("gratitude", _l("Gratitude")),
)


def _bounded(label, key: str, help_text=None) -> IntegerField:
    low, high = RULE_BOUNDS[key]
    return IntegerField(
        label,
        validators=[InputRequired(), NumberRange(min=low, max=high)],
        description=help_text,
        render_kw={"inputmode": "numeric", "min": low, "max": high},
    )


class RuleForm(FlaskForm):
    school_id = SelectField(_l("Applies to"), coerce=int_or_none, validate_choice=True)
    effective_from = DateField(_l("In force from"), validators=[DataRequired()])
    points_per_hour = _bounded(_l("Points per verified volunteer hour"), "points_per_hour")
    points_per_gratitude = _bounded(_l("Points per gratitude activity"), "points_per_gratitude")
    max_hours_per_day = _bounded(
        _l("Most volunteer hours credited per student per day"), "max_hours_per_day"
    )
    max_award_points_per_teacher_day = _bounded(
        _l("Most points a teacher may award by hand per day"),
        "max_award_points_per_teacher_day",
    )
    allowance_severe = _bounded(_l("Monthly points: severe hardship"), "allowance_severe")
    allowance_moderate = _bounded(_l("Monthly points: moderate hardship"), "allowance_moderate")
    allowance_general = _bounded(_l("Monthly points: general hardship"), "allowance_general")
    yearly_reset = BooleanField(_l("Reset balances at the start of each school year"))


class AwardForm(FlaskForm):
    kind = SelectField(
        _l("Credited for"), choices=options(AWARD_KINDS), validators=[DataRequired()]
    )
    points = IntegerField(
        _l("Points"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_POINTS)],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(), Length(max=100), no_control_chars],
        filters=[strip],
    )


class AdjustForm(FlaskForm):
    direction = SelectField(
        _l("Add or take off"),
        choices=options((("add", _l("Add points")), ("take", _l("Take points off")))),
        validators=[DataRequired()],
    )
    points = IntegerField(
        _l("Points"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_POINTS)],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(), Length(max=200), no_control_chars],
        filters=[strip],
        description=_l("Teachers can read this reason: write nothing about a family's situation."),
    )


class ReverseForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(), Length(max=200), no_control_chars],
        filters=[strip],
    )


class AllowanceForm(FlaskForm):
    school_id = SelectField(_l("School"), coerce=int_or_none, validate_choice=True)
    month = StringField(
        _l("Month"),
        validators=[DataRequired(), Regexp(r"^\d{4}-\d{2}$", message=_l("Use the form YYYY-MM."))],
        render_kw={"type": "month", "placeholder": "2026-10"},
    )


class FindStudentForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name"), validators=[Optional(), Length(max=50)], filters=[strip])
    class_id = SelectField(_l("Class"), coerce=int_or_none, validate_choice=False)
