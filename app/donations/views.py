"""The school side of donations: the pledge inbox, receiving goods, certificates and thanks.

Who may do what (DOMAIN.md §2):
- school aid officer: their school's pledges and the open "wherever most needed" pledges of
  their alliance; receives goods (pledges, walk-in donations, the school's own purchases),
  cancels their school's pledges, prints certificates and letters, records thanks;
- district admin: the same for every school of the district (choosing the school);
- alliance lead: reads everything of the alliance's schools; of the writes, only what concerns
  the alliance's own pledges — assigning one to a member school, or cancelling it.
Teachers and clerks have no donation pages. Every object is looked up through the scope
(out of scope: 404); a role that may see an object but not do this to it gets 403.

Donor contact details are shown here — thanking donors is the officer's job — and never on
public pages. The one public route, ``certificate_pdf_public``, serves a certificate to whoever
holds its secret token (the donor, through the QR code or the status page).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError
from wtforms import Field
from wtforms.fields.choices import SelectChoice

from app.auth.access import public, roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404, scoped
from app.common import DomainError, local_today, page_number, to_local
from app.donations import operations
from app.donations.certificates import certificate_facts, certificate_pdf, letter_pdf
from app.donations.forms import (
    CONDITION_LABELS,
    DEFAULT_ROWS,
    DONOR_KIND_LABELS,
    PLEDGE_STATUS_LABELS,
    SOURCE_LABELS,
    THANKED_VIA_LABELS,
    AssignForm,
    CancelForm,
    PurchaseForm,
    ReceiptLineForm,
    ReceiveForm,
    ThankForm,
    WalkInForm,
)
from app.donations.models import (
    PLEDGE_STATUSES,
    RECEIPT_SOURCES,
    Pledge,
    PledgeLine,
    Receipt,
    ReceiptLine,
)
from app.extensions import db, limiter
from app.inventory.models import Item
from app.org.models import School

bp = Blueprint("donations", __name__, url_prefix="/donations")

VIEWERS = (Role.DISTRICT_ADMIN, Role.ALLIANCE_LEAD, Role.SCHOOL_OFFICER)
RECEIVERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
OPEN = ("pledged", "partly_received")
PER_PAGE = 20
ID = "int(max=2147483647)"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


# ---------------------------------------------------------------- who may do what


def _role() -> str:
    return current_user.role


def _can_receive(pledge: Pledge) -> bool:
    if pledge.status not in OPEN:
        return False
    if _role() == Role.SCHOOL_OFFICER:
        # Their school's pledge, or an alliance pledge (the scope keeps it to their alliance).
        return pledge.school_id in (None, current_user.school_id)
    return _role() == Role.DISTRICT_ADMIN and pledge.school_id is not None


def _can_assign(pledge: Pledge) -> bool:
    return pledge.school_id is None and pledge.status == "pledged"


def _can_cancel(pledge: Pledge) -> bool:
    if pledge.status not in OPEN:
        return False
    if _role() == Role.SCHOOL_OFFICER:
        return pledge.school_id == current_user.school_id
    if _role() == Role.ALLIANCE_LEAD:
        return pledge.school_id is None
    return _role() == Role.DISTRICT_ADMIN


def _can_thank(receipt: Receipt) -> bool:
    return receipt.is_donation and receipt.thanked_at is None and _role() in RECEIVERS


# ---------------------------------------------------------------- reading


def _pledge_or_404(pledge_id: int) -> Pledge:
    return get_scoped_or_404(Pledge, pledge_id, current_user)


def _receipt_or_404(receipt_id: int) -> Receipt:
    return get_scoped_or_404(Receipt, receipt_id, current_user)


def _schools_in_scope(active_only: bool = False) -> list[School]:
    stmt = scoped(select(School), current_user).order_by(School.alliance_id, School.id)
    if active_only:
        stmt = stmt.where(School.active.is_(True))
    return list(db.session.scalars(stmt))


def _school_filter() -> int | None:
    """``?school=`` for admins and leads, when it names a school in scope."""
    if _role() == Role.SCHOOL_OFFICER:
        return None
    try:
        wanted = int(request.args.get("school", ""))
    except ValueError:
        return None
    return wanted if wanted in {s.id for s in _schools_in_scope()} else None


def _catalogue() -> list[Item]:
    return list(
        db.session.scalars(
            scoped(select(Item), current_user)
            .where(Item.active.is_(True))
            .order_by(Item.category, Item.name)
        )
    )


def _pledge_receipts(pledge: Pledge) -> list[Receipt]:
    return list(
        db.session.scalars(
            scoped(select(Receipt), current_user)
            .where(Receipt.pledge_id == pledge.id)
            .options(selectinload(Receipt.lines).selectinload(ReceiptLine.item))
            .order_by(Receipt.received_at, Receipt.id)
        )
    )


def verify_url(receipt: Receipt) -> str:
    """The public verification page of a certificate (the QR code's target)."""
    try:
        return url_for("donate.verify", token=receipt.verify_token, _external=True)
    except BuildError:  # the public pages are not registered (yet): the agreed path
        return urljoin(request.host_url, f"verify/{receipt.verify_token}")


def _render(template: str, status: int = 200, **context: Any):
    return (
        render_template(
            template,
            STATUS_LABELS=PLEDGE_STATUS_LABELS,
            SOURCE_LABELS=SOURCE_LABELS,
            CONDITION_LABELS=CONDITION_LABELS,
            DONOR_KIND_LABELS=DONOR_KIND_LABELS,
            THANKED_VIA_LABELS=THANKED_VIA_LABELS,
            can_receive_goods=_role() in RECEIVERS,
            **context,
        ),
        status,
    )


# ---------------------------------------------------------------- refusals on the form


_LINE_FIELD = re.compile(r"lines\.(\d+)\.(\w+)")
_FIELD_NAMES = {
    "unit_value_fen": "unit_value",
    "pledge_line_id": "quantity",
    "donor_name": "name",
    "donor": "name",
}


def _add_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


def _show_refusal(form: Any, exc: DomainError, rows: list[int]) -> None:
    """Put an operation's refusal on the field it names (``lines.3.quantity`` → that row)."""
    name = exc.field or ""
    match = _LINE_FIELD.fullmatch(name)
    if match:
        index, attr = int(match.group(1)), _FIELD_NAMES.get(match.group(2), match.group(2))
        if index < len(rows):
            row = form.lines.entries[rows[index]].form
            target = getattr(row, attr, None)
            if isinstance(target, Field):
                _add_error(target, exc.message)
                return
    target = getattr(form, _FIELD_NAMES.get(name, name), None) if name else None
    if isinstance(target, Field) and name not in ("lines", "csrf_token"):
        _add_error(target, exc.message)
    else:
        form.form_errors.append(exc.message)


def _line_inputs(form: ReceiveForm) -> tuple[list[operations.ReceiptLineInput], list[int]]:
    """The entered lines (empty ones skipped) and, for each, its row on the form."""
    inputs, rows = [], []
    for index, entry in enumerate(form.lines.entries):
        row = entry.form
        if row.blank:
            continue
        inputs.append(
            operations.ReceiptLineInput(
                item_id=row.item_id.data,
                quantity=row.quantity.data,
                condition=row.condition.data,
                expiry_date=row.expiry_date.data,
                unit_value_fen=row.unit_value.data,
                pledge_line_id=row.pledge_line_id.data,
            )
        )
        rows.append(index)
    return inputs, rows


def _check_rows(form: ReceiveForm) -> bool:
    """What the form can tell without the database: a line with an item needs a quantity."""
    ok = True
    for entry in form.lines.entries:
        row = entry.form
        if row.blank or row.errors:
            continue
        if row.quantity.data is None:
            _add_error(row.quantity, _("Enter the quantity."))
            ok = False
        if row.item_id.data is None:
            _add_error(row.item_id, _("Choose the item."))
            ok = False
    if all(entry.form.blank and not entry.form.errors for entry in form.lines.entries):
        form.form_errors.append(_("Enter the quantity received on at least one line."))
        ok = False
    return ok


def _receive(form: ReceiveForm, **kwargs: Any) -> tuple[Receipt | None, int]:
    """Run receive_goods and commit; on a refusal roll back, show it, and return the status."""
    inputs, rows = _line_inputs(form)
    if not inputs:
        form.form_errors.append(_("Enter the quantity received on at least one line."))
        return None, 422
    try:
        receipt = operations.receive_goods(
            lines=inputs, note=form.note.data, user_id=current_user.id, **kwargs
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _show_refusal(form, exc, rows)
        return None, exc.status if exc.status in (404, 409, 422) else 409
    except IntegrityError:
        db.session.rollback()
        form.form_errors.append(_("Someone else changed this at the same time. Please try again."))
        return None, 409
    return receipt, 201


def _received_flash(receipt: Receipt) -> None:
    units = sum(line.quantity for line in receipt.lines)
    if receipt.certificate_no:
        flash(
            _(
                "%(units)s units received into stock. Certificate %(number)s is ready.",
                units=units,
                number=receipt.certificate_no,
            ),
            "success",
        )
    else:
        flash(_("%(units)s units received into stock.", units=units), "success")


# ---------------------------------------------------------------- the pledge inbox


@bp.route("/")
@roles_required(*VIEWERS)
def index():
    """Pledges in scope, newest first, by status (default: those still to come)."""
    status = request.args.get("status", "open")
    if status not in (*PLEDGE_STATUSES, "open", "all"):
        status = "open"
    school_id = _school_filter()
    base = scoped(select(Pledge), current_user)
    if school_id is not None:
        base = base.where(Pledge.school_id == school_id)
    counts = dict(
        db.session.execute(
            base.with_only_columns(Pledge.status, func.count()).group_by(Pledge.status)
        ).all()
    )
    stmt = base.options(
        selectinload(Pledge.donor),
        selectinload(Pledge.school),
        selectinload(Pledge.alliance),
        selectinload(Pledge.lines).selectinload(PledgeLine.item),
    ).order_by(Pledge.created_at.desc(), Pledge.id.desc())
    if status == "open":
        stmt = stmt.where(Pledge.status.in_(OPEN))
    elif status != "all":
        stmt = stmt.where(Pledge.status == status)
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    return _render(
        "donations/index.html",
        page=page,
        state=status,
        counts=counts,
        open_count=sum(counts.get(s, 0) for s in OPEN),
        schools=_schools_in_scope() if _role() != Role.SCHOOL_OFFICER else [],
        school_id=school_id,
        unthanked=_unthanked_count(),
    )


def _unthanked_count() -> int:
    stmt = scoped(select(func.count()).select_from(Receipt), current_user, Receipt).where(
        Receipt.source != "purchase", Receipt.thanked_at.is_(None)
    )
    return int(db.session.scalar(stmt) or 0)


def _assign_choices(pledge: Pledge) -> list[SelectChoice]:
    schools = [
        s for s in _schools_in_scope(active_only=True) if s.alliance_id == pledge.alliance_id
    ]
    return [SelectChoice("", _("— choose a school —"))] + [
        SelectChoice(str(s.id), s.name) for s in schools
    ]


def _render_pledge(
    pledge: Pledge,
    status: int = 200,
    *,
    assign_form: AssignForm | None = None,
    cancel_form: CancelForm | None = None,
):
    assign_form = assign_form or AssignForm(formdata=None)
    assign_form.school_id.choices = _assign_choices(pledge) if _can_assign(pledge) else []
    return _render(
        "donations/pledge.html",
        status,
        pledge=pledge,
        lines=pledge.lines,
        receipts=_pledge_receipts(pledge),
        can_receive=_can_receive(pledge),
        can_assign=_can_assign(pledge),
        can_cancel=_can_cancel(pledge),
        assign_form=assign_form,
        cancel_form=cancel_form or CancelForm(formdata=None),
        outstanding=operations.outstanding,
    )


@bp.route(f"/pledges/<{ID}:pledge_id>")
@roles_required(*VIEWERS)
def pledge_detail(pledge_id: int):
    return _render_pledge(_pledge_or_404(pledge_id))


@bp.route(f"/pledges/<{ID}:pledge_id>/assign", methods=["POST"])
@roles_required(*VIEWERS)
def assign_pledge(pledge_id: int):
    """An alliance pledge goes to a member school: an officer takes it for their own school;
    the lead (or a district admin) chooses the school."""
    pledge = _pledge_or_404(pledge_id)
    if not _can_assign(pledge):
        abort(403 if pledge.school_id is None else 409)
    form = AssignForm()
    form.school_id.choices = _assign_choices(pledge)
    if not form.validate_on_submit():
        return _render_pledge(pledge, 422, assign_form=form)
    if _role() == Role.SCHOOL_OFFICER:
        school_id = current_user.school_id  # an officer can only take it for their school
    else:
        school_id = form.school_id.data
        if school_id not in {int(c.value) for c in form.school_id.choices if c.value}:
            _add_error(form.school_id, _("Choose a school of the alliance."))
            return _render_pledge(pledge, 422, assign_form=form)
    try:
        operations.assign_pledge_school(pledge, int(school_id))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _show_refusal(form, exc, [])
        return _render_pledge(_pledge_or_404(pledge_id), exc.status, assign_form=form)
    flash(
        _(
            "The pledge %(ref)s now goes to %(school)s.",
            ref=pledge.reference,
            school=pledge.school.name,
        ),
        "success",
    )
    return redirect(url_for("donations.pledge_detail", pledge_id=pledge.id))


@bp.route(f"/pledges/<{ID}:pledge_id>/cancel", methods=["POST"])
@roles_required(*VIEWERS)
def cancel_pledge(pledge_id: int):
    pledge = _pledge_or_404(pledge_id)
    if not _can_cancel(pledge):
        abort(403 if pledge.status in OPEN else 409)
    form = CancelForm()
    if not form.validate_on_submit():
        return _render_pledge(pledge, 422, cancel_form=form)
    try:
        operations.cancel_pledge(pledge, form.reason.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _show_refusal(form, exc, [])
        return _render_pledge(_pledge_or_404(pledge_id), exc.status, cancel_form=form)
    flash(_("The pledge %(ref)s has been cancelled.", ref=pledge.reference), "success")
    return redirect(url_for("donations.pledge_detail", pledge_id=pledge.id))


# ---------------------------------------------------------------- receiving


def _pledge_rows(pledge: Pledge, items: list[Item]) -> ReceiveForm:
    """The receiving form of a pledge: one line per pledged line still to come, prefilled."""
    form = ReceiveForm(formdata=None)
    shelf = {item.id: item.shelf_life_days for item in items}
    today = local_today()
    for line in pledge.lines:
        left = operations.outstanding(line)
        if not left:
            continue
        days = shelf.get(line.item_id) if line.item_id else None
        form.lines.append_entry(
            {
                "pledge_line_id": str(line.id),
                "item_id": line.item_id,
                "quantity": left,
                "condition": "new",
                "expiry_date": today + timedelta(days=days) if days else None,
            }
        )
    return form


def _render_receive_form(
    form: ReceiveForm, mode: str, status: int, *, pledge: Pledge | None = None, schools=None
):
    if status >= 400 and not form.form_errors:
        # A long form on a phone: say at the top that something below needs correcting.
        form.form_errors.append(_("Some entries need correcting; they are marked below."))
    items = _catalogue()
    if pledge is not None:
        # A pledged item that has left the catalogue can still arrive.
        known = {item.id for item in items}
        items += [ln.item for ln in pledge.lines if ln.item is not None and ln.item_id not in known]
    return _render(
        "donations/receive.html",
        status,
        form=form,
        mode=mode,
        pledge=pledge,
        pledge_lines={line.id: line for line in pledge.lines} if pledge is not None else {},
        items=items,
        schools=schools or [],
        outstanding=operations.outstanding,
        today=local_today(),
        template_row=ReceiptLineForm(prefix="lines-__index__"),
    )


@bp.route(f"/pledges/<{ID}:pledge_id>/receive", methods=["GET", "POST"])
@roles_required(*RECEIVERS)
def receive_pledge(pledge_id: int):
    """Receive a pledge fully or in part, line by line."""
    pledge = _pledge_or_404(pledge_id)
    if not _can_receive(pledge):
        if pledge.status in OPEN and pledge.school_id is None:
            flash(_("Assign this pledge to a school of the alliance first."), "warning")
        else:
            flash(_("This pledge is not waiting for goods."), "warning")
        if request.method == "POST":
            return _render_pledge(pledge, 409)
        return redirect(url_for("donations.pledge_detail", pledge_id=pledge.id))
    school_id = pledge.school_id or current_user.school_id
    if request.method == "GET":
        form = _pledge_rows(pledge, _catalogue())
        return _render_receive_form(form, "pledge", 200, pledge=pledge)
    form = ReceiveForm()
    valid = form.validate_on_submit()
    if not _check_rows(form) or not valid:
        return _render_receive_form(form, "pledge", 422, pledge=pledge)
    receipt, status = _receive(form, school_id=school_id, source="pledge", pledge=pledge)
    if receipt is None:
        return _render_receive_form(form, "pledge", status, pledge=_pledge_or_404(pledge_id))
    _received_flash(receipt)
    return redirect(url_for("donations.receipt_detail", receipt_id=receipt.id))


def _school_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("— choose a school —"))] + [
        SelectChoice(str(s.id), s.name) for s in _schools_in_scope(active_only=True)
    ]


def _blank_rows(form: ReceiveForm) -> None:
    while len(form.lines.entries) < DEFAULT_ROWS:
        form.lines.append_entry()


def _chosen_school(form: WalkInForm | PurchaseForm) -> int | None:
    """The officer's own school; a district admin picks one of the district's."""
    if _role() == Role.SCHOOL_OFFICER:
        return current_user.school_id
    if form.school_id.data in {int(c.value) for c in form.school_id.choices if c.value}:
        return form.school_id.data
    _add_error(form.school_id, _("Choose a school."))
    return None


def _new_receipt(form: WalkInForm | PurchaseForm, mode: str):
    choices = _school_choices() if _role() != Role.SCHOOL_OFFICER else []
    form.school_id.choices = choices
    if request.method == "GET":
        _blank_rows(form)
        return _render_receive_form(form, mode, 200, schools=choices)
    valid = form.validate_on_submit()
    valid = _check_rows(form) and valid
    school_id = _chosen_school(form)
    if not valid or school_id is None:
        _blank_rows(form)
        return _render_receive_form(form, mode, 422, schools=choices)
    if mode == "walk_in":
        donor = (
            operations.DonorInput(
                name=form.name.data,
                phone=form.phone.data,
                kind=form.kind.data,
                organization=form.organization.data,
            )
            if form.name.data
            else None
        )
        receipt, status = _receive(
            form,
            school_id=school_id,
            source="walk_in",
            donor=donor,
            anonymous=form.anonymous.data,
            public_consent=form.public_consent.data,
        )
    else:
        receipt, status = _receive(form, school_id=school_id, source="purchase")
    if receipt is None:
        _blank_rows(form)
        return _render_receive_form(form, mode, status, schools=choices)
    _received_flash(receipt)
    return redirect(url_for("donations.receipt_detail", receipt_id=receipt.id))


@bp.route("/walk-in", methods=["GET", "POST"])
@roles_required(*RECEIVERS)
def new_walk_in():
    """A donation brought in without a pledge."""
    return _new_receipt(WalkInForm(), "walk_in")


@bp.route("/purchase", methods=["GET", "POST"])
@roles_required(*RECEIVERS)
def new_purchase():
    """Goods the school bought itself (学校自助): into stock, no donor, no certificate."""
    return _new_receipt(PurchaseForm(), "purchase")


# ---------------------------------------------------------------- receipts


@bp.route("/receipts")
@roles_required(*VIEWERS)
def receipts():
    """Receipts in scope, newest first; by source and by whether the donor was thanked."""
    source = request.args.get("source", "all")
    if source not in (*RECEIPT_SOURCES, "all"):
        source = "all"
    school_id = _school_filter()
    stmt = (
        scoped(select(Receipt), current_user)
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school),
            selectinload(Receipt.pledge),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
        .order_by(Receipt.received_at.desc(), Receipt.id.desc())
    )
    if source != "all":
        stmt = stmt.where(Receipt.source == source)
    if school_id is not None:
        stmt = stmt.where(Receipt.school_id == school_id)
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    return _render(
        "donations/receipts.html",
        page=page,
        source=source,
        schools=_schools_in_scope() if _role() != Role.SCHOOL_OFFICER else [],
        school_id=school_id,
    )


