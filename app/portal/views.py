"""Public pages (home, language switch) and the staff dashboard. Donors: app.donations.public."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import public, staff_required
from app.auth.views import _safe_next
from app.i18n import LANG_COOKIE
from app.portal import queries

bp = Blueprint("portal", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.route("/")
@public
def home():
    return render_template("portal/home.html", figures=queries.public_figures())


@bp.route("/lang", methods=["POST"])
@public
def set_language():
    """The header's language switch; the choice is remembered in a cookie for a year."""
    lang = request.form.get("lang", "")
    target = _safe_next(request.form.get("next")) or url_for("portal.home")
    response = redirect(target)
    if lang in current_app.config["LANGUAGES"]:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=ONE_YEAR,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
        )
    return response


@bp.route("/dashboard")
@staff_required
def dashboard():
    return render_template(
        "portal/dashboard.html",
        summary=queries.scope_summary(current_user),
        schools=queries.schools_in_scope(current_user),
    )
