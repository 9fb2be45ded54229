"""The aid pages (blueprint ``aid``, /aid): certification, grants and pairings.

Who reaches which page follows :mod:`app.registry.access` (its table is the rule):

* aid office — district admin (whole district, read; files 备案; manages programmes) and the
  school's aid officer (own school: every step of the school's side);
* head teacher — their classes' applications while in draft or class review (to fill them in
  and record the class review), nothing after; and, like every teacher, the pairings they help in;
* alliance lead — a page of numbers per school, no names;
* clerks — nothing here.

A role that may not see aid data gets **404** (not 403): to everyone outside the aid office these
pages do not exist, the same answer as for an object outside the scope. Every object is looked up
through the access filters, so a user of another school gets 404 too.

Viewing an aid page also confirms the notices whose 公示 window is over (``close_publicity``,
limited to the viewer's schools) — the CLI command ``flask registry close-publicity`` does the
same for everyone; both are idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

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
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.audit.operations import record_event
from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404, school_ids_in_scope
from app.common import DomainError, ValidationFailed, local_today, page_number
from app.database import write_intent
from app.extensions import db
from app.org.forms import options
from app.org.models import School, SchoolClass
from app.registry import aid_queries, certification, grants, pairing
from app.registry.access import (
    application_filter,
    can_export_personal_data,
    can_read_application,
    grants_filter,
    pairing_filter,
)
from app.registry.certification import (
    CATEGORY_LABELS,
    LEVEL_LABELS,
    STATUS_LABELS,
    ApplicationInput,
    current_school_year,
    school_year_label,
)
from app.registry.forms_aid import (
    ApplicationForm,
    BatchGrantForm,
    ClassReviewForm,
    DecisionForm,
    EndPairingForm,
    ExportForm,
    GrantForm,
    LevelChangeForm,
    ObjectionForm,
    PairingForm,
    PairingLogForm,
    ProgrammeForm,
    ResolveObjectionForm,
    parse_yuan,
)
from app.registry.grants import AID_MODE_LABELS, AMOUNT_KEYS, yuan
from app.registry.models import (
    APPLICATION_STATUSES,
    LEVELS,
    AidApplication,
    AidGrant,
    AidObjection,
    AidProgramme,
    Pairing,
    Student,
)
from app.registry.pairing import LOG_KIND_LABELS, PAIRING_KIND_LABELS

bp = Blueprint("aid", __name__, url_prefix="/aid")

DA, SO, AL, T = Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.ALLIANCE_LEAD, Role.TEACHER
ALL_ROLES = tuple(Role)


def aid_roles(*roles: Role) -> Callable[[Callable], Callable]:
    """Like ``roles_required``, but any other role gets 404: outside the aid office these
    pages do not exist (access.py: "—" means 404). The walk reads the allowed roles from the
    view's ``access`` record as usual."""
    allowed = frozenset(str(r) for r in roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def hidden(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                abort(404)
            return view(*args, **kwargs)

        wrapped = roles_required(*ALL_ROLES)(hidden)  # anonymous: the login page / 401
        wrapped.access = allowed  # type: ignore[attr-defined]
        return wrapped

    return decorator


@bp.before_request
def _confirm_ended_notices() -> None:
    """Lazily confirm the viewer's schools' notices whose window has ended (idempotent)."""
    if not current_user.is_authenticated or current_user.role not in (DA, SO, AL):
        return
    today = local_today()
    if not certification.publicity_due(today, school_ids_in_scope(current_user)):
        return
    db.session.commit()  # end the reading transaction: the write gets its own (SQLite)
    with write_intent(True):
        certification.close_publicity(today, school_ids=school_ids_in_scope(current_user))
        db.session.commit()


# ---------------------------------------------------------------- helpers


def _year() -> int:
    current = current_school_year()
    try:
        year = int(request.values.get("year", current))
    except (TypeError, ValueError):
        return current
    return year if 2000 <= year <= current + 1 else current


def _years(school_ids: list[int] | None = None) -> list[int]:
    current = current_school_year()
    years = set(aid_queries.years_with_data(school_ids)) | {current, current - 1}
    return sorted((y for y in years if y <= current + 1), reverse=True)


def _render(template: str, status: int = 200, **context: Any):
    return (
        render_template(
            template,
            LEVEL_LABELS=LEVEL_LABELS,
            STATUS_LABELS=STATUS_LABELS,
            CATEGORY_LABELS=CATEGORY_LABELS,
            AID_MODE_LABELS=AID_MODE_LABELS,
            PAIRING_KIND_LABELS=PAIRING_KIND_LABELS,
            LOG_KIND_LABELS=LOG_KIND_LABELS,
            LEVELS=LEVELS,
            yuan=yuan,
            school_year_label=school_year_label,
            is_admin=current_user.role == DA,
            is_officer=current_user.role == SO,
            **context,
        ),
        status,
    )


def _fail(form: Any, exc: DomainError) -> None:
    field = getattr(form, exc.field or "", None) if form is not None else None
    if field is None or not hasattr(field, "errors"):
        if form is not None:
            form.form_errors.append(exc.message)
        else:
            flash(exc.message, "danger")
    else:
        field.errors = [*field.errors, exc.message]


def _run(form: Any, action: Callable[[], object]) -> int | None:
    """Run an operation and commit; on a refusal roll back and return the status to answer."""
    try:
        action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc)
        return exc.status
    return None


def _school_or_404(school_id: int) -> School:
    return get_scoped_or_404(School, school_id, current_user)


def _application_or_404(application_id: int) -> AidApplication:
    application = db.session.scalar(
        select(AidApplication)
        .where(AidApplication.id == application_id, application_filter(current_user))
        .options(
            selectinload(AidApplication.student),
            selectinload(AidApplication.school),
            selectinload(AidApplication.school_class),
            selectinload(AidApplication.objections),
            selectinload(AidApplication.level_changes),
        )
    )
    if application is None:
        abort(404)
    return application


def _objection_or_404(objection_id: int) -> AidObjection:
    objection = db.session.scalar(
        select(AidObjection)
        .join(AidApplication, AidApplication.id == AidObjection.application_id)
        .where(AidObjection.id == objection_id, application_filter(current_user))
    )
    if objection is None:
        abort(404)
    return objection


def _grant_or_404(grant_id: int) -> AidGrant:
    grant = db.session.scalar(
        select(AidGrant).where(AidGrant.id == grant_id, grants_filter(current_user))
    )
    if grant is None:
        abort(404)
    return grant


def _pairing_or_404(pairing_id: int) -> Pairing:
    found = db.session.scalar(
        select(Pairing)
        .where(Pairing.id == pairing_id, pairing_filter(current_user))
        .options(selectinload(Pairing.student), selectinload(Pairing.logs))
    )
    if found is None:
        abort(404)
    return found


def _require_officer_of(school: School) -> None:
    """Writes of a school's aid work: its own officer only (others who can see it: 403)."""
    if not certification.is_officer_of(current_user, school.id):
        abort(403)


def _student_label(student: Student) -> str:
    if student.school_class is not None:
        return f"{student.school_class.name} · {student.name}"
    return student.name


def _attachment(data: bytes, filename: str, fmt: str) -> Response:
    mimetype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response = Response(data, mimetype=mimetype)
    from urllib.parse import quote

    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{filename}.{fmt}\"; filename*=UTF-8''{quote(filename)}.{fmt}"
    )
    return response