def _render_receipt(receipt: Receipt, status: int = 200, thank_form: ThankForm | None = None):
    lines = list(
        db.session.scalars(
            select(ReceiptLine)
            .where(ReceiptLine.receipt_id == receipt.id)
            .options(selectinload(ReceiptLine.item))
            .order_by(ReceiptLine.id)
        )
    )
    total_fen = sum((line.unit_value_fen or 0) * line.quantity for line in lines)
    return _render(
        "donations/receipt.html",
        status,
        receipt=receipt,
        lines=lines,
        total_fen=total_fen,
        valued=any(line.unit_value_fen is not None for line in lines),
        can_thank=_can_thank(receipt),
        thank_form=thank_form or ThankForm(formdata=None),
        verify_url=verify_url(receipt) if receipt.verify_token else None,
    )


@bp.route(f"/receipts/<{ID}:receipt_id>")
@roles_required(*VIEWERS)
def receipt_detail(receipt_id: int):
    return _render_receipt(_receipt_or_404(receipt_id))


def _safe_back(target: str | None) -> str | None:
    """A return address on our own pages only (no scheme, host or backslash tricks)."""
    if target and target.startswith("/donations/") and "\\" not in target and "//" not in target:
        return target
    return None


@bp.route(f"/receipts/<{ID}:receipt_id>/thanked", methods=["POST"])
@roles_required(*RECEIVERS)
def mark_thanked(receipt_id: int):
    receipt = _receipt_or_404(receipt_id)
    form = ThankForm()
    if not form.validate_on_submit():
        return _render_receipt(receipt, 422, form)
    try:
        operations.mark_thanked(receipt, via=form.via.data, user_id=current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "warning")
        return _render_receipt(_receipt_or_404(receipt_id), exc.status, form)
    flash(_("Thanks recorded for %(number)s.", number=receipt.certificate_no), "success")
    return redirect(
        _safe_back(form.next.data) or url_for("donations.receipt_detail", receipt_id=receipt.id)
    )


