"""The public, donor-facing pages (blueprint ``donate``; no account, no login).

* ``/donate`` — choose a school, grouped by alliance, or an alliance "wherever most needed";
* ``/donate/school/<id>`` and ``/donate/alliance/<id>`` — the pledge form: the needs list with
  quantity boxes, "other goods" rows, who gives and how to reach them;
* ``/donate/thanks`` — the reference number and what to bring where;
* ``/donate/status`` — the donor enters reference + phone (POSTed, never in a URL) and sees the
  pledge, its receipts, thanks, certificates and the usage report;
* ``/verify/<token>`` — the public check page a certificate's QR code opens;
* ``/donors`` — the donor wall.

Anti-automation on the pledge form (ASVS 2.4.1), without any outside captcha: a rate limit
per IP shared with ``POST /api/v1/pledges``; a honeypot field hidden by CSS (filled in: the
robot is shown a made-up success and nothing is written); and a signed "form handed out at"
stamp — a form sent back within ``PLEDGE_MIN_FILL_SECONDS`` is refused with a gentle message.

Which pledge a visitor may see is kept in their (signed) session cookie for half an hour after
they made it or proved it is theirs: the reference and the phone never appear in a URL.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import date

from babel.dates import format_skeleton
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.auth.access import public
from app.common import ValidationFailed, page_number
from app.database import read_only
from app.donations import operations, queries
from app.donations.forms_public import (
    DONOR_KIND_LABELS,
    HONEYPOT,
    ORGANISATION_KINDS,
    PledgeForm,
    PledgeLines,
    StatusLookupForm,
    form_stamp,
    stamp_age,
)
from app.donations.models import THANKED_VIA
from app.extensions import db, limiter

bp = Blueprint("donate", __name__)
log = logging.getLogger("aixin.donate")

PLEDGE_STATUS_LABELS = {
    "pledged": _l("Pledged"),
    "partly_received": _l("Partly received"),
    "received": _l("Received"),
    "cancelled": _l("Cancelled"),
}
THANKED_VIA_LABELS = {
    "letter": _l("thank-you letter"),
    "certificate": _l("donation certificate"),
    "phone": _l("phone call"),
    "other": _l("in person or otherwise"),
}
assert set(THANKED_VIA_LABELS) == set(THANKED_VIA)

VIEW_KEY = "donor_pledge"  # session: {"id": pledge id | "fake": reference, "until": epoch}
VIEW_SECONDS = 30 * 60
STAMP_MAX_AGE = 2 * 24 * 3600  # a form left open longer is handed out again
FORM_FIELDS = ("kind", "name", "phone", "organization", "planned_date", "message")


def _config(name: str, default):
    return current_app.config.get(name, default)


def _failed(response) -> bool:
    """Count a status lookup against the limits only when it failed (success redirects)."""
    return response.status_code != 302


def _lookup_reference_key() -> str:
    reference = operations.normalise_reference(request.form.get("reference", ""))[:40]
    return f"pledge-reference:{reference}"


# One budget per IP for pledges, shared by the form and POST /api/v1/pledges.
pledge_rate_limit = limiter.shared_limit(
    lambda: _config("PLEDGE_RATE_LIMIT", "10 per hour;30 per day"),
    scope="pledge",
    methods=["POST"],
)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def _private(response):
    # Forms carry the donor's own details back on errors; the status page is personal.
    return _no_store(response)


@bp.app_template_filter("reference")
def _reference_filter(value: str | None) -> str:
    return queries.grouped_reference(value)


@bp.app_template_filter("month")
def _month_filter(value: str) -> str:
    """ "2026-05" as the locale writes a month: 2026年5月 / May 2026."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return format_skeleton("yMMMM", date(year, month, 1), locale=get_locale())
    except (ValueError, TypeError):
        return value


@bp.errorhandler(429)
def _too_many(exc):
    return render_template("donate/rate_limited.html"), 429


# The certificate PDF for whoever holds its token: built on the officer side. Linked only if
# one of these endpoints exists (the first found), so the pages never break on a missing route.
CERTIFICATE_PDF_ENDPOINTS = ("donate.certificate_pdf", "donations.certificate_pdf_public")