# ---------------------------------------------------------------- entry points


@bp.route("/")
@aid_roles(DA, SO, AL, T)
def index():
    if current_user.role == SO:
        return redirect(url_for("aid.school", school_id=current_user.school_id))
    if current_user.role == AL:
        return redirect(url_for("aid.counts"))
    if current_user.role == T:
        return redirect(url_for("aid.mine"))
    return redirect(url_for("aid.overview"))


@bp.route("/overview")
@aid_roles(DA)
def overview():
    year = _year()
    schools = aid_queries.schools_for(current_user)
    rows = aid_queries.school_counts(schools, year)
    return _render(
        "registry/aid/overview.html",
        year=year,
        years=_years([s.id for s in schools]),
        rows=rows,
        total=aid_queries.totals(rows),
        filing_count=len(aid_queries.filing_queue(current_user, year)),
        tab="overview",
    )


@bp.route("/counts")
@aid_roles(AL, DA)
def counts():
    """Numbers per school, no names (what an alliance lead may see of aid)."""
    year = _year()
    schools = aid_queries.schools_for(current_user)
    rows = aid_queries.school_counts(schools, year)
    return _render(
        "registry/aid/counts.html",
        year=year,
        years=_years([s.id for s in schools]),
        rows=rows,
        total=aid_queries.totals(rows),
        tab="counts",
    )


@bp.route("/mine")
@aid_roles(T)
def mine():
    """A teacher's aid work: their classes' applications to fill in or review, and the
    pairings they help in."""
    classes = aid_queries.head_teacher_classes(current_user)
    applications = aid_queries.class_applications(current_user)
    my_pairings = db.session.scalars(pairing.pairings_stmt(current_user)).all()
    return _render(
        "registry/aid/mine.html",
        classes=classes,
        applications=applications,
        pairings=my_pairings,
        helpers=pairing.helpers_of(list(my_pairings)),
        year=current_school_year(),
    )


# ---------------------------------------------------------------- a school's applications


@bp.route("/schools/<int(max=2147483647):school_id>")
@aid_roles(DA, SO)
def school(school_id: int):
    school = _school_or_404(school_id)
    year = _year()
    status = request.args.get("status") or None
    if status not in APPLICATION_STATUSES:
        status = None
    stmt = aid_queries.applications_stmt(
        current_user, school_id=school.id, school_year=year, status=status
    )
    page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    return _render(
        "registry/aid/school.html",
        school=school,
        year=year,
        years=_years([school.id]),
        status=status,
        counts=aid_queries.status_counts(school.id, year),
        page=page,
        export_form=ExportForm(formdata=None),
        can_copy=certification.is_officer_of(current_user, school.id)
        and year in (current_school_year(), current_school_year() + 1),
        tab="applications",
    )


def _student_choices(school: School, year: int, class_ids=None):
    students = aid_queries.students_without_application(school.id, year, class_ids)
    return options(
        [("", _("— choose a student —")), *((s.id, _student_label(s)) for s in students)]
    )


def _application_input(form: ApplicationForm) -> ApplicationInput:
    return ApplicationInput(
        categories=list(form.categories.data or []),
        situation=form.situation.data,
        written_pledge=bool(form.written_pledge.data),
        pledge_signed_on=form.pledge_signed_on.data,
    )


@bp.route("/schools/<int(max=2147483647):school_id>/applications/new", methods=["GET", "POST"])
@aid_roles(SO, T)
def new_application(school_id: int):
    """Fill in an application on the family's behalf (officer, or head teacher: own class)."""
    school = _school_or_404(school_id)
    class_ids = None
    if current_user.role == T:
        class_ids = [c.id for c in aid_queries.head_teacher_classes(current_user)]
        if not class_ids:
            abort(404)
    current = current_school_year()
    year = _year() if _year() in (current, current + 1) else current
    form = ApplicationForm()
    form.student_id.choices = _student_choices(school, year, class_ids)
    if form.validate_on_submit():
        created: list[AidApplication] = []

        def create() -> None:
            student = (
                db.session.get(Student, form.student_id.data) if form.student_id.data else None
            )
            if student is None or student.school_id != school.id:
                raise ValidationFailed(_("Choose a student of this school."), field="student_id")
            created.append(
                certification.create_application(
                    student, _application_input(form), user=current_user, school_year=year
                )
            )

        status = _run(form, create)
        if status is None:
            application = created[0]
            if request.form.get("then") == "submit":
                return _submit_and_redirect(application.id)
            flash(_("The application has been saved as a draft."), "success")
            return redirect(url_for("aid.application", application_id=application.id))
        return _render_application_form(form, school, None, year, status)
    if request.method == "GET":
        form.pledge_signed_on.data = local_today()
    return _render_application_form(
        form, school, None, year, 422 if request.method == "POST" else 200
    )


