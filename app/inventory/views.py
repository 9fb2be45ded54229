"""Catalogue and stock pages of the 爱心超市.

Two blueprints, so the navigation can tell them apart: ``catalogue`` (/catalogue) and
``inventory`` (/stock).

Who may do what (DOMAIN.md §2):

* **Catalogue** — every staff member sees their district's catalogue; only district admins
  create and edit items (and their photos).
* **On-hand** — every staff member of a school sees its on-hand list: teachers and counter
  clerks stand at the counter and need to know what is on the shelf. They see nothing else of
  the stock (no histories, stocktakes, transfers or needs list).
* **Stock management** — the school's aid officer keeps the needs list, low-stock levels,
  adjustments, write-offs and stocktakes, and requests transfers. The alliance lead and the
  district admin see all of it for the schools in their scope, read-only.
* **Transfers** (共同体互助调拨) — the sending school's officer requests and may cancel while
  it waits; the lead of the transfer's alliance, or a district admin, approves or rejects.
  Both schools' users of the officer role and above see it.

Every object is looked up through the scope (404 outside it); a role that may see an object but
not change it gets 403. Changes go through ``app.inventory.operations`` (the stock ledger) or,
for the needs list, ``app.donations.operations``; the view commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.routing import BuildError
from wtforms.fields.choices import SelectChoice

from app.auth.access import roles_required, staff_required
from app.auth.roles import OFFICER_AND_ABOVE, Role
from app.auth.scope import get_scoped_or_404
from app.common import DomainError, ValidationFailed, local_today, page_number
from app.donations import operations as needs_ops
from app.donations.models import SchoolNeed
from app.extensions import db
from app.inventory import operations, queries, uploads
from app.inventory.forms import (
    CATEGORY_LABELS,
    LIMIT_PERIOD_LABELS,
    MOVE_KIND_LABELS,
    STOCKTAKE_STATUS_LABELS,
    TRANSFER_STATUS_LABELS,
    WRITE_OFF_CAUSES,
    AdjustForm,
    CatalogueFilterForm,
    DecisionForm,
    ItemForm,
    NeedEditForm,
    NeedForm,
    ReorderLevelForm,
    StockFilterForm,
    StocktakeStartForm,
    TransferForm,
    WriteOffForm,
    parse_quantities,
)
from app.inventory.models import (
    TRANSFER_STATUSES,
    Item,
    Stocktake,
    StockTransfer,
)
from app.org.forms import options
from app.org.models import School

catalogue_bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")
bp = Blueprint("inventory", __name__, url_prefix="/stock")

ID = "int(max=2147483647)"
PER_PAGE = 50
HISTORY_PER_PAGE = 30
ADMIN = Role.DISTRICT_ADMIN
OFFICER = Role.SCHOOL_OFFICER
DECIDERS = (Role.ALLIANCE_LEAD, Role.DISTRICT_ADMIN)
# The donations domain's page of one receipt; a move that came from a receipt links to it.
RECEIPT_ENDPOINT = "donations.receipt_detail"


# ---------------------------------------------------------------- helpers


def _labels() -> dict[str, Any]:
    return {
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "LIMIT_PERIOD_LABELS": LIMIT_PERIOD_LABELS,
        "MOVE_KIND_LABELS": MOVE_KIND_LABELS,
        "TRANSFER_STATUS_LABELS": TRANSFER_STATUS_LABELS,
        "STOCKTAKE_STATUS_LABELS": STOCKTAKE_STATUS_LABELS,
    }


def _render(template: str, status: int = 200, /, **context: Any):
    return render_template(template, **_labels(), **context), status


def _is_admin() -> bool:
    return current_user.role == ADMIN


def _manages(school: School) -> bool:
    """The school's own aid officer: the one who changes its stock."""
    return current_user.role == OFFICER and current_user.school_id == school.id


def _may_manage_or_403(school: School) -> None:
    if not _manages(school):
        abort(403)


def _sees_management() -> bool:
    """Officers and above see needs, histories, stocktakes and transfers (in scope)."""
    return current_user.role in OFFICER_AND_ABOVE


def _school_or_404(school_id: Any) -> School:
    return get_scoped_or_404(School, school_id, current_user)


def _item_or_404(item_id: Any) -> Item:
    return get_scoped_or_404(Item, item_id, current_user)


def _fail(form: Any, exc: DomainError, default_field: str | None = None) -> None:
    """Show a refused operation's message on its field, or above the form."""
    field = getattr(form, exc.field or default_field or "", None)
    if field is None or not hasattr(field, "errors"):
        form.form_errors.append(exc.message)
    else:
        field.errors = [*field.errors, exc.message]


