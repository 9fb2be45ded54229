"""Browsing the audit log: district admins see their own district's events, newest first."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, Regexp, ValidationError

from app.audit import queries
from app.auth.access import roles_required
from app.auth.roles import Role
from app.common import page_number
from app.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _sane_date(form, field) -> None:  # noqa: ARG001
    # Far-off dates overflow when turned into UTC instants; nobody audits year 1 or 9999.
    if field.data is not None and not date(2000, 1, 1) <= field.data <= date(2099, 12, 31):
        raise ValidationError(_l("Choose a date between 2000 and 2099."))


class AuditFilterForm(FlaskForm):
    """The filters above the log (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    actor = StringField(
        _l("Who (username contains)"), validators=[Optional(), Length(max=100)], filters=[_strip]
    )
    action = StringField(
        _l("Action"),
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[a-z_]+$", message=_l("An action looks like create or login_failed.")),
        ],
        filters=[_strip],
    )
    object_type = StringField(
        _l("Object type"),
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[a-z_]+$", message=_l("An object type looks like user or school.")),
        ],
        filters=[_strip],
    )
    object_id = IntegerField(
        _l("Object id"), validators=[Optional(), NumberRange(min=1, max=2**31 - 1)]
    )
    date_from = DateField(_l("From"), validators=[Optional(), _sane_date])
    date_to = DateField(_l("To"), validators=[Optional(), _sane_date])

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end date is before the start date."))


@bp.route("/")
@roles_required(Role.DISTRICT_ADMIN)
def index():
    form = AuditFilterForm(formdata=request.args)
    page = None
    names: queries.Names = {}
    if form.validate():
        filters = queries.AuditFilters(
            actor=form.actor.data or None,
            action=form.action.data or None,
            object_type=form.object_type.data or None,
            object_id=form.object_id.data,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
        page = db.paginate(
            queries.events_query(current_user, filters),
            page=page_number(),
            per_page=queries.PER_PAGE,
            max_per_page=queries.PER_PAGE,
            error_out=False,
        )
        names = queries.reference_names(page.items, current_user)
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        names=names,
        filtered=any(request.args.get(f.name) for f in form),
        actions=queries.ACTION_LABELS,
        object_types=queries.audited_object_types(),
        action_label=queries.action_label,
        object_label=queries.object_label,
        object_name=queries.object_name,
        describe_changes=queries.describe_changes,
    ), (200 if page is not None else 400)