def _render_application_form(form, school, application, year, status=200):
    return _render(
        "registry/aid/application_form.html",
        status,
        form=form,
        school=school,
        application=application,
        year=year,
    )


def _submit_and_redirect(application_id: int):
    application = _application_or_404(application_id)
    try:
        certification.submit_application(application, user=current_user)
        db.session.commit()
        flash(_("The application has been handed to the class review."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(_("Saved as a draft, not handed on yet: %(why)s", why=exc.message), "warning")
    return redirect(url_for("aid.application", application_id=application_id))


@bp.route("/applications/<int(max=2147483647):application_id>")
@aid_roles(DA, SO, T)
def application(application_id: int):
    return _render_application(_application_or_404(application_id))


def _render_application(application: AidApplication, status: int = 200, **forms: Any):
    actions = certification.allowed_actions(current_user, application)
    today = local_today()
    defaults = {
        "review_form": ClassReviewForm(formdata=None),
        "decision_form": DecisionForm(formdata=None, outcome=application.recommended_level),
        "objection_form": ObjectionForm(formdata=None, received_on=today),
        "resolve_form": ResolveObjectionForm(formdata=None),
        "level_form": LevelChangeForm(formdata=None),
        "failed_objection_id": None,
    }
    defaults.update(forms)
    in_office = current_user.role in (DA, SO)
    return _render(
        "registry/aid/application.html",
        status,
        application=application,
        student=application.student,
        actions=actions,
        history=_history(application),
        other_years=aid_queries.other_years(application, current_user) if in_office else [],
        users=_user_names(application),
        today=today,
        **defaults,
    )


def _user_names(application: AidApplication) -> dict[int, str]:
    from app.auth.models import User

    ids = {
        application.created_by_id,
        application.class_reviewed_by_id,
        application.decided_by_id,
        application.filed_by_id,
        *(o.resolved_by_id for o in application.objections),
        *(c.changed_by_id for c in application.level_changes),
    } - {None}
    if not ids:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )


HISTORY_FIELDS = {
    "status": _l("Status"),
    "categories": _l("Special groups"),
    "situation": _l("The family's situation"),
    "written_pledge": _l("Written pledge"),
    "pledge_signed_on": _l("Pledge signed on"),
    "recommended_level": _l("Recommended level"),
    "class_review_note": _l("Note of the class review group"),
    "level": _l("Level"),
    "decision_note": _l("Decision note"),
    "publicity_start": _l("Notice from"),
    "publicity_end": _l("Notice until"),
    "content": _l("Objection"),
    "resolution": _l("Resolution"),
    "upheld": _l("Upheld"),
    "received_on": _l("Received on"),
    "reason": _l("Reason"),
    "old_level": _l("Old level"),
    "new_level": _l("New level"),
}
_SHOWN = set(HISTORY_FIELDS)


def _value(key: str, value: Any) -> str:
    from app.audit.operations import SECRET

    if value is None or value == "":
        return "—"
    if value == SECRET:
        return _("(changed)")
    if key == "status":
        return str(STATUS_LABELS.get(value, value))
    if key in ("level", "recommended_level", "old_level", "new_level"):
        return str(LEVEL_LABELS.get(value, value))
    if key == "categories" and isinstance(value, str) and value.startswith("["):
        import ast

        try:
            value = ast.literal_eval(value)  # the audit log keeps lists as their repr
        except (ValueError, SyntaxError):
            return value
    if key == "categories" and isinstance(value, list):
        return "、".join(str(CATEGORY_LABELS.get(c, c)) for c in value) or "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _history(application: AidApplication) -> list[dict]:
    """The audit log of the application, told in words: what happened, who, when."""
    out = []
    for entry in aid_queries.application_history(application):
        changes = entry.changes
        details = []
        for key, change in changes.items():
            if key not in _SHOWN or key == "status":
                continue
            if entry.kind == "create":
                details.append((HISTORY_FIELDS[key], _value(key, change)))
            else:
                old, new = change if isinstance(change, list) else (None, change)
                details.append((HISTORY_FIELDS[key], f"{_value(key, old)} → {_value(key, new)}"))
        actor = entry.actor
        if (
            entry.object_type == "aid_application"
            and entry.kind == "update"
            and set(changes) <= {"level"}
        ):
            continue  # the level change's own entry (with its reason) tells this
        if entry.object_type == "aid_application":
            if entry.kind == "create":
                title = _("Application started")
            elif "status" in changes:
                old, new = changes["status"]
                title = f"{_value('status', old)} → {_value('status', new)}"
                if new == "confirmed":
                    actor = _("automatically, when the notice period ended")
            else:
                title = _("Application changed")
        elif entry.object_type == "aid_objection":
            title = _("Objection recorded") if entry.kind == "create" else _("Objection resolved")
        else:
            title = _("Level changed")
        out.append({"at": entry.at, "actor": actor, "title": title, "details": details})
    return out


@bp.route("/applications/<int(max=2147483647):application_id>/edit", methods=["GET", "POST"])
@aid_roles(SO, T)
def edit_application(application_id: int):
    application = _application_or_404(application_id)
    if "edit" not in certification.allowed_actions(current_user, application):
        abort(403)
    form = ApplicationForm(obj=application) if request.method == "GET" else ApplicationForm()
    form.student_id.choices = []
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: certification.update_application(
                application, _application_input(form), user=current_user
            ),
        )
        if status is None:
            if request.form.get("then") == "submit":
                return _submit_and_redirect(application.id)
            flash(_("The draft has been saved."), "success")
            return redirect(url_for("aid.application", application_id=application.id))
        application = _application_or_404(application_id)
        return _render_application_form(
            form, application.school, application, application.school_year, status
        )
    return _render_application_form(
        form,
        application.school,
        application,
        application.school_year,
        422 if request.method == "POST" else 200,
    )


