"""The 爱心超市 counter pages (blueprint ``counter``, /counter).

* ``/counter/`` — the counter: a keyboard-wedge scanner (or the code box) finds the card, the
  clerk fills a cart from the school's shelf and confirms through the counter API
  (``static/js/counter.js``); a slip is printed. Nothing about aid is shown, ever (DOMAIN §4).
* ``/counter/today`` — today's checkouts (a clerk's own; the officer's whole school), with voids.
* ``/counter/close`` — the clerk's day close (日结); the officer signs the school's closes off.
* ``/counter/cards/<card_code>/photo`` — the scanned child's photo, beside the name at the counter.
* ``/counter/cards`` — the officer issues missing cards per class, prints an A4 card sheet (QR
  images made here, scoped) and reissues a lost card (the old code stops working).

Only the school's counter clerk and its aid officer use these pages; other roles get 403 (404
for a child's photo).
"""

from __future__ import annotations

import io

import qrcode
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy import select

from app.auth.access import roles_required, staff_required
from app.auth.models import User
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404, scoped
from app.common import DomainError, local_today
from app.counter import operations, queries
from app.counter.models import Card, DayClose
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry.models import Student

bp = Blueprint("counter", __name__, url_prefix="/counter")

COUNTER_PAGE_ROLES = (Role.CLERK, Role.SCHOOL_OFFICER)


def _school() -> School:
    if not current_user.school_id:
        abort(403)
    return db.session.get(School, current_user.school_id)


@bp.route("/")
@roles_required(*COUNTER_PAGE_ROLES)
def index():
    school = _school()
    items = queries.shelf(school.id, school.district_id)
    return render_template("counter/index.html", school=school, items=items)


@bp.route("/today")
@roles_required(*COUNTER_PAGE_ROLES)
def today():
    school = _school()
    rows = db.session.scalars(queries.today_statement(current_user)).unique().all()
    clerks = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({r.clerk_id for r in rows})))
    }
    return render_template(
        "counter/today.html",
        school=school,
        rows=rows,
        clerks=clerks,
        can_void={
            r.id: r.status == "completed" and operations.can_void(r, current_user) for r in rows
        },
    )


@bp.route("/close", methods=["GET", "POST"])
@roles_required(*COUNTER_PAGE_ROLES)
def close():
    school = _school()
    day = local_today()
    if request.method == "POST":
        if current_user.role != Role.CLERK:
            abort(403)
        try:
            operations.close_day(
                school_id=school.id,
                clerk_id=current_user.id,
                day=day,
                note=(request.form.get("note") or "")[:2000],
            )
        except DomainError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(url_for("counter.close"))
        db.session.commit()
        flash(_("Your day has been closed."), "success")
        return redirect(url_for("counter.close"))
    stmt = scoped(select(DayClose), current_user)
    if current_user.role == Role.CLERK:
        stmt = stmt.where(DayClose.clerk_id == current_user.id)
    closes = db.session.scalars(
        stmt.order_by(DayClose.day.desc(), DayClose.id.desc()).limit(60)
    ).all()
    clerks = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({c.clerk_id for c in closes})))
    }
    figures = (
        operations.day_figures(school.id, current_user.id, day)
        if current_user.role == Role.CLERK
        else None
    )
    mine = next((c for c in closes if c.day == day and c.clerk_id == current_user.id), None)
    return render_template(
        "counter/close.html",
        school=school,
        day=day,
        figures=figures,
        closes=closes,
        clerks=clerks,
        mine=mine,
    )


@bp.route("/close/<int:close_id>/sign-off", methods=["POST"])
@roles_required(Role.SCHOOL_OFFICER)
def sign_off(close_id: int):
    row = get_scoped_or_404(DayClose, close_id, current_user)
    try:
        operations.sign_off_day(row, officer=current_user)
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("counter.close"))
    db.session.commit()
    flash(_("The day close has been signed off."), "success")
    return redirect(url_for("counter.close"))


# ---------------------------------------------------------------- cards (officer)


@bp.route("/cards")
@roles_required(Role.SCHOOL_OFFICER)
def cards():
    school = _school()
    return render_template(
        "counter/cards.html", school=school, classes=queries.classes_with_counts(school.id)
    )


@bp.route("/cards/class/<int:class_id>")
@roles_required(Role.SCHOOL_OFFICER)
def class_cards(class_id: int):
    school_class = get_scoped_or_404(SchoolClass, class_id, current_user)
    return render_template(
        "counter/class_cards.html",
        school=_school(),
        school_class=school_class,
        rows=queries.class_cards(school_class.id),
    )


@bp.route("/cards/class/<int:class_id>/issue", methods=["POST"])
@roles_required(Role.SCHOOL_OFFICER)
def issue_cards(class_id: int):
    school_class = get_scoped_or_404(SchoolClass, class_id, current_user)
    made = 0
    for student, card in queries.class_cards(school_class.id):
        if card is None:
            operations.issue_card(student, user_id=current_user.id)
            made += 1
    db.session.commit()
    flash(_("%(n)d new cards issued.", n=made), "success")
    return redirect(url_for("counter.class_cards", class_id=school_class.id))


@bp.route("/cards/class/<int:class_id>/sheet")
@roles_required(Role.SCHOOL_OFFICER)
def card_sheet(class_id: int):
    school_class = get_scoped_or_404(SchoolClass, class_id, current_user)
    rows = [(s, c) for s, c in queries.class_cards(school_class.id) if c is not None]
    return render_template(
        "counter/card_sheet.html", school=_school(), school_class=school_class, rows=rows
    )


@bp.route("/cards/<card_code>/photo")
@staff_required
def card_photo(card_code: str):
    """The photo beside the name at the counter: the clerk's or officer's own school only.

    Every other role and school, a revoked card and a child without a photo get the same 404,
    so the answer tells nobody else whether a code or a photo exists. Never cached.
    """
    if current_user.role not in COUNTER_PAGE_ROLES or not current_user.school_id:
        abort(404)
    path = queries.card_photo_path(card_code, current_user.school_id)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", etag=False, conditional=False)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/cards/<int:card_id>/qr.png")
@roles_required(Role.SCHOOL_OFFICER)
def card_qr(card_id: int):
    card = get_scoped_or_404(Card, card_id, current_user)
    if card.status != "active":
        abort(404)
    image = qrcode.make(card.code, error_correction=ERROR_CORRECT_M, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = make_response(buffer.getvalue())
    response.headers["Content-Type"] = "image/png"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/students/<int:student_id>/reissue", methods=["POST"])
@roles_required(Role.SCHOOL_OFFICER)
def reissue(student_id: int):
    student = get_scoped_or_404(Student, student_id, current_user)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("Give a reason."), "danger")
    else:
        operations.reissue_card(student, reason=reason, user_id=current_user.id)
        db.session.commit()
        flash(_("A new card was issued; the old card no longer works."), "success")
    if student.class_id:
        return redirect(url_for("counter.class_cards", class_id=student.class_id))
    return redirect(url_for("counter.cards"))
