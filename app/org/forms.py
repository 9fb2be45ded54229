"""Forms for alliances, schools, classes and leadership groups.

Lengths match the columns (a 300-character name is a 422, never a database error). Optional
text comes back as ``None`` rather than ``""`` so empty fields stay empty in the database.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from app.common import has_control_chars, normalise_name
from app.org.models import LEADERSHIP_ROLES, grade_label

STAGES = ("primary", "middle", "nine_year", "other")
STAGE_LABELS = {
    "primary": _l("Primary school"),
    "middle": _l("Middle school"),
    "nine_year": _l("Nine-year school"),
    "other": _l("Other"),
}
GROUP_ROLE_LABELS = {
    "leader": _l("Group leader"),
    "deputy": _l("Deputy group leader"),
    "member": _l("Group member"),
}
PHONE_PATTERN = r"^[0-9+\-() ]{5,20}$"
MAX_GRADE = 12
MAX_CLASS_NUMBER = 99


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms 3.3 deprecates bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def clean(value: object) -> object:
    """Trim and NFKC-fold pasted text; an empty answer is ``None``."""
    if isinstance(value, str):
        return normalise_name(value) or None
    return value


MAX_ID = 2**31 - 1  # ids are INTEGER columns; anything larger is not an id at all


def int_or_none(value: object) -> int | None:
    """Select coercion where the empty option means "none"; not-an-id raises ValueError."""
    if value is None or value == "" or value == "None":
        return None
    number = int(value)  # type: ignore[call-overload]
    if not 0 < number <= MAX_ID:
        raise ValueError("not an id")
    return number


def no_control_chars(form, field) -> None:  # noqa: ARG001
    if isinstance(field.data, str) and has_control_chars(field.data):
        raise ValidationError(_l("Control characters are not allowed."))


def _phone(label):
    return StringField(
        label,
        validators=[
            Optional(),
            Regexp(PHONE_PATTERN, message=_l("Enter a phone number: digits, spaces and dashes.")),
        ],
        filters=[clean],
    )


def _text(label, max_length: int, *, required: bool = False):
    first = DataRequired() if required else Optional()
    return StringField(
        label, validators=[first, Length(max=max_length), no_control_chars], filters=[clean]
    )


class AllianceForm(FlaskForm):
    name = _text(_l("Alliance name"), 100, required=True)
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=2000), no_control_chars],
        render_kw={"rows": 4},
        filters=[lambda v: v.strip() or None if isinstance(v, str) else v],
    )


class AllianceEditForm(AllianceForm):
    # Choices are the member schools; the operation checks membership so a forged id gets
    # the rule's own message rather than a bare "not a valid choice".
    lead_school_id = SelectField(
        _l("Lead school"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )


class SchoolOfficerForm(FlaskForm):
    """What a school's own aid officer may change about it."""

    address = _text(_l("Address"), 200)
    phone = _phone(_l("School phone"))
    supermarket_manager = _text(_l("Love supermarket in charge"), 100)
    supermarket_manager_phone = _phone(_l("Phone of the person in charge"))


class SchoolForm(SchoolOfficerForm):
    """Everything about a school, for the district admin."""

    name = _text(_l("School name"), 100, required=True)
    stage = SelectField(
        _l("Stage"), choices=options((s, STAGE_LABELS[s]) for s in STAGES), default="primary"
    )
    alliance_id = SelectField(_l("Alliance"), coerce=int_or_none, validators=[Optional()])


class MoveSchoolForm(FlaskForm):
    alliance_id = SelectField(_l("Move to alliance"), coerce=int_or_none, validators=[Optional()])


class ClassForm(FlaskForm):
    grade = SelectField(_l("Grade"), coerce=int, validators=[InputRequired()])
    number = IntegerField(
        _l("Class number"),
        validators=[
            InputRequired(),
            NumberRange(
                min=1,
                max=MAX_CLASS_NUMBER,
                message=_l("Enter a class number from 1 to %(max)d.", max=MAX_CLASS_NUMBER),
            ),
        ],
    )
    head_teacher_id = SelectField(
        _l("Head teacher"), coerce=int_or_none, validate_choice=False, validators=[Optional()]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grade.choices = options((g, grade_label(g)) for g in range(1, MAX_GRADE + 1))


class HeadTeacherForm(FlaskForm):
    # Choices are checked by the operation (a teacher or officer of this school).
    head_teacher_id = SelectField(
        _l("Head teacher"),
        coerce=int_or_none,
        validate_choice=False,
        validators=[Optional()],
        choices=[],
    )


class LeadershipForm(FlaskForm):
    name = _text(_l("Name"), 100, required=True)
    group_role = SelectField(
        _l("Role in the group"),
        choices=options((r, GROUP_ROLE_LABELS[r]) for r in LEADERSHIP_ROLES),
        default="member",
    )
    position = _text(_l("Position"), 100)
    phone = _phone(_l("Phone"))