def certificate_pdf_endpoint() -> str | None:
    return next((e for e in CERTIFICATE_PDF_ENDPOINTS if e in current_app.view_functions), None)


# ---------------------------------------------------------------- who may see which pledge


def _grant(pledge_id: int) -> None:
    session[VIEW_KEY] = {"id": pledge_id, "until": int(time.time()) + VIEW_SECONDS}


def _granted() -> dict:
    value = session.get(VIEW_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("until"), int):
        return {}
    if value["until"] < time.time():
        session.pop(VIEW_KEY, None)
        return {}
    return value


def _granted_pledge():
    pledge_id = _granted().get("id")
    if not isinstance(pledge_id, int):
        return None
    return queries.pledge_for_donor(pledge_id)


# ---------------------------------------------------------------- choosing where to give


@bp.route("/donate")
@public
def start():
    return render_template("donate/start.html", directory=queries.pledge_directory())


@bp.route("/donate/school/<int(max=2147483647):school_id>", methods=["GET", "POST"])
@pledge_rate_limit
@public
def pledge_school(school_id: int):
    school = queries.pledgeable_school(school_id)
    if school is None:
        abort(404)
    return _pledge_page(queries.school_needs(school.id), school=school)


@bp.route("/donate/alliance/<int(max=2147483647):alliance_id>", methods=["GET", "POST"])
@pledge_rate_limit
@public
def pledge_alliance(alliance_id: int):
    alliance = queries.pledgeable_alliance(alliance_id)
    if alliance is None:
        abort(404)
    return _pledge_page(queries.alliance_needs(alliance.id), alliance=alliance)


def _render_form(form, lines, *, school, alliance, notice=None, page_errors=(), status=200):
    return (
        render_template(
            "donate/pledge.html",
            form=form,
            lines=lines,
            school=school,
            alliance=alliance,
            notice=notice,
            page_errors=list(page_errors),
            organisation_kinds=ORGANISATION_KINDS,
        ),
        status,
    )


def _pledge_page(needs, *, school=None, alliance=None):
    form = PledgeForm()
    if request.method == "GET":
        form.started.data = form_stamp()
        return _render_form(form, PledgeLines(needs), school=school, alliance=alliance)

    if request.form.get(HONEYPOT, "").strip():
        # A robot filled in the field people never see: make it believe it succeeded.
        log.info("pledge honeypot filled from %s; nothing written", request.remote_addr)
        session[VIEW_KEY] = {
            "fake": new_fake_reference(),
            "until": int(time.time()) + VIEW_SECONDS,
        }
        return redirect(url_for("donate.thanks"))

    lines = PledgeLines(needs, request.form)
    form_ok = form.validate_on_submit()
    pledge_lines = lines.validate()

    notice = None
    age = stamp_age(form.started.data)
    if age is None or age > STAMP_MAX_AGE or age < -60:
        form.started.data = form_stamp()
        notice = _("Please check your pledge once more and send it again.")
    elif age < _config("PLEDGE_MIN_FILL_SECONDS", 3):
        log.info("pledge sent %.1f s after the form was handed out; refused", age)
        # With other errors to fix, the donor sends again later anyway: no need to say more.
        if form_ok and not lines.has_errors:
            notice = _(
                "That was very quick! Please take a moment to check your pledge, "
                "then send it again."
            )
        else:
            notice = ""  # refused all the same
    if notice is not None or not form_ok or lines.has_errors:
        return _render_form(
            form, lines, school=school, alliance=alliance, notice=notice, status=422
        )

    try:
        pledge = operations.create_pledge(
            donor=operations.DonorInput(
                name=form.name.data,
                phone=form.phone.data,
                kind=form.kind.data,
                organization=form.organization.data,
            ),
            lines=pledge_lines,
            school_id=school.id if school else None,
            alliance_id=alliance.id if alliance else None,
            anonymous=form.anonymous.data,
            public_consent=form.public_consent.data,
            planned_date=form.planned_date.data,
            message=form.message.data or None,
        )
    except ValidationFailed as exc:
        db.session.rollback()
        page_errors = []
        if exc.field in FORM_FIELDS:
            field = getattr(form, exc.field)
            field.errors = [*field.errors, exc.message]
        elif not lines.attach(exc):
            page_errors.append(exc.message)  # the school or alliance itself
        return _render_form(
            form, lines, school=school, alliance=alliance, page_errors=page_errors, status=422
        )
    db.session.commit()
    log.info("pledge %s made", pledge.id)
    _grant(pledge.id)
    return redirect(url_for("donate.thanks"))


