"""Login, logout and the user's own account: password, API tokens, sessions."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from app.audit.operations import record_event
from app.auth import operations
from app.auth.access import public, staff_required
from app.auth.forms import ChangePasswordForm, ConfirmForm, LoginForm, PreferencesForm, TokenForm
from app.auth.models import ApiToken, UserSession
from app.auth.sessions import end_session, hash_secret, start_session
from app.common import ValidationFailed, utcnow
from app.extensions import db, limiter, login_account_key

bp = Blueprint("auth", __name__)
log = logging.getLogger("aixin.auth")

login_message = _l("Please log in to continue.")


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_failed(response) -> bool:
    """Count an attempt against the limits only when it failed (a redirect means success)."""
    return request.method == "POST" and response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_login_failed
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=login_account_key,
    deduct_when=_login_failed,
)
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("portal.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        result = operations.authenticate(form.username.data, form.password.data)
        if result.user is None:
            # Same words for every failure: do not tell which usernames exist.
            log.warning(
                "login failed for %r from %s (%s)",
                form.username.data[:64],
                request.remote_addr,
                result.reason,
            )
            account = result.account  # known accounts: the event goes to their district's log
            record_event(
                "login_failed",
                "user",
                account.id if account else None,
                changes={"username": form.username.data[:64], "reason": result.reason},
                actor_label=form.username.data[:64],
                district_id=account.district_id if account else None,
                school_id=account.school_id if account else None,
            )
            db.session.commit()
            flash(_("Wrong username or password, or the account is disabled."), "danger")
            return render_template("auth/login.html", form=form), 401
        user = result.user
        start_session(user)
        login_user(user)
        record_event(
            "login",
            "user",
            user.id,
            district_id=user.district_id,
            school_id=user.school_id,
            actor_label=user.username,
        )
        db.session.commit()
        log.info("login %s from %s", user.username, request.remote_addr)
        return redirect(_safe_next(request.args.get("next")) or url_for("portal.dashboard"))
    if g.get("session_expired"):
        flash(_("Your session has expired. Please log in again."), "info")
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@staff_required
def logout():
    record_event("logout", "user", current_user.id)
    end_session(current_user.get_id())
    logout_user()
    db.session.commit()
    flash(_("You have logged out."), "success")
    return redirect(url_for("portal.home"))


@bp.route("/account", methods=["GET"])
@staff_required
def account():
    return _render_account()


def _render_account(**forms):
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
    ).all()
    sessions = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == current_user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
        .limit(20)
    ).all()
    current_hash = hash_secret(current_user.get_id() or "")
    return render_template(
        "auth/account.html",
        password_form=forms.get("password_form") or ChangePasswordForm(),
        token_form=forms.get("token_form") or TokenForm(),
        prefs_form=forms.get("prefs_form")
        or PreferencesForm(locale=current_user.locale or "zh_CN"),
        confirm_form=ConfirmForm(),
        tokens=tokens,
        sessions=sessions,
        current_hash=current_hash,
        new_token=forms.get("new_token"),
    ), (
        422
        if any(f is not None and f.errors for f in forms.values() if hasattr(f, "errors"))
        else 200
    )


@bp.route("/account/password", methods=["POST"])
@staff_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            operations.change_password(
                current_user,
                current=form.current_password.data,
                new=form.new_password.data,
                keep_session=current_user.get_id(),
            )
        except ValidationFailed as exc:
            db.session.rollback()
            field = getattr(form, exc.field or "new_password", form.new_password)
            field.errors = [*field.errors, exc.message]
            return _render_account(password_form=form)
        db.session.commit()
        flash(_("Your password has been changed. Other devices were logged out."), "success")
        return redirect(url_for("auth.account"))
    return _render_account(password_form=form)


@bp.route("/account/preferences", methods=["POST"])
@staff_required
def preferences():
    form = PreferencesForm()
    if form.validate_on_submit():
        current_user.locale = form.locale.data
        db.session.commit()
        flash(_("Saved."), "success")
        response = redirect(url_for("auth.account"))
        response.delete_cookie("aixin_lang")
        return response
    return _render_account(prefs_form=form)


@bp.route("/account/tokens", methods=["POST"])
@staff_required
def create_token():
    form = TokenForm()
    if form.validate_on_submit():
        _token, secret = operations.create_token(current_user, form.name.data)
        db.session.commit()
        # Shown once, in this response only; never stored or logged.
        return _render_account(new_token=secret)
    return _render_account(token_form=form)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@staff_required
def revoke_token(token_id: int):
    form = ConfirmForm()
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id)
    )
    if token is None:
        from flask import abort

        abort(404)
    if form.validate_on_submit():
        operations.revoke_token(token)
        db.session.commit()
        flash(_("The token has been revoked."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@staff_required
def end_other_session(session_id: int):
    form = ConfirmForm()
    row = db.session.scalar(
        select(UserSession).where(
            UserSession.id == session_id, UserSession.user_id == current_user.id
        )
    )
    if row is None:
        from flask import abort

        abort(404)
    if form.validate_on_submit() and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
        flash(_("That session has been ended."), "success")
    return redirect(url_for("auth.account"))
