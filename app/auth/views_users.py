"""Managing staff accounts inside one's scope.

A district admin manages every account of their district; a school aid officer the teachers and
clerks of their own school (``GRANTABLE`` in :mod:`app.auth.roles`). A user the manager may not
manage is *not found* (404) — another school's teacher, another district's anyone, and also a
fellow officer or a district admin seen by an officer — so ids reveal nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from wtforms import Form
from wtforms.fields.choices import SelectChoice

from app.auth import operations
from app.auth.access import roles_required
from app.auth.forms import (
    ManagedUserCreateForm,
    ManagedUserEditForm,
    ResetPasswordForm,
    UserFilterForm,
)
from app.auth.models import ApiToken, User
from app.auth.roles import GRANTABLE, Role
from app.auth.scope import scoped
from app.common import ValidationFailed, page_number
from app.extensions import db
from app.org.models import Alliance, School, SchoolClass

bp = Blueprint("users", __name__, url_prefix="/users")

MANAGERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
PER_PAGE = 25
_MAX_ID = 2**31 - 1  # ids are 32-bit integers on both databases

_ROLE_RANK = case({role.value: rank for rank, role in enumerate(Role)}, value=User.role, else_=99)


# ---------------------------------------------------------------- queries


def manageable_users(manager: User) -> Select:
    """Users ``manager`` may see and change: inside their scope *and* of a role they may grant.

    An officer's scope also holds the school's other officers; those are not theirs to manage.
    """
    grantable = sorted(role.value for role in GRANTABLE[manager.role_enum])
    return scoped(select(User), manager).where(User.role.in_(grantable))


def _with_places(stmt: Select) -> Select:
    """Load each user's school, alliance and district with the user (no query per row)."""
    return stmt.options(
        joinedload(User.school), joinedload(User.alliance), joinedload(User.district)
    )


def _valid_id(value: int) -> bool:
    return 0 < value <= _MAX_ID


def _managed_user_or_404(user_id: int) -> User:
    if not _valid_id(user_id):
        abort(404)
    user = db.session.scalars(
        _with_places(manageable_users(current_user)).where(User.id == user_id)
    ).first()
    if user is None:
        abort(404)
    return user


# ---------------------------------------------------------------- form choices


def _role_choices(manager: User) -> list[SelectChoice]:
    grantable = GRANTABLE[manager.role_enum]
    return [SelectChoice(role.value, role.label) for role in Role if role in grantable]


def _school_choices(manager: User, blank: str) -> list[SelectChoice]:
    """Schools in scope, grouped by alliance (lead school first, as the policy lists them)."""
    schools = db.session.scalars(
        scoped(select(School), manager)
        .options(joinedload(School.alliance))
        .order_by(School.alliance_id.is_(None), School.alliance_id, School.id)
    ).all()
    no_alliance = _("Schools without an alliance")
    choices = [SelectChoice("", blank)]
    for school in schools:
        label = school.name if school.active else _("%(name)s (closed)", name=school.name)
        group = school.alliance.name if school.alliance else no_alliance
        choices.append(SelectChoice(str(school.id), label, optgroup=group))
    return choices


def _alliance_choices(manager: User) -> list[SelectChoice]:
    alliances = db.session.scalars(scoped(select(Alliance), manager).order_by(Alliance.id)).all()
    return [SelectChoice("", _("— choose —"))] + [
        SelectChoice(str(alliance.id), alliance.name) for alliance in alliances
    ]


def _prepare_user_form(form: Form, manager: User, user: User | None = None) -> None:
    """Fill the role and scope choices; drop the fields this manager does not choose."""
    if user is not None and user.id == manager.id:
        # Nobody changes their own role or scope here (operations refuse it too).
        for name in ("role", "alliance_id", "school_id"):
            delattr(form, name)
        return
    form.role.choices = _role_choices(manager)
    if manager.role == Role.SCHOOL_OFFICER:
        # An officer's users always belong to the officer's own school.
        delattr(form, "alliance_id")
        delattr(form, "school_id")
        return
    form.alliance_id.choices = _alliance_choices(manager)
    form.school_id.choices = _school_choices(manager, _("— choose —"))


def _field_value(form: Form, name: str, default):
    return form[name].data if name in form else default


def _add_error(form: Form, exc: ValidationFailed, fallback: str) -> None:
    """Show a rule's message next to the field it names (or ``fallback``)."""
    name = exc.field if exc.field in form else fallback
    field = form[name]
    field.errors = [*field.errors, exc.message]


# ---------------------------------------------------------------- list


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    form = UserFilterForm(formdata=request.args)
    form.role.choices = [SelectChoice("", _("All roles")), *_role_choices(current_user)]
    form.status.choices = [
        SelectChoice("", _("Active and disabled")),
        SelectChoice("active", _("Active")),
        SelectChoice("disabled", _("Disabled")),
    ]
    if current_user.role == Role.DISTRICT_ADMIN:
        form.school.choices = _school_choices(current_user, _("All schools"))
    else:
        delattr(form, "school")
    page = None
    if form.validate():
        stmt = _with_places(manageable_users(current_user))
        if form.q.data:
            stmt = stmt.where(
                or_(
                    User.username.icontains(form.q.data, autoescape=True),
                    User.display_name.icontains(form.q.data, autoescape=True),
                )
            )
        if form.role.data:
            stmt = stmt.where(User.role == form.role.data)
        if "school" in form and form.school.data:
            stmt = stmt.where(User.school_id == form.school.data)
        if form.status.data:
            stmt = stmt.where(User.active == (form.status.data == "active"))
        stmt = stmt.order_by(
            User.active.desc(), _ROLE_RANK, func.coalesce(User.school_id, 0), User.username
        )
        page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    filtered = any(request.args.get(name) for name in ("q", "role", "school", "status"))
    return render_template("users/index.html", form=form, page=page, filtered=filtered), (
        200 if page is not None else 400
    )