def _transition(application_id: int, action: Callable[[AidApplication], object], message: str):
    """A form-less step (submit, withdraw, file, copy): run it, then back to the page."""
    application = _application_or_404(application_id)
    try:
        result = action(application)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status in (403, 404):
            abort(exc.status)
        flash(exc.message, "danger")
        return redirect(url_for("aid.application", application_id=application_id))
    flash(message, "success")
    if isinstance(result, AidApplication):
        return redirect(url_for("aid.application", application_id=result.id))
    if not can_read_application(current_user, application):
        return redirect(url_for("aid.index"))  # e.g. a head teacher's withdrawn draft
    return redirect(url_for("aid.application", application_id=application_id))


@bp.route("/applications/<int(max=2147483647):application_id>/submit", methods=["POST"])
@aid_roles(SO, T)
def submit_application(application_id: int):
    _application_or_404(application_id)
    return _submit_and_redirect(application_id)


@bp.route("/applications/<int(max=2147483647):application_id>/withdraw", methods=["POST"])
@aid_roles(SO, T)
def withdraw_application(application_id: int):
    return _transition(
        application_id,
        lambda a: certification.withdraw_application(a, user=current_user),
        _("The draft has been withdrawn."),
    )


def _after_teacher_step(application: AidApplication):
    """A head teacher no longer sees the application once it left class review."""
    if current_user.role == T:
        return redirect(url_for("aid.mine"))
    return redirect(url_for("aid.application", application_id=application.id))


@bp.route("/applications/<int(max=2147483647):application_id>/class-review", methods=["POST"])
@aid_roles(SO, T)
def class_review(application_id: int):
    application = _application_or_404(application_id)
    form = ClassReviewForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: certification.class_review(
                application,
                user=current_user,
                recommended_level=form.recommended_level.data,
                note=form.note.data,
            ),
        )
        if status is None:
            flash(_("The class review has been recorded."), "success")
            return _after_teacher_step(application)
        if status == 403:
            abort(403)
        application = _application_or_404(application_id)
    else:
        status = 422
    return _render_application(application, status, review_form=form)


@bp.route("/applications/<int(max=2147483647):application_id>/decide", methods=["POST"])
@aid_roles(SO)
def decide(application_id: int):
    application = _application_or_404(application_id)
    form = DecisionForm()
    if form.validate_on_submit():
        outcome = form.outcome.data
        status = _run(
            form,
            lambda: certification.decide(
                application,
                user=current_user,
                level=None if outcome == "reject" else outcome,
                note=form.note.data,
            ),
        )
        if status is None:
            if outcome == "reject":
                flash(_("The school decided: not certified."), "success")
            else:
                flash(
                    _(
                        "The school's decision is recorded; the public notice runs "
                        "from %(start)s to %(end)s.",
                        start=_fmt(application.publicity_start),
                        end=_fmt(application.publicity_end),
                    ),
                    "success",
                )
            return redirect(url_for("aid.application", application_id=application.id))
        if status == 403:
            abort(403)
        application = _application_or_404(application_id)
    else:
        status = 422
    return _render_application(application, status, decision_form=form)


def _fmt(day: date | None) -> str:
    from flask_babel import format_date

    return format_date(day, "medium") if day else ""


@bp.route("/applications/<int(max=2147483647):application_id>/objections", methods=["POST"])
@aid_roles(SO)
def record_objection(application_id: int):
    application = _application_or_404(application_id)
    form = ObjectionForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: certification.record_objection(
                application,
                user=current_user,
                content=form.content.data,
                received_on=form.received_on.data,
            ),
        )
        if status is None:
            flash(
                _("The objection is recorded. The notice is not confirmed while it is open."),
                "success",
            )
            return redirect(url_for("aid.application", application_id=application.id))
        if status == 403:
            abort(403)
        application = _application_or_404(application_id)
    else:
        status = 422
    return _render_application(application, status, objection_form=form)


@bp.route("/objections/<int(max=2147483647):objection_id>/resolve", methods=["POST"])
@aid_roles(SO)
def resolve_objection(objection_id: int):
    objection = _objection_or_404(objection_id)
    application_id = objection.application_id
    form = ResolveObjectionForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: certification.resolve_objection(
                objection,
                user=current_user,
                upheld=form.upheld.data == "yes",
                resolution=form.resolution.data,
            ),
        )
        if status is None:
            flash(_("The objection is resolved."), "success")
            return redirect(url_for("aid.application", application_id=application_id))
        if status == 403:
            abort(403)
    else:
        status = 422
    return _render_application(
        _application_or_404(application_id),
        status,
        resolve_form=form,
        failed_objection_id=objection_id,
    )


@bp.route("/applications/<int(max=2147483647):application_id>/level", methods=["POST"])
@aid_roles(SO)
def change_level(application_id: int):
    application = _application_or_404(application_id)
    form = LevelChangeForm()
    if form.validate_on_submit():
        new_level = None if form.new_level.data == "revoke" else form.new_level.data
        status = _run(
            form,
            lambda: certification.change_level(
                application, user=current_user, new_level=new_level, reason=form.reason.data
            ),
        )
        if status is None:
            flash(_("The level has been changed."), "success")
            return redirect(url_for("aid.application", application_id=application.id))
        if status == 403:
            abort(403)
        application = _application_or_404(application_id)
    else:
        status = 422
    return _render_application(application, status, level_form=form)


@bp.route("/applications/<int(max=2147483647):application_id>/file", methods=["POST"])
@aid_roles(DA)
def file_application(application_id: int):
    return _transition(
        application_id,
        lambda a: certification.file_applications([a], user=current_user),
        _("The certification has been filed with the district."),
    )


