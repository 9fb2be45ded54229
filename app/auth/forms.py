"""Forms for logging in, one's own account, and managing users."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from app.auth import passwords
from app.common import has_control_chars, normalise_name


def no_control_chars(form, field) -> None:  # noqa: ARG001
    if field.data and has_control_chars(field.data):
        raise ValidationError(_l("Control characters are not allowed."))


def strip(value):
    return value.strip() if isinstance(value, str) else value


PHONE_PATTERN = r"^[0-9+\- ]{5,20}$"


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(), Length(max=64)], filters=[strip]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    submit = SubmitField(_l("Log in"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=passwords.MIN_LENGTH, max=passwords.MAX_LENGTH)],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", _l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class TokenForm(FlaskForm):
    name = StringField(
        _l("What is this token for?"),
        validators=[DataRequired(), Length(max=100), no_control_chars],
        filters=[strip],
    )
    submit = SubmitField(_l("Create token"))


class PreferencesForm(FlaskForm):
    locale = SelectField(
        _l("Language"),
        choices=[SelectChoice("zh_CN", "简体中文"), SelectChoice("en", "English")],
    )
    submit = SubmitField(_l("Save"))


class UserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(min=2, max=64),
            Regexp(
                r"^[A-Za-z0-9_.\-]+$", message=_l("Letters, digits, dot, dash and underscore only.")
            ),
        ],
        filters=[strip],
    )
    display_name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=100), no_control_chars], filters=[strip]
    )
    role = SelectField(_l("Role"), validators=[DataRequired()])
    alliance_id = SelectField(_l("Alliance"), coerce=int, validators=[Optional()])
    school_id = SelectField(_l("School"), coerce=int, validators=[Optional()])
    phone = StringField(
        _l("Phone"), validators=[Optional(), Regexp(PHONE_PATTERN)], filters=[strip]
    )
    password = PasswordField(
        _l("Initial password"), validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )
    submit = SubmitField(_l("Save"))


class EditUserForm(UserForm):
    username = None  # type: ignore[assignment]
    password = None  # type: ignore[assignment]


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=passwords.MIN_LENGTH, max=passwords.MAX_LENGTH)],
    )
    submit = SubmitField(_l("Set password"))


class ConfirmForm(FlaskForm):
    """An empty form: a button that POSTs with a CSRF token."""

    confirm = BooleanField(default=True)
    submit = SubmitField(_l("Confirm"))


# ---------------------------------------------------------------- managing users (/users/)
# The role, alliance and school choices depend on who is managing; the view fills them in
# (app.auth.views_users). Values are strings in the form and ints (or None) after coercion.


def optional_int(value):
    """Coerce a select's value: "" (the "none / all" option) is None, anything else an int."""
    if value is None or value == "":
        return None
    number = int(value)
    if not 0 < number < 2**31:
        raise ValueError("out of range")
    return number


def normalise_text(value):
    return normalise_name(value) if isinstance(value, str) else value


class ManagedUserEditForm(FlaskForm):
    """Name, role, scope and phone of a user in the manager's scope."""

    display_name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=100), no_control_chars],
        filters=[normalise_text],
    )
    role = SelectField(_l("Role"), validators=[DataRequired()])
    alliance_id = SelectField(_l("Alliance"), coerce=optional_int)
    school_id = SelectField(_l("School"), coerce=optional_int)
    phone = StringField(
        _l("Phone"),
        validators=[
            Optional(),
            Regexp(PHONE_PATTERN, message=_l("Digits, spaces, + and - only (5 to 20).")),
        ],
        filters=[strip],
    )
    submit = SubmitField(_l("Save"))


class ManagedUserCreateForm(ManagedUserEditForm):
    """A new staff account: the edit fields plus username and initial password."""

    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(min=2, max=64),
            Regexp(
                r"^[A-Za-z0-9_.\-]+$", message=_l("Letters, digits, dot, dash and underscore only.")
            ),
        ],
        filters=[strip],
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)],
    )
    submit = SubmitField(_l("Create user"))


class UserFilterForm(FlaskForm):
    """The filters above the user list (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Name or username"), validators=[Optional(), Length(max=100)], filters=[strip]
    )
    role = SelectField(_l("Role"), default="")
    school = SelectField(_l("School"), coerce=optional_int)
    status = SelectField(_l("Status"), default="")