@bp.route("/donate/thanks")
@public
def thanks():
    granted = _granted()
    if "fake" in granted:
        return render_template("donate/thanks.html", pledge=None, reference=granted["fake"])
    pledge = _granted_pledge()
    if pledge is None:
        return redirect(url_for("donate.start"))
    return render_template(
        "donate/thanks.html",
        pledge=pledge,
        reference=pledge.reference,
        drop_off=pledge.school or (pledge.alliance.lead_school if pledge.alliance else None),
    )


# ---------------------------------------------------------------- the donor's status page


@bp.route("/donate/status", methods=["GET", "POST"])
@limiter.limit(
    lambda: _config("PLEDGE_LOOKUP_LIMIT", "10 per 10 minutes;40 per day"),
    methods=["POST"],
    deduct_when=_failed,
)
@limiter.limit(
    lambda: _config("PLEDGE_LOOKUP_REFERENCE_LIMIT", "5 per hour"),
    methods=["POST"],
    key_func=_lookup_reference_key,
    deduct_when=_failed,
)
@public
def status():
    form = StatusLookupForm()
    if request.method == "POST":
        if form.validate_on_submit():
            with read_only():
                try:
                    pledge = operations.find_pledge(form.reference.data, form.phone.data)
                except operations.PledgeNotFound:
                    pledge = None
            if pledge is not None:
                _grant(pledge.id)
                return redirect(url_for("donate.status"))
            # The same words whether the reference or the phone was wrong.
            return render_template(
                "donate/lookup.html",
                form=form,
                not_found=_("No pledge with this reference and phone number."),
            ), 404
        return render_template("donate/lookup.html", form=form), 422
    pledge = _granted_pledge()
    if pledge is None:
        return render_template("donate/lookup.html", form=form)
    receipts = queries.pledge_receipts(pledge.id)
    from app.activities.queries import approved_letters_for_pledge

    return render_template(
        "donate/status.html",
        pledge=pledge,
        receipts=receipts,
        usage=queries.pledge_usage(pledge),
        letters=approved_letters_for_pledge(pledge),
        public_name=queries.public_donor_name(
            pledge.donor.name,
            pledge.donor.organization,
            anonymous=pledge.anonymous,
            kind=pledge.donor.kind,
        ),
        masked_phone=queries.masked_phone(pledge.donor.phone),
        certificate_pdf=certificate_pdf_endpoint(),
        drop_off=pledge.school or (pledge.alliance.lead_school if pledge.alliance else None),
        status_labels=PLEDGE_STATUS_LABELS,
        kind_labels=DONOR_KIND_LABELS,
        thanked_labels=THANKED_VIA_LABELS,
    )


@bp.route("/donate/status/close", methods=["POST"])
@public
def close_status():
    """Forget the pledge this browser may see (a shared phone, or to look up another)."""
    session.pop(VIEW_KEY, None)
    return redirect(url_for("donate.status"))


# ---------------------------------------------------------------- certificates and the wall


@bp.route("/verify/<token>")
@public
def verify(token: str):
    receipt = queries.receipt_by_verify_token(token)
    if receipt is None:
        abort(404)
    return render_template(
        "donate/verify.html",
        receipt=receipt,
        donor_name=queries.certificate_donor_name(receipt),
        certificate_pdf=certificate_pdf_endpoint(),
    )


@bp.route("/donors")
@public
def wall():
    pagination, entries = queries.donor_wall_page(page_number())
    return render_template(
        "donate/wall.html",
        page=pagination,
        months=queries.wall_months(entries),
        kind_labels=DONOR_KIND_LABELS,
    )


def new_fake_reference() -> str:
    """A reference that looks real but belongs to no pledge (shown to honeypot robots)."""
    return "AX" + "".join(secrets.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8))