@bp.route("/applications/<int(max=2147483647):application_id>/copy", methods=["POST"])
@aid_roles(SO)
def copy_application(application_id: int):
    def copy(application: AidApplication) -> AidApplication:
        return certification.copy_last_year(
            application.student, user=current_user, school_year=application.school_year + 1
        )

    return _transition(
        application_id,
        copy,
        _("A draft for the new school year has been started from last year's certification."),
    )


@bp.route("/schools/<int(max=2147483647):school_id>/copy-last-year", methods=["POST"])
@aid_roles(SO)
def copy_last_year(school_id: int):
    school = _school_or_404(school_id)
    _require_officer_of(school)
    year = _year()
    try:
        made = certification.copy_last_year_all(school, user=current_user, school_year=year)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("aid.school", school_id=school.id, year=year))
    if made:
        flash(
            _(
                "%(num)d drafts were started from last year's certifications. Each family signs "
                "the written pledge again.",
                num=made,
            ),
            "success",
        )
    else:
        flash(_("Every student certified last year already has an application."), "info")
    return redirect(url_for("aid.school", school_id=school.id, year=year, status="draft"))


@bp.route("/schools/<int(max=2147483647):school_id>/applications/export", methods=["POST"])
@aid_roles(DA, SO)
def export_applications(school_id: int):
    school = _school_or_404(school_id)
    if not can_export_personal_data(current_user):
        abort(404)
    form = ExportForm()
    year = _year()
    fmt = form.format.data if form.validate_on_submit() else "xlsx"
    applications = db.session.scalars(
        aid_queries.applications_stmt(current_user, school_id=school.id, school_year=year)
    ).all()
    columns = [
        _("Class"),
        _("Student"),
        _("Status"),
        _("Level"),
        _("Special groups"),
        _("Notice from"),
        _("Notice until"),
    ]
    rows = [
        [
            a.school_class.name if a.school_class else "",
            a.student.name,
            str(STATUS_LABELS[a.status]),
            str(LEVEL_LABELS[a.level]) if a.level else "",
            "、".join(str(CATEGORY_LABELS.get(c, c)) for c in a.categories or []),
            a.publicity_start,
            a.publicity_end,
        ]
        for a in applications
    ]
    data = grants.write_table(columns, rows, fmt, _("Certifications"))
    record_event(
        "export",
        "aid_application",
        changes={"school_id": school.id, "school_year": year, "format": fmt, "rows": len(rows)},
        school_id=school.id,
        district_id=school.district_id,
    )
    db.session.commit()
    name = f"{school.name}-{_('Certifications')}-{year}"
    return _attachment(data, name, fmt)


# ---------------------------------------------------------------- district filing


@bp.route("/filing", methods=["GET", "POST"])
@aid_roles(DA)
def filing():
    year = _year()
    if request.method == "POST":
        try:
            ids = [int(v) for v in request.form.getlist("ids")][:5000]
        except ValueError:
            ids = []
        chosen = (
            db.session.scalars(
                select(AidApplication)
                .where(AidApplication.id.in_(ids), application_filter(current_user))
                .options(selectinload(AidApplication.school))
            ).all()
            if ids
            else []
        )
        try:
            filed = certification.file_applications(list(chosen), user=current_user)
            db.session.commit()
            flash(_("%(num)d certifications have been filed.", num=filed), "success")
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for("aid.filing", year=year))
    queue = aid_queries.filing_queue(current_user, year)
    schools = aid_queries.schools_for(current_user)
    return _render(
        "registry/aid/filing.html",
        year=year,
        years=_years([s.id for s in schools]),
        queue=queue,
        tab="filing",
    )


# ---------------------------------------------------------------- programmes


@bp.route("/programmes")
@aid_roles(DA, SO)
def programmes():
    items = grants.programmes_of(current_user.district_id)
    return _render(
        "registry/aid/programmes.html",
        programmes=items,
        amount_keys=AMOUNT_KEYS,
        tab="programmes",
        school=current_user.school if current_user.role == SO else None,
    )


def _programme_input(form: ProgrammeForm) -> grants.ProgrammeInput:
    return grants.ProgrammeInput(
        name=form.name.data,
        aid_mode=form.aid_mode.data,
        description=form.description.data,
        amounts_fen=form.amounts_fen(),
        active=bool(form.active.data),
    )


@bp.route("/programmes/new", methods=["GET", "POST"])
@aid_roles(DA)
def new_programme():
    form = ProgrammeForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: grants.create_programme(
                current_user.district_id, _programme_input(form), user=current_user
            ),
        )
        if status is None:
            flash(_("The programme %(name)s has been created.", name=form.name.data), "success")
            return redirect(url_for("aid.programmes"))
        return _render("registry/aid/programme_form.html", status, form=form, programme=None)
    return _render(
        "registry/aid/programme_form.html",
        422 if request.method == "POST" else 200,
        form=form,
        programme=None,
    )


@bp.route("/programmes/<int(max=2147483647):programme_id>/edit", methods=["GET", "POST"])
@aid_roles(DA)
def edit_programme(programme_id: int):
    programme = get_scoped_or_404(AidProgramme, programme_id, current_user)
    if request.method == "GET":
        form = ProgrammeForm(obj=programme)
        for key in AMOUNT_KEYS:
            fen = (programme.amounts_fen or {}).get(key)
            getattr(form, key).data = yuan(fen).replace(",", "") if fen else ""
    else:
        form = ProgrammeForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: grants.update_programme(programme, _programme_input(form), user=current_user),
        )
        if status is None:
            flash(_("The programme %(name)s has been saved.", name=programme.name), "success")
            return redirect(url_for("aid.programmes"))
        return _render("registry/aid/programme_form.html", status, form=form, programme=programme)
    return _render(
        "registry/aid/programme_form.html",
        422 if request.method == "POST" else 200,
        form=form,
        programme=programme,
    )


# ---------------------------------------------------------------- grants