@bp.route("/thanks")
@roles_required(*VIEWERS)
def thanks():
    """Donations whose donor has not been thanked yet: per school, oldest first."""
    school_id = _school_filter()
    stmt = (
        scoped(select(Receipt), current_user)
        .join(School, School.id == Receipt.school_id)
        .where(Receipt.source != "purchase", Receipt.thanked_at.is_(None))
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
        .order_by(School.name, Receipt.school_id, Receipt.received_at, Receipt.id)
    )
    if school_id is not None:
        stmt = stmt.where(Receipt.school_id == school_id)
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    return _render(
        "donations/thanks.html",
        page=page,
        schools=_schools_in_scope() if _role() != Role.SCHOOL_OFFICER else [],
        school_id=school_id,
        thank_form=ThankForm(formdata=None),
        days_ago=lambda when: (local_today() - to_local(when).date()).days,
    )


# ---------------------------------------------------------------- certificates and letters


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _certified_or_404(receipt: Receipt) -> Receipt:
    if not receipt.is_donation or not receipt.certificate_no or not receipt.verify_token:
        abort(404)
    return receipt


@bp.route(f"/receipts/<{ID}:receipt_id>/certificate.pdf")
@roles_required(*VIEWERS)
def certificate_pdf_staff(receipt_id: int):
    """The donation certificate (捐赠证书), for staff in scope to print."""
    receipt = _certified_or_404(_receipt_or_404(receipt_id))
    facts = certificate_facts(receipt, verify_url(receipt))
    return _pdf(certificate_pdf(facts), f"certificate-{receipt.certificate_no}.pdf")


