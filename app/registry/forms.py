"""Forms of the roster pages.

Lengths match the columns; the rules themselves (ID checksum, 学籍号, phones, duplicates) are
:func:`app.registry.operations.clean_student`'s, whose ``ValidationFailed.field`` names the
form field to show the message on. Personal numbers are never put into a form's value: the
edit form shows them masked as a placeholder, and an empty field keeps the stored value.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.common import local_today
from app.org.forms import clean, int_or_none, no_control_chars, options

GENDER_LABELS = {"M": _l("Male"), "F": _l("Female")}
STATUS_LABELS = {
    "enrolled": _l("Enrolled"),
    "graduated": _l("Graduated"),
    "transferred_out": _l("Transferred out of the school"),
    "left": _l("Left school"),
}
FLAG_LABELS = {
    "boarding": _l("Boarding"),
    "left_behind": _l("Left-behind child"),
    "migrant": _l("Child of migrant workers"),
    "orphan": _l("Orphan"),
    "disabled": _l("Disability"),
    "single_parent": _l("Single-parent family"),
}
SENSITIVE_FIELDS = ("student_no", "id_number", "guardian_phone", "address")
LEAVE_REASONS = ("graduated", "transferred_out", "left")


def _text(label, max_length: int, *, required: bool = False, **kw):
    first = DataRequired() if required else Optional()
    return StringField(
        label,
        validators=[first, Length(max=max_length), no_control_chars],
        filters=[clean],
        **kw,
    )


def _not_in_future(form, field) -> None:  # noqa: ARG001
    if field.data is not None and not date(2000, 1, 1) <= field.data <= local_today():
        raise ValidationError(_l("Enter a date between 2000 and today."))


class RosterFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name or student number"), validators=[Optional(), Length(max=50)],
                    filters=[clean])  # fmt: skip
    class_id = SelectField(
        _l("Class"), coerce=int_or_none, validators=[Optional()], validate_choice=True
    )
    status = SelectField(
        _l("Status"),
        choices=options(
            [("enrolled", _l("Enrolled")), ("left", _l("Left the school")), ("all", _l("All"))]
        ),
        default="enrolled",
    )
    flag = SelectField(
        _l("Care group"),
        choices=options([("", _l("Any")), *FLAG_LABELS.items()]),
        validators=[Optional()],
        default="",
    )


class StudentForm(FlaskForm):
    name = _text(_l("Name"), 50, required=True)
    gender = SelectField(
        _l("Gender"),
        choices=options([("", _l("— from the ID number —")), *GENDER_LABELS.items()]),
        validators=[Optional()],
        default="",
    )
    class_id = SelectField(_l("Class"), coerce=int_or_none, validators=[Optional()])
    student_no = _text(_l("National student number (学籍号)"), 32)
    id_number = _text(_l("ID number"), 18)
    birth_date = DateField(_l("Birth date"), validators=[Optional()])
    ethnicity = _text(_l("Ethnicity"), 20)
    guardian_name = _text(_l("Guardian's name"), 50)
    guardian_phone = _text(_l("Guardian's phone"), 32)
    address = _text(_l("Home address"), 200)
    boarding = BooleanField(FLAG_LABELS["boarding"])
    left_behind = BooleanField(FLAG_LABELS["left_behind"])
    migrant = BooleanField(FLAG_LABELS["migrant"])
    orphan = BooleanField(FLAG_LABELS["orphan"])
    disabled = BooleanField(FLAG_LABELS["disabled"])
    single_parent = BooleanField(FLAG_LABELS["single_parent"])
    photo = FileField(_l("Photo"), render_kw={"accept": "image/jpeg,image/png,image/webp"})
    remove_photo = BooleanField(_l("Remove the photo"))
    # On the edit form: which stored numbers to delete (an empty field keeps them).
    clear_student_no = BooleanField(_l("Delete the stored value"))
    clear_id_number = BooleanField(_l("Delete the stored value"))
    clear_guardian_phone = BooleanField(_l("Delete the stored value"))
    clear_address = BooleanField(_l("Delete the stored value"))


class ChangeClassForm(FlaskForm):
    class_id = SelectField(_l("New class"), coerce=int_or_none, validators=[Optional()])


class MoveForm(FlaskForm):
    to_school_id = SelectField(
        _l("Receiving school"),
        coerce=int_or_none,
        validators=[DataRequired()],
        validate_choice=False,
    )
    moved_on = DateField(_l("Date of the move"), validators=[Optional(), _not_in_future])
    reason = _text(_l("Reason"), 200)


class LeaveForm(FlaskForm):
    status = SelectField(
        _l("Why the student leaves"),
        choices=options([(s, STATUS_LABELS[s]) for s in LEAVE_REASONS]),
        validators=[DataRequired()],
    )
    left_on = DateField(_l("Date"), validators=[Optional(), _not_in_future])
    reason = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=200), no_control_chars],
        filters=[clean],
        render_kw={"rows": 2},
    )


class ExportForm(FlaskForm):
    format = SelectField(
        _l("Format"),
        choices=options([("xlsx", _l("Excel workbook (.xlsx)")), ("csv", _l("CSV (UTF-8)"))]),
        default="xlsx",
    )
    status = SelectField(
        _l("Students"),
        choices=options(
            [("enrolled", _l("Enrolled")), ("left", _l("Left the school")), ("all", _l("All"))]
        ),
        default="enrolled",
    )