@bp.route("/schools/<int(max=2147483647):school_id>/grants")
@aid_roles(DA, SO)
def school_grants(school_id: int):
    school = _school_or_404(school_id)
    year = _year()
    try:
        programme_id = int(request.args.get("programme_id") or 0) or None
    except ValueError:
        programme_id = None
    stmt = grants.grants_stmt(
        current_user, school_id=school.id, school_year=year, programme_id=programme_id
    )
    page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    by_programme = grants.totals_by_programme([school.id], year)
    return _render(
        "registry/aid/grants.html",
        school=school,
        year=year,
        years=_years([school.id]),
        page=page,
        by_programme=by_programme,
        total_fen=sum(t.amount_fen for _p, t in by_programme),
        total_count=sum(t.count for _p, t in by_programme),
        programme_id=programme_id,
        programmes=grants.programmes_of(school.district_id),
        export_form=ExportForm(formdata=None),
        can_record=certification.is_officer_of(current_user, school.id),
        tab="grants",
    )


def _programme_choices(district_id: int, current: int | None = None):
    items = [p for p in grants.programmes_of(district_id) if p.active or p.id == current]
    return items, options([("", _("— choose a programme —")), *((p.id, p.name) for p in items)])


def _year_choices(around: int | None = None):
    current = current_school_year()
    years = sorted({current, current - 1, *([around] if around else [])}, reverse=True)
    return options((y, school_year_label(y)) for y in years)


def _amount_hints(programmes: list[AidProgramme]) -> str:
    """Default amounts per programme and stage key, for static/js/aid.js to suggest."""
    return json.dumps({str(p.id): p.amounts_fen or {} for p in programmes})


def _stage_key(student: Student) -> str:
    stage = grants.student_stage(student)
    return f"{stage}_{'boarding' if student.boarding else 'day'}" if stage else ""


def _grant_input(form, amount_fen: int | None) -> grants.GrantInput:
    return grants.GrantInput(
        programme_id=form.programme_id.data,
        amount_fen=amount_fen,
        paid_on=form.paid_on.data,
        school_year=form.school_year.data,
        funding_source=form.funding_source.data,
        paid_by=form.paid_by.data,
        note=form.note.data,
    )


@bp.route("/schools/<int(max=2147483647):school_id>/grants/new", methods=["GET", "POST"])
@aid_roles(SO)
def new_grant(school_id: int):
    school = _school_or_404(school_id)
    _require_officer_of(school)
    form = GrantForm()
    students = db.session.scalars(
        select(Student)
        .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.school_id == school.id, Student.status == "enrolled")
        .options(selectinload(Student.school_class), selectinload(Student.school))
        .order_by(SchoolClass.grade, SchoolClass.number, Student.name, Student.id)
    ).all()
    certified = set(aid_queries.confirmed_levels(school.id, current_school_year()))
    form.student_id.choices = options(
        [
            ("", _("— choose a student —")),
            *((s.id, _student_label(s) + (" ★" if s.id in certified else "")) for s in students),
        ]
    )
    programmes, form.programme_id.choices = _programme_choices(school.district_id)
    form.school_year.choices = _year_choices()
    if request.method == "GET":
        form.paid_on.data = local_today()
        form.school_year.data = current_school_year()
        form.student_id.data = request.args.get("student_id", type=int)
    if form.validate_on_submit():
        amount = getattr(form.amount, "fen", None)

        def record() -> None:
            student = (
                db.session.get(Student, form.student_id.data) if form.student_id.data else None
            )
            fen = amount
            programme = (
                db.session.get(AidProgramme, form.programme_id.data)
                if form.programme_id.data
                else None
            )
            if fen is None and student is not None and programme is not None:
                fen = grants.default_amount(programme, student)
            grants.record_grant(
                school, form.student_id.data, _grant_input(form, fen), user=current_user
            )

        status = _run(form, record)
        if status is None:
            flash(_("The grant has been recorded."), "success")
            return redirect(
                url_for("aid.school_grants", school_id=school.id, year=form.school_year.data)
            )
    else:
        status = 422 if request.method == "POST" else 200
    return _render(
        "registry/aid/grant_form.html",
        status,
        form=form,
        school=school,
        grant=None,
        hints=_amount_hints(programmes),
        stage_keys={s.id: _stage_key(s) for s in students},
        tab="grants",
    )


@bp.route("/schools/<int(max=2147483647):school_id>/grants/batch", methods=["GET", "POST"])
@aid_roles(SO)
def batch_grants(school_id: int):
    """Record one programme's payment for many certified students at once."""
    school = _school_or_404(school_id)
    _require_officer_of(school)
    form = BatchGrantForm()
    programmes, form.programme_id.choices = _programme_choices(school.district_id)
    if request.method == "GET":
        form.programme_id.data = request.args.get("programme_id", type=int)
        form.school_year.data = _year()
        form.paid_on.data = local_today()
    form.school_year.choices = _year_choices(form.school_year.data)
    year = form.school_year.data or current_school_year()
    programme = next((p for p in programmes if p.id == form.programme_id.data), None)
    candidates = aid_queries.certified_students(school.id, year)
    already = set()
    if programme is not None:
        already = set(
            db.session.scalars(
                select(AidGrant.student_id).where(
                    AidGrant.school_id == school.id,
                    AidGrant.programme_id == programme.id,
                    AidGrant.school_year == year,
                )
            ).all()
        )
    row_errors: dict[int, str] = {}
    status = 200
    if request.method == "POST":
        chosen = []
        for value in request.form.getlist("student_ids"):
            try:
                chosen.append(int(value))
            except ValueError:
                continue
        entries = []
        for student_id in chosen[:2000]:
            raw = request.form.get(f"amount_{student_id}", "")
            try:
                entries.append((student_id, parse_yuan(raw)))
            except ValueError:
                row_errors[student_id] = _(
                    "Enter an amount in yuan, greater than 0, with at most two decimals."
                )
        if form.validate_on_submit() and not row_errors:
            try:
                made = grants.record_batch(
                    school, entries, _grant_input(form, None), user=current_user
                )
                db.session.commit()
                flash(_("%(num)d grants have been recorded.", num=len(made)), "success")
                return redirect(url_for("aid.school_grants", school_id=school.id, year=year))
            except DomainError as exc:
                db.session.rollback()
                if exc.field and exc.field.startswith("amount_"):
                    row_errors[int(exc.field.removeprefix("amount_"))] = exc.message
                else:
                    _fail(form, exc)
                status = exc.status
        else:
            status = 422
    rows = []
    for student, application in candidates:
        default = grants.default_amount(programme, student) if programme else None
        if request.method == "POST":
            checked = str(student.id) in request.form.getlist("student_ids")
            amount = request.form.get(f"amount_{student.id}", "")
        else:
            checked = programme is not None and student.id not in already
            amount = yuan(default).replace(",", "") if default else ""
        rows.append(
            {
                "student": student,
                "level": application.level,
                "checked": checked,
                "amount": amount,
                "already": student.id in already,
                "error": row_errors.get(student.id),
            }
        )
    return _render(
        "registry/aid/grant_batch.html",
        status,
        form=form,
        school=school,
        programme=programme,
        rows=rows,
        year=year,
        tab="grants",
    )