def _run(form: Any, action: Callable[[], object], default_field: str | None = None) -> int | None:
    """Run an operation and commit; on a refusal roll back and return the status to answer."""
    try:
        action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc, default_field)
        return exc.status if exc.status in (409, 422) else 409
    except IntegrityError:
        db.session.rollback()
        _fail(
            form,
            ValidationFailed(_("Someone else changed this at the same time. Please try again.")),
            default_field,
        )
        return 422
    return None


def _crumbs(school: School | None = None, *more: tuple[str, str | None]) -> list:
    crumbs: list[tuple[str, str | None]] = []
    if current_user.role in (ADMIN, Role.ALLIANCE_LEAD):
        crumbs.append((_("Stock"), url_for("inventory.index")))
    if school is not None:
        crumbs.append((school.name, url_for("inventory.school_stock", school_id=school.id)))
    crumbs.extend(more)
    return crumbs


def _receipt_url(receipt_id: int | None) -> str | None:
    if receipt_id is None:
        return None
    try:
        return url_for(RECEIPT_ENDPOINT, receipt_id=receipt_id)
    except BuildError:  # the donations pages are not there (yet)
        return None


# ---------------------------------------------------------------- the catalogue


@catalogue_bp.route("/", endpoint="index")
@staff_required
def catalogue_index():
    form = CatalogueFilterForm(formdata=request.args)
    page = None
    if form.validate():
        stmt = queries.catalogue_statement(
            current_user,
            q=form.q.data,
            category=form.category.data or None,
            status=form.status.data or "active",
        )
        page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    filtered = any(request.args.get(name) for name in ("q", "category", "status"))
    return _render(
        "inventory/catalogue.html",
        200 if page is not None else 400,
        form=form,
        page=page,
        filtered=filtered,
        is_admin=_is_admin(),
    )


def _item_fields(form: ItemForm) -> dict[str, Any]:
    return {
        "name": form.name.data or "",
        "category": form.category.data,
        "unit": form.unit.data or "",
        "points": form.points.data,
        "limit_quantity": form.limit_quantity.data,
        "limit_period": form.limit_period.data or None,
        "shelf_life_days": form.shelf_life_days.data,
        "description": form.description.data,
    }


def _uploaded(form: ItemForm) -> FileStorage | None:
    data = form.photo.data
    return data if isinstance(data, FileStorage) and data.filename else None


def _save_item(form: ItemForm, item: Item | None) -> tuple[Item | None, int | None]:
    """Store the photo (if any), create or update the item, commit. Returns (item, status)."""
    new_photo = None
    upload = _uploaded(form)
    if upload is not None:
        try:
            new_photo = uploads.store_photo(upload)
        except ValidationFailed as exc:
            _fail(form, exc)
            return item, 422
    old_photo = item.photo if item is not None else None
    saved: list[Item] = []

    def save() -> None:
        fields = _item_fields(form)
        if item is None:
            created = operations.create_item(district_id=current_user.district_id, **fields)
            if new_photo:
                operations.update_item(created, photo=new_photo)
            saved.append(created)
            return
        fields["active"] = bool(form.active.data)
        if new_photo:
            fields["photo"] = new_photo
        elif form.remove_photo.data:
            fields["photo"] = None
        saved.append(operations.update_item(item, **fields))

    status = _run(form, save, default_field="name")
    if status:
        uploads.delete_photo(new_photo)
        return item, status
    if old_photo and (new_photo or form.remove_photo.data):
        uploads.delete_photo(old_photo)
    return saved[0], None


def _render_item_form(form: ItemForm, item: Item | None, status: int):
    crumbs = [(_("Catalogue"), url_for("catalogue.index"))]
    if item is not None:
        crumbs.append((item.name, url_for("catalogue.detail", item_id=item.id)))
    return _render("inventory/item_form.html", status, form=form, item=item, crumbs=crumbs)


@catalogue_bp.route("/new", methods=["GET", "POST"])
@roles_required(ADMIN)
def create():
    form = ItemForm()
    if form.validate_on_submit():
        item, status = _save_item(form, None)
        if status is None and item is not None:
            flash(_("%(name)s has been added to the catalogue.", name=item.name), "success")
            return redirect(url_for("catalogue.detail", item_id=item.id))
        return _render_item_form(form, None, status or 422)
    return _render_item_form(form, None, 422 if form.is_submitted() else 200)


