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
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from app.auth import passwords
from app.common import has_control_chars


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
    locale = SelectField(_l("Language"), choices=[("zh_CN", "简体中文"), ("en", "English")])
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