@bp.route("/grants/<int(max=2147483647):grant_id>/edit", methods=["GET", "POST"])
@aid_roles(SO)
def edit_grant(grant_id: int):
    grant = _grant_or_404(grant_id)
    school = db.session.get(School, grant.school_id)
    _require_officer_of(school)
    form = GrantForm(obj=grant) if request.method == "GET" else GrantForm()
    if request.method == "GET":
        form.amount.data = yuan(grant.amount_fen).replace(",", "")
    form.student_id.choices = options([(grant.student_id, _student_label(grant.student))])
    programmes, form.programme_id.choices = _programme_choices(
        school.district_id, grant.programme_id
    )
    form.school_year.choices = _year_choices(grant.school_year)
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: grants.update_grant(
                grant, _grant_input(form, getattr(form.amount, "fen", None)), user=current_user
            ),
        )
        if status is None:
            flash(_("The grant has been saved."), "success")
            return redirect(
                url_for("aid.school_grants", school_id=school.id, year=grant.school_year)
            )
    else:
        status = 422 if request.method == "POST" else 200
    return _render(
        "registry/aid/grant_form.html",
        status,
        form=form,
        school=school,
        grant=grant,
        hints=_amount_hints(programmes),
        stage_keys={},
        tab="grants",
    )


@bp.route("/grants/<int(max=2147483647):grant_id>/delete", methods=["POST"])
@aid_roles(SO)
def delete_grant(grant_id: int):
    grant = _grant_or_404(grant_id)
    school_id, year = grant.school_id, grant.school_year
    try:
        grants.delete_grant(grant, user=current_user)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        abort(exc.status if exc.status in (403, 404) else 409)
    flash(_("The grant has been deleted."), "success")
    return redirect(url_for("aid.school_grants", school_id=school_id, year=year))


def _export_grants(school_ids: list[int], name: str, *, school: School | None):
    form = ExportForm()
    year = _year()
    fmt = form.format.data if form.validate_on_submit() else "xlsx"
    rows_q = db.session.scalars(
        grants.grants_stmt(
            current_user, school_id=school.id if school else None, school_year=year
        ).where(AidGrant.school_id.in_(school_ids))
    ).all()
    schools = {s.id: s for s in db.session.scalars(select(School).where(School.id.in_(school_ids)))}
    rows = grants.export_rows(list(rows_q), schools)
    data = grants.write_table(grants.export_columns(), rows, fmt, _("Aid grants"))
    record_event(
        "export",
        "aid_grant",
        changes={
            "school_id": school.id if school else None,
            "school_year": year,
            "format": fmt,
            "rows": len(rows),
        },
        school_id=school.id if school else None,
        district_id=current_user.district_id,
    )
    db.session.commit()
    return _attachment(data, f"{name}-{_('Aid grants')}-{year}", fmt)


@bp.route("/schools/<int(max=2147483647):school_id>/grants/export", methods=["POST"])
@aid_roles(DA, SO)
def export_school_grants(school_id: int):
    school = _school_or_404(school_id)
    if not can_export_personal_data(current_user):
        abort(404)
    return _export_grants([school.id], school.name, school=school)


@bp.route("/grants/export", methods=["POST"])
@aid_roles(DA)
def export_district_grants():
    schools = aid_queries.schools_for(current_user)
    return _export_grants([s.id for s in schools], current_user.district.name, school=None)


@bp.route("/grants/totals")
@aid_roles(DA)
def grant_totals():
    year = _year()
    schools = aid_queries.schools_for(current_user)
    ids = [s.id for s in schools]
    by_programme = grants.totals_by_programme(ids, year)
    cells = grants.totals_by_school(ids, year)
    school_totals = {
        s.id: sum(t.amount_fen for (sid, _pid), t in cells.items() if sid == s.id) for s in schools
    }
    return _render(
        "registry/aid/grant_totals.html",
        year=year,
        years=_years(ids),
        schools=[s for s in schools if school_totals[s.id] or s.active],
        by_programme=by_programme,
        cells=cells,
        school_totals=school_totals,
        total_fen=sum(t.amount_fen for _p, t in by_programme),
        export_form=ExportForm(formdata=None),
        tab="grant_totals",
    )


# ---------------------------------------------------------------- pairings


@bp.route("/schools/<int(max=2147483647):school_id>/pairings")
@aid_roles(DA, SO)
def school_pairings(school_id: int):
    school = _school_or_404(school_id)
    state = request.args.get("state", "active")
    active = {"active": True, "ended": False}.get(state)
    stmt = pairing.pairings_stmt(current_user, school_id=school.id, active=active)
    page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    counts = dict(
        db.session.execute(
            select(Pairing.kind, func.count())
            .where(Pairing.school_id == school.id, Pairing.ended_on.is_(None))
            .group_by(Pairing.kind)
        ).all()
    )
    return _render(
        "registry/aid/pairings.html",
        school=school,
        page=page,
        state=state if active is not None else "all",
        helpers=pairing.helpers_of(list(page.items)),
        kind_counts=counts,
        log_counts=_log_counts([p.id for p in page.items]),
        can_manage=certification.is_officer_of(current_user, school.id),
        tab="pairings",
    )