@catalogue_bp.route(f"/<{ID}:item_id>")
@staff_required
def detail(item_id: int):
    item = _item_or_404(item_id)
    school = current_user.school if current_user.is_school_user else None
    level = queries.stock_level(school.id, item.id) if school is not None else None
    return _render(
        "inventory/item_detail.html",
        item=item,
        school=school,
        level=level,
        is_admin=_is_admin(),
        can_see_history=_sees_management(),
        crumbs=[(_("Catalogue"), url_for("catalogue.index")), (item.name, None)],
    )


@catalogue_bp.route(f"/<{ID}:item_id>/edit", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit(item_id: int):
    item = _item_or_404(item_id)
    form = ItemForm(obj=item)
    if form.validate_on_submit():
        saved, status = _save_item(form, item)
        if status is None and saved is not None:
            flash(_("%(name)s has been saved.", name=saved.name), "success")
            return redirect(url_for("catalogue.detail", item_id=saved.id))
        return _render_item_form(form, _item_or_404(item_id), status or 422)
    return _render_item_form(form, item, 422 if form.is_submitted() else 200)


@catalogue_bp.route(f"/<{ID}:item_id>/photo")
@staff_required
def photo(item_id: int):
    item = _item_or_404(item_id)
    found = uploads.stored_photo(item.photo)
    if found is None:
        abort(404)
    path, mimetype = found
    return send_file(path, mimetype=mimetype, max_age=0, etag=True)


# ---------------------------------------------------------------- stock: schools and on-hand


@bp.route("/")
@staff_required
def index():
    """School users go to their school's stock; admins and leads pick a school in scope."""
    if current_user.is_school_user:
        return redirect(url_for("inventory.school_stock", school_id=current_user.school_id))
    page = db.paginate(
        queries.schools_statement(current_user),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return _render(
        "inventory/index.html",
        page=page,
        summaries=queries.stock_summaries(list(page.items)),
    )


@bp.route(f"/schools/<{ID}:school_id>")
@staff_required
def school_stock(school_id: int):
    school = _school_or_404(school_id)
    form = StockFilterForm(formdata=request.args)
    page = expiry = None
    cutoff = queries.expiry_cutoff()
    if form.validate():
        stmt = queries.on_hand_statement(
            school.id,
            q=form.q.data,
            category=form.category.data or None,
            show=form.show.data or None,
            cutoff=cutoff,
        )
        page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
        expiry = queries.expiry_for(school.id, [row.item_id for row in page.items], cutoff)
    filtered = any(request.args.get(name) for name in ("q", "category", "show"))
    return _render(
        "inventory/stock.html",
        200 if page is not None else 400,
        school=school,
        form=form,
        page=page,
        expiry=expiry or {},
        today=local_today(),
        cutoff=cutoff,
        filtered=filtered,
        manages=_manages(school),
        sees_management=_sees_management(),
        tab="stock",
        crumbs=_crumbs(school),
    )


# ---------------------------------------------------------------- one item at one school


def _lot_choices(lots) -> list[SelectChoice]:
    choices = [SelectChoice("", _("Any batch (earliest expiry first)"))]
    for lot in lots:
        if lot.expiry_date:
            label = _(
                "Batch #%(id)d · %(left)d left · expires %(date)s",
                id=lot.id,
                left=lot.remaining,
                date=lot.expiry_date.isoformat(),
            )
        else:
            label = _(
                "Batch #%(id)d · %(left)d left · no expiry date", id=lot.id, left=lot.remaining
            )
        choices.append(SelectChoice(str(lot.id), label))
    return choices


def _render_item_stock(
    school: School,
    item: Item,
    status: int = 200,
    *,
    reorder_form: ReorderLevelForm | None = None,
    adjust_form: AdjustForm | None = None,
    write_off_form: WriteOffForm | None = None,
):
    level = queries.stock_level(school.id, item.id)
    lots = queries.open_lots(school.id, item.id)
    history = db.paginate(
        queries.history_statement(school.id, item.id),
        page=page_number(),
        per_page=HISTORY_PER_PAGE,
        error_out=False,
    )
    receipts = queries.receipts_of_lines(
        [m.receipt_line_id for m in history.items if m.receipt_line_id]
    )
    manages = _manages(school)
    if reorder_form is None:
        reorder_form = ReorderLevelForm(
            formdata=None, level=level.reorder_level if level is not None else None
        )
    adjust_form = adjust_form or AdjustForm(formdata=None)
    write_off_form = write_off_form or WriteOffForm(formdata=None)
    write_off_form.lot_id.choices = _lot_choices(lots)
    open_forms = {
        name
        for name, form in (
            ("reorder", reorder_form),
            ("adjust", adjust_form),
            ("write_off", write_off_form),
        )
        if form.errors or getattr(form, "form_errors", None)
    }
    return _render(
        "inventory/item_stock.html",
        status,
        school=school,
        item=item,
        level=level,
        lots=lots,
        history=history,
        receipt_urls={
            line_id: _receipt_url(receipt_id) for line_id, receipt_id in receipts.items()
        },
        receipts=receipts,
        manages=manages,
        reorder_form=reorder_form,
        adjust_form=adjust_form,
        write_off_form=write_off_form,
        open_forms=open_forms,
        today=local_today(),
        cutoff=queries.expiry_cutoff(),
        tab="stock",
        crumbs=_crumbs(school, (item.name, None)),
    )


def _school_and_item(school_id: int, item_id: int) -> tuple[School, Item]:
    return _school_or_404(school_id), _item_or_404(item_id)


@bp.route(f"/schools/<{ID}:school_id>/items/<{ID}:item_id>")
@roles_required(*OFFICER_AND_ABOVE)
def item_stock(school_id: int, item_id: int):
    school, item = _school_and_item(school_id, item_id)
    return _render_item_stock(school, item)


def _item_url(school: School, item: Item, anchor: str | None = None) -> str:
    return url_for("inventory.item_stock", school_id=school.id, item_id=item.id, _anchor=anchor)


@bp.route(f"/schools/<{ID}:school_id>/items/<{ID}:item_id>/reorder-level", methods=["POST"])
@roles_required(OFFICER)
def set_reorder_level(school_id: int, item_id: int):
    school, item = _school_and_item(school_id, item_id)
    _may_manage_or_403(school)
    form = ReorderLevelForm()
    if not form.validate_on_submit():
        return _render_item_stock(school, item, 422, reorder_form=form)
    status = _run(
        form,
        lambda: operations.set_reorder_level(school.id, item.id, form.level.data),
        default_field="level",
    )
    if status:
        return _render_item_stock(school, item, status, reorder_form=form)
    if form.level.data is None:
        flash(_("%(item)s has no low-stock level now.", item=item.name), "success")
    else:
        flash(
            _(
                "%(item)s is marked low below %(level)d.",
                item=item.name,
                level=form.level.data,
            ),
            "success",
        )
    return redirect(_item_url(school, item))


@bp.route(f"/schools/<{ID}:school_id>/items/<{ID}:item_id>/adjust", methods=["POST"])
@roles_required(OFFICER)
def adjust(school_id: int, item_id: int):
    school, item = _school_and_item(school_id, item_id)
    _may_manage_or_403(school)
    form = AdjustForm()
    if not form.validate_on_submit():
        return _render_item_stock(school, item, 422, adjust_form=form)
    delta = form.quantity.data if form.direction.data == "add" else -form.quantity.data
    status = _run(
        form,
        lambda: operations.adjust_stock(
            school.id, item.id, delta, reason=form.reason.data or "", user_id=current_user.id
        ),
        default_field="quantity",
    )
    if status:
        return _render_item_stock(school, item, status, adjust_form=form)
    flash(_("The adjustment of %(item)s has been recorded.", item=item.name), "success")
    return redirect(_item_url(school, item, "history"))


@bp.route(f"/schools/<{ID}:school_id>/items/<{ID}:item_id>/write-off", methods=["POST"])
@roles_required(OFFICER)
def write_off(school_id: int, item_id: int):
    school, item = _school_and_item(school_id, item_id)
    _may_manage_or_403(school)
    form = WriteOffForm()
    form.lot_id.choices = _lot_choices(queries.open_lots(school.id, item.id))
    if not form.validate_on_submit():
        return _render_item_stock(school, item, 422, write_off_form=form)
    cause = str(WRITE_OFF_CAUSES[form.cause.data])
    reason = (
        _("%(cause)s: %(details)s", cause=cause, details=form.reason.data)
        if form.reason.data
        else cause
    )
    status = _run(
        form,
        lambda: operations.write_off(
            school.id,
            item.id,
            form.quantity.data,
            reason=reason,
            user_id=current_user.id,
            lot_id=form.lot_id.data,
        ),
        default_field="quantity",
    )
    if status:
        return _render_item_stock(school, item, status, write_off_form=form)
    flash(
        _(
            "%(n)d %(unit)s of %(item)s written off.",
            n=form.quantity.data,
            unit=item.unit,
            item=item.name,
        ),
        "success",
    )
    return redirect(_item_url(school, item, "history"))


# ---------------------------------------------------------------- the needs list (需求清单)


def _render_needs(
    school: School,
    status: int = 200,
    *,
    need_form: NeedForm | None = None,
    edit_errors: dict[int, NeedEditForm] | None = None,
):
    manages = _manages(school)
    rows = queries.needs_of_school(school.id)
    listed = {r.need.item_id for r in rows}
    if need_form is None:
        need_form = NeedForm(formdata=None)
    need_form.item_id.choices = options(
        [("", _("— choose an item —"))]
        + [
            (i.id, f"{i.name} ({CATEGORY_LABELS[i.category]})")
            for i in queries.active_items(school.district_id)
            if i.id not in listed
        ]
    )
    return _render(
        "inventory/needs.html",
        status,
        school=school,
        rows=rows,
        suggestions=queries.need_suggestions(school.id) if manages else [],
        need_form=need_form,
        edit_errors=edit_errors or {},
        manages=manages,
        sees_management=True,
        tab="needs",
        crumbs=_crumbs(school, (_("Needs list"), None)),
    )


@bp.route(f"/schools/<{ID}:school_id>/needs")
@roles_required(*OFFICER_AND_ABOVE)
def needs(school_id: int):
    return _render_needs(_school_or_404(school_id))


@bp.route(f"/schools/<{ID}:school_id>/needs", methods=["POST"])
@roles_required(OFFICER)
def add_need(school_id: int):
    school = _school_or_404(school_id)
    _may_manage_or_403(school)
    form = NeedForm()
    form.item_id.choices = []  # checked by set_need: an active item of the district
    if not form.validate_on_submit():
        return _render_needs(school, 422, need_form=form)
    status = _run(
        form,
        lambda: needs_ops.set_need(
            school_id=school.id,
            item_id=form.item_id.data,
            target_quantity=form.target_quantity.data,
            note=form.note.data,
        ),
        default_field="item_id",
    )
    if status:
        return _render_needs(school, status, need_form=form)
    flash(_("The needs list has been updated."), "success")
    return redirect(url_for("inventory.needs", school_id=school.id))


def _need_or_404(need_id: int) -> tuple[SchoolNeed, School]:
    need = get_scoped_or_404(SchoolNeed, need_id, current_user)
    school = _school_or_404(need.school_id)
    _may_manage_or_403(school)
    return need, school


@bp.route(f"/needs/<{ID}:need_id>/edit", methods=["POST"])
@roles_required(OFFICER)
def edit_need(need_id: int):
    need, school = _need_or_404(need_id)
    form = NeedEditForm()
    if not form.validate_on_submit() or not need.active:
        if not need.active:
            form.form_errors.append(_("This item is no longer on the needs list."))
        return _render_needs(school, 422, edit_errors={need.id: form})
    status = _run(
        form,
        lambda: needs_ops.set_need(
            school_id=school.id,
            item_id=need.item_id,
            target_quantity=form.target_quantity.data,
            note=form.note.data,
        ),
        default_field="target_quantity",
    )
    if status:
        return _render_needs(school, status, edit_errors={need_id: form})
    flash(_("The needs list has been updated."), "success")
    return redirect(url_for("inventory.needs", school_id=school.id, _anchor=f"need-{need_id}"))


@bp.route(f"/needs/<{ID}:need_id>/remove", methods=["POST"])
@roles_required(OFFICER)
def remove_need(need_id: int):
    need, school = _need_or_404(need_id)
    name = need.item.name
    needs_ops.remove_need(need)
    db.session.commit()
    flash(_("%(item)s is off the needs list.", item=name), "success")
    return redirect(url_for("inventory.needs", school_id=school.id))


# ---------------------------------------------------------------- stocktakes (盘点)


@bp.route(f"/schools/<{ID}:school_id>/stocktakes")
@roles_required(*OFFICER_AND_ABOVE)
def stocktakes(school_id: int):
    school = _school_or_404(school_id)
    page = db.paginate(
        queries.stocktakes_statement(school.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    ids = [s.id for s in page.items]
    return _render(
        "inventory/stocktakes.html",
        school=school,
        page=page,
        stats=queries.stocktake_stats(ids),
        people=queries.users_by_id(
            {s.created_by_id for s in page.items} | {s.finalised_by_id for s in page.items}
        ),
        open_one=queries.open_stocktake(school.id),
        manages=_manages(school),
        sees_management=True,
        tab="stocktakes",
        crumbs=_crumbs(school, (_("Stocktakes"), None)),
    )


def _stocktake_choices(school: School) -> tuple[list, list]:
    """(stocked rows, other active catalogue items) a count may include."""
    stocked = queries.stocked_items(school.id)
    have = {row.item_id for row in stocked}
    others = [i for i in queries.active_items(school.district_id) if i.id not in have]
    return stocked, others


@bp.route(f"/schools/<{ID}:school_id>/stocktakes/new", methods=["GET", "POST"])
@roles_required(OFFICER)
def start_stocktake(school_id: int):
    school = _school_or_404(school_id)
    _may_manage_or_403(school)
    stocked, others = _stocktake_choices(school)
    form = StocktakeStartForm()
    status = 200
    if form.validate_on_submit():
        allowed = {row.item_id for row in stocked} | {i.id for i in others}
        chosen = None
        if form.scope.data == "chosen":
            chosen = list(form.item_ids.data or [])
            if not set(chosen) <= allowed:
                form.item_ids.errors = [_("Choose items of the catalogue.")]
        if not form.item_ids.errors:
            created: list[Stocktake] = []
            status = _run(
                form,
                lambda: created.append(
                    operations.start_stocktake(
                        school.id, item_ids=chosen, user_id=current_user.id, note=form.note.data
                    )
                ),
                default_field="item_ids",
            )
            if status is None:
                flash(
                    _("The stocktake has started. Print the count sheet or enter counts here."),
                    "success",
                )
                return redirect(url_for("inventory.stocktake", stocktake_id=created[0].id))
        else:
            status = 422
    elif form.is_submitted():
        status = 422
    return _render(
        "inventory/stocktake_new.html",
        status,
        school=school,
        form=form,
        stocked=stocked,
        others=others,
        chosen=set(form.item_ids.data or []),
        open_one=queries.open_stocktake(school.id),
        tab="stocktakes",
        crumbs=_crumbs(
            school,
            (_("Stocktakes"), url_for("inventory.stocktakes", school_id=school.id)),
            (_("New stocktake"), None),
        ),
    )


def _stocktake_or_404(stocktake_id: int) -> tuple[Stocktake, School]:
    stocktake = get_scoped_or_404(Stocktake, stocktake_id, current_user)
    return stocktake, _school_or_404(stocktake.school_id)


def _render_stocktake(
    stocktake: Stocktake,
    school: School,
    status: int = 200,
    *,
    errors: dict[int, str] | None = None,
    posted: dict[str, str] | None = None,
    message: str | None = None,
):
    lines = queries.stocktake_lines(stocktake)
    people = queries.users_by_id({stocktake.created_by_id, stocktake.finalised_by_id})
    return _render(
        "inventory/stocktake.html",
        status,
        school=school,
        stocktake=stocktake,
        lines=lines,
        on_hand=queries.on_hand_map(school.id, [ln.item_id for ln in lines])
        if stocktake.status == "open"
        else {},
        people=people,
        errors=errors or {},
        posted=posted,
        message=message,
        manages=_manages(school),
        sees_management=True,
        tab="stocktakes",
        crumbs=_crumbs(
            school,
            (_("Stocktakes"), url_for("inventory.stocktakes", school_id=school.id)),
            (_("Stocktake #%(id)d", id=stocktake.id), None),
        ),
    )


@bp.route(f"/stocktakes/<{ID}:stocktake_id>")
@roles_required(*OFFICER_AND_ABOVE)
def stocktake(stocktake_id: int):
    stocktake, school = _stocktake_or_404(stocktake_id)
    return _render_stocktake(stocktake, school)


@bp.route(f"/stocktakes/<{ID}:stocktake_id>/sheet")
@roles_required(*OFFICER_AND_ABOVE)
def count_sheet(stocktake_id: int):
    """The printable count sheet (A4, no navigation); expected quantities only on request."""
    stocktake, school = _stocktake_or_404(stocktake_id)
    return _render(
        "inventory/count_sheet.html",
        school=school,
        stocktake=stocktake,
        lines=queries.stocktake_lines(stocktake),
        with_expected=request.args.get("expected") == "1",
        printed_at=local_today(),
    )


def _posted_counts(stocktake: Stocktake, school: School):
    """Counts from the form; on a bad entry the page again (422) with nothing saved."""
    item_ids = [ln.item_id for ln in stocktake.lines]
    values, errors = parse_quantities(request.form, "count-", item_ids, minimum=0)
    if errors:
        message = _("Some counts are not valid; nothing was saved.")
        return None, _render_stocktake(
            stocktake, school, 422, errors=errors, posted=request.form.to_dict(), message=message
        )
    return values, None


def _stocktake_step(stocktake_id: int, action: Callable[[Stocktake, dict], object], done: str):
    stocktake, school = _stocktake_or_404(stocktake_id)
    _may_manage_or_403(school)
    values, refused = _posted_counts(stocktake, school)
    if refused is not None:
        return refused
    try:
        action(stocktake, values or {})
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        stocktake, school = _stocktake_or_404(stocktake_id)
        status = exc.status if exc.status in (409, 422) else 409
        return _render_stocktake(
            stocktake, school, status, posted=request.form.to_dict(), message=exc.message
        )
    flash(done, "success")
    return redirect(url_for("inventory.stocktake", stocktake_id=stocktake_id))


@bp.route(f"/stocktakes/<{ID}:stocktake_id>/counts", methods=["POST"])
@roles_required(OFFICER)
def save_counts(stocktake_id: int):
    return _stocktake_step(
        stocktake_id,
        lambda st, values: operations.record_counts(st, values),
        _("The counts have been saved. You can continue later."),
    )


@bp.route(f"/stocktakes/<{ID}:stocktake_id>/finalise", methods=["POST"])
@roles_required(OFFICER)
def finalise_stocktake(stocktake_id: int):
    def finalise(st: Stocktake, values: dict) -> None:
        if values:
            operations.record_counts(st, values)
        operations.finalise_stocktake(st, user_id=current_user.id)

    return _stocktake_step(
        stocktake_id,
        finalise,
        _("The stocktake is finalised: the counted items now show their counts."),
    )


@bp.route(f"/stocktakes/<{ID}:stocktake_id>/cancel", methods=["POST"])
@roles_required(OFFICER)
def cancel_stocktake(stocktake_id: int):
    stocktake, school = _stocktake_or_404(stocktake_id)
    _may_manage_or_403(school)
    try:
        operations.cancel_stocktake(stocktake, user_id=current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        stocktake, school = _stocktake_or_404(stocktake_id)
        return _render_stocktake(stocktake, school, 409, message=exc.message)
    flash(_("The stocktake has been cancelled; no stock changed."), "success")
    return redirect(url_for("inventory.stocktakes", school_id=school.id))


# ---------------------------------------------------------------- transfers (共同体互助调拨)


@bp.route("/transfers")
@roles_required(*OFFICER_AND_ABOVE)
def transfers():
    status = request.args.get("status") or None
    if status not in (None, *TRANSFER_STATUSES):
        status = None
    school = None
    school_arg = request.args.get("school")
    if school_arg:
        school = get_scoped_or_404(School, school_arg, current_user)
    stmt = queries.transfers_statement(
        current_user, status=status, school_id=school.id if school else None
    )
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    own = current_user.school if current_user.role == OFFICER else None
    return _render(
        "inventory/transfers.html",
        page=page,
        status_filter=status,
        school=school or own,
        statuses=TRANSFER_STATUSES,
        can_request=own is not None and own.alliance_id is not None,
        sees_management=True,
        tab="transfers",
        crumbs=_crumbs(school or own, (_("Transfers"), None)),
    )


@bp.route(f"/schools/<{ID}:school_id>/transfers/new", methods=["GET", "POST"])
@roles_required(OFFICER)
def request_transfer(school_id: int):
    school = _school_or_404(school_id)
    _may_manage_or_403(school)
    partners = queries.partner_schools(school)
    rows = queries.items_in_stock(school.id)
    form = TransferForm()
    form.to_school_id.choices = options(
        [("", _("— choose a school —")), *((s.id, s.name) for s in partners)]
    )
    errors: dict[int, str] = {}
    status = 200
    if form.is_submitted():
        valid = form.validate_on_submit()
        on_hand = {row.item_id: row.on_hand for row in rows}
        values, errors = parse_quantities(request.form, "qty-", list(on_hand), minimum=1)
        for item_id, quantity in values.items():
            if quantity and quantity > on_hand[item_id] and item_id not in errors:
                errors[item_id] = _("Only %(n)d on hand.", n=on_hand[item_id])
        lines = [operations.Line(i, q) for i, q in sorted(values.items()) if q]
        if valid and form.to_school_id.data not in {s.id for s in partners}:
            form.to_school_id.errors = [_("Choose a school of your alliance.")]
            valid = False
        if not lines and not errors:
            form.form_errors.append(_("Enter a quantity for at least one item."))
            valid = False
        status = 422
        if valid and not errors:
            created: list[StockTransfer] = []
            refused = _run(
                form,
                lambda: created.append(
                    operations.request_transfer(
                        from_school_id=school.id,
                        to_school_id=form.to_school_id.data,
                        lines=lines,
                        user_id=current_user.id,
                        note=form.note.data,
                    )
                ),
                default_field="to_school_id",
            )
            if refused is None:
                flash(
                    _("The transfer has been requested. The alliance lead will approve it."),
                    "success",
                )
                return redirect(url_for("inventory.transfer", transfer_id=created[0].id))
            status = refused
    return _render(
        "inventory/transfer_new.html",
        status,
        school=school,
        form=form,
        rows=rows,
        partners=partners,
        errors=errors,
        posted=request.form if form.is_submitted() else {},
        sees_management=True,
        tab="transfers",
        crumbs=_crumbs(
            school,
            (_("Transfers"), url_for("inventory.transfers", school=school.id)),
            (_("New transfer"), None),
        ),
    )


def _transfer_or_404(transfer_id: int) -> StockTransfer:
    transfer = queries.transfer_in_scope(transfer_id, current_user)
    if transfer is None:
        abort(404)
    return transfer


def _render_transfer(
    transfer: StockTransfer,
    status: int = 200,
    *,
    decision_form: DecisionForm | None = None,
    message: str | None = None,
):
    may_decide = transfer.status == "requested" and queries.may_decide(transfer, current_user)
    may_cancel = (
        transfer.status == "requested"
        and current_user.role == OFFICER
        and current_user.school_id == transfer.from_school_id
    )
    people = queries.users_by_id({transfer.requested_by_id, transfer.decided_by_id})
    sending = transfer.from_school
    return _render(
        "inventory/transfer.html",
        status,
        transfer=transfer,
        on_hand=queries.on_hand_map(sending.id, [ln.item_id for ln in transfer.lines])
        if transfer.status == "requested"
        else {},
        people=people,
        decision_form=decision_form or DecisionForm(formdata=None),
        may_decide=may_decide,
        may_cancel=may_cancel,
        message=message,
        crumbs=[
            *(
                [(_("Stock"), url_for("inventory.index"))]
                if current_user.role in (ADMIN, Role.ALLIANCE_LEAD)
                else []
            ),
            (_("Transfers"), url_for("inventory.transfers")),
            (_("Transfer #%(id)d", id=transfer.id), None),
        ],
    )


@bp.route(f"/transfers/<{ID}:transfer_id>")
@roles_required(*OFFICER_AND_ABOVE)
def transfer(transfer_id: int):
    return _render_transfer(_transfer_or_404(transfer_id))


def _decide(transfer_id: int, action: Callable[[StockTransfer, str | None], object], done: str):
    transfer = _transfer_or_404(transfer_id)
    if not queries.may_decide(transfer, current_user):
        abort(403)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_transfer(transfer, 422, decision_form=form)
    try:
        action(transfer, form.note.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        status = exc.status if exc.status in (409, 422) else 409
        return _render_transfer(
            _transfer_or_404(transfer_id), status, decision_form=form, message=exc.message
        )
    flash(done, "success")
    return redirect(url_for("inventory.transfer", transfer_id=transfer_id))


@bp.route(f"/transfers/<{ID}:transfer_id>/approve", methods=["POST"])
@roles_required(*DECIDERS)
def approve_transfer(transfer_id: int):
    return _decide(
        transfer_id,
        lambda t, note: operations.approve_transfer(t, user_id=current_user.id, note=note),
        _("The transfer is approved: the goods have moved to the receiving school."),
    )


@bp.route(f"/transfers/<{ID}:transfer_id>/reject", methods=["POST"])
@roles_required(*DECIDERS)
def reject_transfer(transfer_id: int):
    return _decide(
        transfer_id,
        lambda t, note: operations.reject_transfer(t, user_id=current_user.id, note=note),
        _("The transfer has been rejected."),
    )


@bp.route(f"/transfers/<{ID}:transfer_id>/cancel", methods=["POST"])
@roles_required(OFFICER)
def cancel_transfer(transfer_id: int):
    transfer = _transfer_or_404(transfer_id)
    if current_user.school_id != transfer.from_school_id:
        abort(403)
    try:
        operations.cancel_transfer(transfer, user_id=current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _render_transfer(_transfer_or_404(transfer_id), 409, message=exc.message)
    flash(_("The transfer has been cancelled."), "success")
    return redirect(url_for("inventory.transfer", transfer_id=transfer_id))