# ---------------------------------------------------------------- create


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def create():
    form = ManagedUserCreateForm()
    _prepare_user_form(form, current_user)
    if not form.is_submitted():
        form.role.data = Role.TEACHER.value  # the most common new account, never an admin
    if form.validate_on_submit():
        try:
            user = operations.create_user(
                username=form.username.data,
                display_name=form.display_name.data,
                role=form.role.data,
                password=form.password.data,
                district_id=current_user.district_id,
                alliance_id=_field_value(form, "alliance_id", None),
                school_id=_field_value(form, "school_id", None),
                phone=form.phone.data,
                created_by=current_user,
            )
        except ValidationFailed as exc:
            db.session.rollback()
            _add_error(form, exc, "username")
            return render_template("users/new.html", form=form), 422
        except IntegrityError:  # the same username created at the same moment
            db.session.rollback()
            form.username.errors = [*form.username.errors, _("This username is already taken.")]
            return render_template("users/new.html", form=form), 422
        db.session.commit()
        flash(
            _(
                "The account %(username)s has been created. Give %(name)s the initial "
                "password in person and ask them to change it after logging in.",
                username=user.username,
                name=user.display_name,
            ),
            "success",
        )
        return redirect(url_for("users.detail", user_id=user.id))
    return render_template("users/new.html", form=form), (422 if form.errors else 200)


# ---------------------------------------------------------------- one user


def _render_detail(user: User, *, edit_form=None, password_form=None, status: int = 200):
    if edit_form is None:
        # formdata=None: during a POST of another form on this page, start from the user.
        edit_form = ManagedUserEditForm(formdata=None, obj=user)
        _prepare_user_form(edit_form, current_user, user)
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc())
    ).all()
    classes = db.session.scalars(
        scoped(select(SchoolClass), current_user)
        .where(SchoolClass.head_teacher_id == user.id)
        .order_by(SchoolClass.grade, SchoolClass.number)
    ).all()
    return render_template(
        "users/detail.html",
        user=user,
        is_self=user.id == current_user.id,
        edit_form=edit_form,
        password_form=password_form or ResetPasswordForm(formdata=None),
        tokens=tokens,
        classes=classes,
    ), status


@bp.route("/<int:user_id>")
@roles_required(*MANAGERS)
def detail(user_id: int):
    return _render_detail(_managed_user_or_404(user_id))


@bp.route("/<int:user_id>/edit", methods=["POST"])
@roles_required(*MANAGERS)
def edit(user_id: int):
    user = _managed_user_or_404(user_id)
    form = ManagedUserEditForm()
    _prepare_user_form(form, current_user, user)
    if not form.validate_on_submit():
        return _render_detail(user, edit_form=form, status=422)
    try:
        operations.update_managed_user(
            user,
            editor=current_user,
            display_name=form.display_name.data,
            role=_field_value(form, "role", user.role),
            phone=form.phone.data,
            alliance_id=_field_value(form, "alliance_id", user.alliance_id),
            school_id=_field_value(form, "school_id", user.school_id),
        )
    except ValidationFailed as exc:
        db.session.rollback()
        _add_error(form, exc, "display_name")
        return _render_detail(user, edit_form=form, status=422)
    db.session.commit()
    flash(_("The changes to %(name)s have been saved.", name=user.display_name), "success")
    return redirect(url_for("users.detail", user_id=user.id))


# CSRFProtect checks the token of every POST below before the view runs.


@bp.route("/<int:user_id>/disable", methods=["POST"])
@roles_required(*MANAGERS)
def disable(user_id: int):
    user = _managed_user_or_404(user_id)
    operations.set_user_active(user, False, editor=current_user)  # refuses oneself: 409
    db.session.commit()
    flash(
        _(
            "%(name)s's account has been disabled: they were logged out everywhere and their "
            "API tokens were revoked.",
            name=user.display_name,
        ),
        "success",
    )
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/enable", methods=["POST"])
@roles_required(*MANAGERS)
def enable(user_id: int):
    user = _managed_user_or_404(user_id)
    operations.set_user_active(user, True, editor=current_user)
    db.session.commit()
    flash(_("%(name)s's account has been enabled.", name=user.display_name), "success")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/password", methods=["POST"])
@roles_required(*MANAGERS)
def reset_password(user_id: int):
    user = _managed_user_or_404(user_id)
    if user.id == current_user.id:
        # Resetting would end the manager's own session; their own page asks for the old one.
        flash(_("Change your own password on the My account page."), "info")
        return redirect(url_for("auth.account"))
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return _render_detail(user, password_form=form, status=422)
    try:
        operations.reset_password(user, form.new_password.data, editor=current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        _add_error(form, exc, "new_password")
        return _render_detail(user, password_form=form, status=422)
    db.session.commit()
    flash(
        _(
            "The password of %(name)s has been reset and they were logged out everywhere. "
            "Give them the new password in person.",
            name=user.display_name,
        ),
        "success",
    )
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/tokens/<int:token_id>/revoke", methods=["POST"])
@roles_required(*MANAGERS)
def revoke_token(user_id: int, token_id: int):
    user = _managed_user_or_404(user_id)
    if not _valid_id(token_id):
        abort(404)
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        abort(404)
    operations.revoke_token(token)
    db.session.commit()
    flash(
        _(
            "The token %(name)s of %(user)s has been revoked.",
            name=token.name,
            user=user.display_name,
        ),
        "success",
    )
    return redirect(url_for("users.detail", user_id=user.id))