@bp.route(f"/receipts/<{ID}:receipt_id>/letter.pdf")
@roles_required(*VIEWERS)
def letter_pdf_staff(receipt_id: int):
    """The school's thank-you letter (感谢信) to the donor."""
    receipt = _certified_or_404(_receipt_or_404(receipt_id))
    facts = certificate_facts(receipt, verify_url(receipt))
    return _pdf(letter_pdf(facts), f"letter-{receipt.certificate_no}.pdf")


@bp.route("/certificates/<token>.pdf")
@limiter.limit("30 per minute")
@public
def certificate_pdf_public(token: str):
    """The certificate for its donor: the secret token (in the QR code and on the donor's
    status page) is the key. Unknown tokens and purchases are 404."""
    if not _TOKEN.fullmatch(token or ""):
        abort(404)
    receipt = db.session.scalars(
        select(Receipt)
        .where(Receipt.verify_token == token, Receipt.source != "purchase")
        .options(
            selectinload(Receipt.donor),
            selectinload(Receipt.school).selectinload(School.district),
            selectinload(Receipt.lines).selectinload(ReceiptLine.item),
        )
    ).first()
    if receipt is None or not receipt.certificate_no:
        abort(404)
    facts = certificate_facts(receipt, verify_url(receipt))
    response = _pdf(certificate_pdf(facts), f"certificate-{receipt.certificate_no}.pdf")
    response.headers["X-Robots-Tag"] = "noindex"
    return response