def _log_counts(ids: list[int]) -> dict[int, int]:
    from app.registry.models import PairingLog

    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(PairingLog.pairing_id, func.count())
            .where(PairingLog.pairing_id.in_(ids))
            .group_by(PairingLog.pairing_id)
        ).all()
    )


def _pairing_choices(form: PairingForm, school: School) -> None:
    students = db.session.scalars(
        select(Student)
        .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.school_id == school.id, Student.status == "enrolled")
        .options(selectinload(Student.school_class))
        .order_by(SchoolClass.grade, SchoolClass.number, Student.name, Student.id)
    ).all()
    student_options = [(s.id, _student_label(s)) for s in students]
    form.student_id.choices = options([("", _("— choose a student —")), *student_options])
    form.helper_student_id.choices = options([("", "—"), *student_options])
    form.helper_user_id.choices = options(
        [("", "—"), *((u.id, u.display_name) for u in pairing.helper_teachers(school.id))]
    )


def _pairing_input(form: PairingForm) -> pairing.PairingInput:
    return pairing.PairingInput(
        kind=form.kind.data,
        student_id=form.student_id.data,
        started_on=form.started_on.data,
        helper_user_id=form.helper_user_id.data,
        helper_student_id=form.helper_student_id.data,
        helper_name=form.helper_name.data,
        note=form.note.data,
    )


@bp.route("/schools/<int(max=2147483647):school_id>/pairings/new", methods=["GET", "POST"])
@aid_roles(SO)
def new_pairing(school_id: int):
    school = _school_or_404(school_id)
    _require_officer_of(school)
    form = PairingForm()
    _pairing_choices(form, school)
    if request.method == "GET":
        form.started_on.data = local_today()
    if form.validate_on_submit():
        created: list[Pairing] = []
        status = _run(
            form,
            lambda: created.append(
                pairing.create_pairing(school, _pairing_input(form), user=current_user)
            ),
        )
        if status is None:
            flash(_("The pairing has been started."), "success")
            return redirect(url_for("aid.pairing_detail", pairing_id=created[0].id))
    else:
        status = 422 if request.method == "POST" else 200
    return _render(
        "registry/aid/pairing_form.html",
        status,
        form=form,
        school=school,
        item=None,
        tab="pairings",
    )


@bp.route("/pairings/<int(max=2147483647):pairing_id>/edit", methods=["GET", "POST"])
@aid_roles(SO)
def edit_pairing(pairing_id: int):
    item = _pairing_or_404(pairing_id)
    school = db.session.get(School, item.school_id)
    _require_officer_of(school)
    form = PairingForm(obj=item) if request.method == "GET" else PairingForm()
    _pairing_choices(form, school)
    if form.validate_on_submit():
        status = _run(
            form, lambda: pairing.update_pairing(item, _pairing_input(form), user=current_user)
        )
        if status is None:
            flash(_("The pairing has been saved."), "success")
            return redirect(url_for("aid.pairing_detail", pairing_id=item.id))
    else:
        status = 422 if request.method == "POST" else 200
    return _render(
        "registry/aid/pairing_form.html",
        status,
        form=form,
        school=school,
        item=item,
        tab="pairings",
    )


@bp.route("/pairings/<int(max=2147483647):pairing_id>")
@aid_roles(DA, SO, T)
def pairing_detail(pairing_id: int):
    return _render_pairing(_pairing_or_404(pairing_id))


def _render_pairing(item: Pairing, status: int = 200, log_form=None, end_form=None):
    from app.auth.models import User

    school = db.session.get(School, item.school_id)
    authors = {log.created_by_id for log in item.logs} - {None}
    names = (
        dict(
            db.session.execute(select(User.id, User.display_name).where(User.id.in_(authors))).all()
        )
        if authors
        else {}
    )
    return _render(
        "registry/aid/pairing.html",
        status,
        item=item,
        school=school,
        helper=pairing.helpers_of([item]).get(item.id, ""),
        log_form=log_form or PairingLogForm(formdata=None, happened_on=local_today()),
        end_form=end_form or EndPairingForm(formdata=None, ended_on=local_today()),
        can_log=pairing.may_log(current_user, item) and item.ended_on is None,
        can_manage=certification.is_officer_of(current_user, item.school_id),
        authors=names,
        tab="pairings",
    )


@bp.route("/pairings/<int(max=2147483647):pairing_id>/logs", methods=["POST"])
@aid_roles(SO, T)
def add_pairing_log(pairing_id: int):
    item = _pairing_or_404(pairing_id)
    form = PairingLogForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: pairing.add_log(
                item,
                user=current_user,
                happened_on=form.happened_on.data,
                kind=form.kind.data,
                content=form.content.data,
            ),
        )
        if status is None:
            flash(_("The visit or help has been logged."), "success")
            return redirect(url_for("aid.pairing_detail", pairing_id=item.id))
        if status == 403:
            abort(403)
        item = _pairing_or_404(pairing_id)
    else:
        status = 422
    return _render_pairing(item, status, log_form=form)


@bp.route("/pairings/<int(max=2147483647):pairing_id>/end", methods=["POST"])
@aid_roles(SO)
def end_pairing(pairing_id: int):
    item = _pairing_or_404(pairing_id)
    form = EndPairingForm()
    if form.validate_on_submit():
        status = _run(
            form, lambda: pairing.end_pairing(item, user=current_user, ended_on=form.ended_on.data)
        )
        if status is None:
            flash(_("The pairing has ended."), "success")
            return redirect(url_for("aid.pairing_detail", pairing_id=item.id))
        if status == 403:
            abort(403)
        item = _pairing_or_404(pairing_id)
    else:
        status = 422
    return _render_pairing(item, status, end_form=form)
