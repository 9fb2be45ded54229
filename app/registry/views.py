"""Roster pages (/students): every school's students, their moves, import and export.

Who may do what (the table in :mod:`app.registry.access`):

* **School aid officer** — their school's roster: add, edit, change class, move to another
  school of the district (the record then leaves their school, history and all), leave
  (毕业 / 转出 / 离校); reveal a masked number (audited); import and export (audited).
* **District admin** — picks a school of the district, then works as its officer.
* **Teacher** — their school's roster, read-only, numbers masked, no reveal.
* **Clerks and alliance leads** — no roster pages (403): the counter shows clerks what they
  need; alliance leads see counts elsewhere.

No aid status appears on these pages. Every student is looked up through the scope and
:func:`app.registry.access.roster_filter` (404 outside it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.common import DomainError, ValidationFailed, local_today, page_number
from app.database import read_only
from app.extensions import csrf, db
from app.org.forms import options
from app.org.models import School
from app.registry import access, exporting, importing, operations, photos, queries
from app.registry import validation as v
from app.registry.forms import (
    FLAG_LABELS,
    GENDER_LABELS,
    SENSITIVE_FIELDS,
    STATUS_LABELS,
    ChangeClassForm,
    ExportForm,
    LeaveForm,
    MoveForm,
    RosterFilterForm,
    StudentForm,
)
from app.registry.models import CARE_FLAGS, Student

bp = Blueprint("registry", __name__, url_prefix="/students")

ID = "int(max=2147483647)"
IMPORT_ID = "string(length=32)"
PER_PAGE = 50
ADMIN = Role.DISTRICT_ADMIN
ROSTER_ROLES = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.TEACHER)
OFFICE = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
SHOWN_PROBLEMS = 500
_IMPORT_BATCH = re.compile(r"[0-9a-f]{32}")
_UPLOAD_MARGIN = 64 * 1024  # the form's other fields around the file


# ---------------------------------------------------------------- helpers


def _labels() -> dict[str, Any]:
    return {
        "GENDER_LABELS": GENDER_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "FLAG_LABELS": FLAG_LABELS,
        "PROBLEM_KINDS": importing.PROBLEM_KINDS,
        "TARGETS": importing.TARGETS,
    }


def _render(template: str, status: int = 200, **context: Any):
    return render_template(template, **_labels(), **context), status


def _office() -> bool:
    return access.in_aid_office(current_user)


def _school_or_404(school_id: Any) -> School:
    return queries.roster_school_or_404(school_id, current_user)


def _student_or_404(student_id: Any) -> Student:
    return queries.student_or_404(student_id, current_user)


def _crumbs(school: School | None = None, *more: tuple[str, str | None]) -> list:
    crumbs: list[tuple[str, str | None]] = []
    if current_user.role == ADMIN:
        crumbs.append((_("Students"), url_for("registry.index")))
    if school is not None:
        crumbs.append((school.name, url_for("registry.roster", school_id=school.id)))
    crumbs.extend(more)
    return crumbs


def _fail(form: Any, exc: DomainError) -> None:
    """Show a refused operation's message on its field, or above the form."""
    target = getattr(form, exc.field or "", None)
    if target is None or not hasattr(target, "errors"):
        form.form_errors.append(exc.message)
    else:
        target.errors = [*target.errors, exc.message]


def _run(form: Any, action: Callable[[], object]) -> int | None:
    """Run an operation and commit; on a refusal roll back and return the status to answer."""
    try:
        action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc)
        return exc.status if exc.status in (409, 422) else 409
    except IntegrityError:
        db.session.rollback()
        _fail(
            form,
            ValidationFailed(_("Someone else changed this at the same time. Please try again.")),
        )
        return 422
    return None


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def mask_address(value: str | None) -> str:
    """郑州市二七区******: the first six characters (city and district) only."""
    if not value:
        return ""
    return value[:6] + "*" * min(max(len(value) - 6, 4), 12)


mask_student_no = access.mask_student_no


def _masked(student: Student) -> dict[str, str]:
    return {
        "student_no": mask_student_no(student.student_no),
        "id_number": access.mask_id_number(student.id_number),
        "guardian_phone": access.mask_phone(student.guardian_phone),
        "address": mask_address(student.address),
    }


# ---------------------------------------------------------------- the roster


@bp.route("/")
@roles_required(*ROSTER_ROLES)
def index():
    """School users go to their school's roster; a district admin picks a school."""
    if current_user.role != ADMIN:
        return redirect(url_for("registry.roster", school_id=current_user.school_id))
    return _render("registry/roster_schools.html", rows=queries.roster_schools(current_user))


@bp.route(f"/school/<{ID}:school_id>")
@roles_required(*ROSTER_ROLES)
def roster(school_id: int):
    school = _school_or_404(school_id)
    classes = queries.class_options(school.id)
    form = RosterFilterForm(formdata=request.args)
    form.class_id.choices = options([("", _("All classes")), *((c.id, c.name) for c in classes)])
    # ?import=<batch>: the students one import added (where the import's commit leads).
    batch = request.args.get("import") or None
    page = None
    if form.validate() and (batch is None or _IMPORT_BATCH.fullmatch(batch)):
        flt = queries.RosterFilter(
            q=form.q.data,
            class_id=form.class_id.data,
            status=form.status.data,
            flag=form.flag.data or None,
            import_batch=batch,
        )
        stmt = queries.roster_statement(school, current_user, flt)
        page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    filtered = any(request.args.get(k) for k in ("q", "class_id", "flag", "import")) or (
        request.args.get("status", "enrolled") != "enrolled"
    )
    return _render(
        "registry/roster.html",
        school=school,
        form=form,
        page=page,
        filtered=filtered,
        import_batch=batch,
        counts=queries.status_counts(school),
        office=_office(),
        can_export=access.can_export_personal_data(current_user),
        export_form=ExportForm(formdata=None),
        mask=mask_student_no,
        crumbs=_crumbs(school),
    )


# ---------------------------------------------------------------- one student


def _render_student(student: Student, *, revealed: dict | None = None, status: int = 200):
    office = _office()
    return _render(
        "registry/student_detail.html",
        status,
        student=student,
        school=student.school,
        masked=_masked(student),
        revealed=revealed or {},
        can_reveal=access.can_reveal_personal_numbers(current_user),
        office=office,
        can_change=office and student.status == "enrolled",
        history=queries.student_history(student),
        care_flags=[f for f in CARE_FLAGS if getattr(student, f)],
        crumbs=_crumbs(student.school, (student.name, None)),
    )


@bp.route(f"/<{ID}:student_id>")
@roles_required(*ROSTER_ROLES)
def student_detail(student_id: int):
    return _render_student(_student_or_404(student_id))


@bp.route(f"/<{ID}:student_id>/reveal", methods=["POST"])
@roles_required(*OFFICE)
def reveal(student_id: int):
    """Show one masked number in full, once; the audit log records who saw what."""
    student = _student_or_404(student_id)
    if not access.can_reveal_personal_numbers(current_user):
        abort(403)
    field = request.form.get("field", "")
    if field not in operations.REVEALABLE:
        abort(400)
    value = operations.reveal(student, field) or ""
    db.session.commit()
    if _wants_json():
        return jsonify({"field": field, "value": value})
    return _render_student(student, revealed={field: value})


@bp.route(f"/<{ID}:student_id>/photo")
@roles_required(*ROSTER_ROLES)
def photo(student_id: int):
    student = _student_or_404(student_id)
    path = photos.photo_path(student.photo)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)


# ---------------------------------------------------------------- add and edit


def _class_choices(form: Any, school_id: int, current_class_id: int | None = None) -> None:
    classes = queries.class_options(school_id, include_inactive_id=current_class_id)
    form.class_id.choices = options([("", _("— no class —")), *((c.id, c.name) for c in classes)])


def _input_from(form: StudentForm, student: Student | None = None) -> operations.StudentInput:
    """The form's data; on the edit form an empty number field keeps the stored value."""
    values: dict[str, Any] = {}
    for name in operations.STUDENT_INPUT_FIELDS:
        values[name] = getattr(form, name).data
    values["gender"] = form.gender.data or None
    if student is not None:
        for name in SENSITIVE_FIELDS:
            if getattr(form, f"clear_{name}").data:
                values[name] = None
            elif not values[name]:
                values[name] = getattr(student, name)
    return operations.StudentInput(**values)


def _gender_known(data: operations.StudentInput) -> bool:
    """The form asks for the gender unless an ID number gives it (a wrong ID number is
    clean_student's message, not this one)."""
    return bool(data.gender) or bool(v.fold(data.id_number))


def _save_student(form: StudentForm, school: School, student: Student | None) -> int | None:
    """Validate, store the photo, add or update the student, commit. The status on refusal."""
    data = _input_from(form, student)
    if not _gender_known(data):
        form.gender.errors = [*form.gender.errors, _("Choose the gender, or enter the ID number.")]
        return 422
    upload = form.photo.data
    new_photo = None
    if upload is not None and getattr(upload, "filename", ""):
        try:
            new_photo = photos.store_photo(upload)
        except ValidationFailed as exc:
            _fail(form, exc)
            return 422
    old_photo = student.photo if student is not None else None
    saved: dict[str, Student] = {}

    def action() -> None:
        if student is None:
            saved["student"] = operations.add_student(school, data)
        else:
            saved["student"] = operations.update_student(student, data)
        if new_photo:
            saved["student"].photo = new_photo
        elif student is not None and form.remove_photo.data:
            saved["student"].photo = None
        db.session.flush()

    status = _run(form, action)
    if status:
        photos.delete_photo(new_photo)
        return status
    if old_photo and (new_photo or form.remove_photo.data):
        photos.delete_photo(old_photo)
    form.saved_student = saved["student"]  # type: ignore[attr-defined]
    return None


@bp.route(f"/school/<{ID}:school_id>/new", methods=["GET", "POST"])
@roles_required(*OFFICE)
def new_student(school_id: int):
    school = _school_or_404(school_id)
    form = StudentForm()
    _class_choices(form, school.id)
    if request.method == "GET" and request.args.get("class_id", "").isdigit():
        form.class_id.data = int(request.args["class_id"])
    status = None
    if form.validate_on_submit():
        status = _save_student(form, school, None)
        if status is None:
            student = form.saved_student  # type: ignore[attr-defined]
            flash(_("%(name)s is on the roster.", name=student.name), "success")
            return redirect(url_for("registry.student_detail", student_id=student.id))
    return _render(
        "registry/student_form.html",
        status or (422 if request.method == "POST" else 200),
        form=form,
        school=school,
        student=None,
        masked={},
        crumbs=_crumbs(school, (_("Add a student"), None)),
    )


@bp.route(f"/<{ID}:student_id>/edit", methods=["GET", "POST"])
@roles_required(*OFFICE)
def edit_student(student_id: int):
    student = _student_or_404(student_id)
    if student.status != "enrolled":
        flash(_("This student has left the school; their record is closed."), "warning")
        return redirect(url_for("registry.student_detail", student_id=student.id))
    form = StudentForm(obj=student if request.method == "GET" else None)
    if request.method == "GET":
        for name in SENSITIVE_FIELDS:
            getattr(form, name).data = ""  # never put a full number into the page
        form.gender.data = student.gender or ""
    _class_choices(form, student.school_id, student.class_id)
    status = None
    if form.validate_on_submit():
        status = _save_student(form, student.school, student)
        if status is None:
            flash(_("The changes are saved."), "success")
            return redirect(url_for("registry.student_detail", student_id=student.id))
    return _render(
        "registry/student_form.html",
        status or (422 if request.method == "POST" else 200),
        form=form,
        school=student.school,
        student=student,
        masked=_masked(student),
        crumbs=_crumbs(
            student.school,
            (student.name, url_for("registry.student_detail", student_id=student.id)),
            (_("Edit"), None),
        ),
    )


# ---------------------------------------------------------------- class, move, leave


def _action_page(student: Student, form: Any, kind: str, status: int = 200, **extra: Any):
    titles = {
        "class": _("Change class"),
        "move": _("Move to another school"),
        "leave": _("Leaves the school"),
    }
    return _render(
        "registry/student_action.html",
        status,
        student=student,
        form=form,
        kind=kind,
        title=titles[kind],
        crumbs=_crumbs(
            student.school,
            (student.name, url_for("registry.student_detail", student_id=student.id)),
            (titles[kind], None),
        ),
        **extra,
    )


def _enrolled_or_redirect(student: Student):
    if student.status != "enrolled":
        flash(_("This student has left the school; their record is closed."), "warning")
        return redirect(url_for("registry.student_detail", student_id=student.id))
    return None


@bp.route(f"/<{ID}:student_id>/class", methods=["GET", "POST"])
@roles_required(*OFFICE)
def change_class(student_id: int):
    student = _student_or_404(student_id)
    if (closed := _enrolled_or_redirect(student)) is not None:
        return closed
    form = ChangeClassForm(data={"class_id": student.class_id} if request.method == "GET" else None)
    _class_choices(form, student.school_id, student.class_id)
    status = None
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: operations.change_class(student, form.class_id.data, user_id=current_user.id),
        )
        if status is None:
            flash(_("The class is changed."), "success")
            return redirect(url_for("registry.student_detail", student_id=student.id))
    return _action_page(
        student, form, "class", status or (422 if request.method == "POST" else 200)
    )


@bp.route(f"/<{ID}:student_id>/move", methods=["GET", "POST"])
@roles_required(*OFFICE)
def move_student(student_id: int):
    student = _student_or_404(student_id)
    if (closed := _enrolled_or_redirect(student)) is not None:
        return closed
    targets = {s.id: s for s in queries.move_targets(student)}
    form = MoveForm()
    form.to_school_id.choices = options(
        [("", _("— choose a school —")), *((s.id, s.name) for s in targets.values())]
    )
    if request.method == "GET":
        form.moved_on.data = local_today()
    status = None
    if form.validate_on_submit():
        target = targets.get(form.to_school_id.data)
        if target is None:
            form.to_school_id.errors = [_("Choose an open school of the same district.")]
            status = 422
        else:
            from_school_id, name = student.school_id, student.name
            status = _run(
                form,
                lambda: operations.move_student(
                    student,
                    to_school=target,
                    to_class_id=None,
                    on=form.moved_on.data,
                    reason=form.reason.data,
                    user_id=current_user.id,
                ),
            )
            if status is None:
                flash(
                    _(
                        "%(name)s moved to %(school)s; the new school assigns the class.",
                        name=name,
                        school=target.name,
                    ),
                    "success",
                )
                if current_user.role == ADMIN:
                    return redirect(url_for("registry.student_detail", student_id=student.id))
                return redirect(url_for("registry.roster", school_id=from_school_id))
    return _action_page(student, form, "move", status or (422 if request.method == "POST" else 200))


@bp.route(f"/<{ID}:student_id>/leave", methods=["GET", "POST"])
@roles_required(*OFFICE)
def leave(student_id: int):
    student = _student_or_404(student_id)
    if (closed := _enrolled_or_redirect(student)) is not None:
        return closed
    form = LeaveForm()
    if request.method == "GET":
        form.left_on.data = local_today()
    status = None
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: operations.leave_school(
                student,
                status=form.status.data,
                on=form.left_on.data,
                reason=form.reason.data,
                user_id=current_user.id,
            ),
        )
        if status is None:
            flash(_("The record is closed and kept."), "success")
            return redirect(url_for("registry.student_detail", student_id=student.id))
    return _action_page(
        student, form, "leave", status or (422 if request.method == "POST" else 200)
    )


# ---------------------------------------------------------------- export


@bp.route(f"/school/<{ID}:school_id>/export", methods=["POST"])
@roles_required(*OFFICE)
def export(school_id: int):
    """The school's roster as .xlsx or .csv, with ID numbers: audited."""
    school = _school_or_404(school_id)
    if not access.can_export_personal_data(current_user):
        abort(403)
    form = ExportForm()
    if not form.validate():
        abort(400)
    fmt, status = form.format.data, form.status.data
    data, _count = exporting.export_roster(school, fmt=fmt, status=status)
    db.session.commit()
    stamp = local_today().isoformat()
    mimetype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"{school.name}-学生名册-{stamp}.{fmt}",
        max_age=0,
    )


# ---------------------------------------------------------------- import


@bp.route(f"/school/<{ID}:school_id>/import/template.xlsx")
@roles_required(*OFFICE)
def import_template(school_id: int):
    school = _school_or_404(school_id)
    return send_file(
        io.BytesIO(importing.template_workbook(school)),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"{school.name}-学生名册模板.xlsx",
        max_age=0,
    )


def _upload_page(school: School, error: str | None = None, status: int = 200):
    return _render(
        "registry/import_upload.html",
        status,
        school=school,
        error=error,
        max_mb=importing.MAX_IMPORT_BYTES // 2**20,
        crumbs=_crumbs(school, (_("Import"), None)),
    )


@csrf.exempt  # checked below, after the size limit for this form is raised (see the docstring)
@bp.route(f"/school/<{ID}:school_id>/import", methods=["GET", "POST"])
@roles_required(*OFFICE)
def import_upload(school_id: int):
    """Upload a roster file. The global CSRF check would parse the body under the app-wide
    size limit; this form allows a larger file, so the token is checked here instead."""
    school = _school_or_404(school_id)
    if request.method == "GET":
        return _upload_page(school)
    request.max_content_length = importing.MAX_IMPORT_BYTES + _UPLOAD_MARGIN
    too_large = _(
        "The file is larger than %(mb)d MB. Split it (for example one file per grade) and "
        "import the parts one after another.",
        mb=importing.MAX_IMPORT_BYTES // 2**20,
    )
    try:
        token = request.form.get("csrf_token")
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        return _upload_page(school, too_large, 413)
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc
    if upload is None or not upload.filename:
        return _upload_page(school, _("Choose a file."), 422)
    school_key, user_id = school.id, current_user.id
    db.session.commit()  # do not hold the database's writer lock while reading the file
    try:
        with read_only():
            job = importing.create_job(upload, db.session.get(School, school_key), user_id)
            db.session.rollback()
    except importing.ImportRefused as exc:
        return _upload_page(db.session.get(School, school_key), exc.message, 422)
    return redirect(url_for("registry.import_job", import_id=job["id"]))


def _job_or_404(import_id: str) -> tuple[dict, School]:
    job = importing.load_job(import_id)
    if job is None:
        abort(404)
    school = get_scoped_or_404(School, job["school_id"], current_user)
    return job, school


def _job_page(job: dict, school: School, *, errors: list[str] | None = None, status: int = 200):
    report = job.get("report")
    problems = report["problem_list"][:SHOWN_PROBLEMS] if report else []
    return _render(
        "registry/import_job.html",
        status,
        job=job,
        school=school,
        report=report,
        problems=problems,
        class_names={c.id: c.name for c in queries.class_options(school.id)} if report else {},
        shown_problems=SHOWN_PROBLEMS,
        errors=errors or [],
        # The template's own instructions sheet is left out without a word.
        skipped_sheets=[s for s in job["sheets"] if s["skipped"] not in (None, "instructions")],
        crumbs=_crumbs(
            school,
            (_("Import"), url_for("registry.import_upload", school_id=school.id)),
            (job["filename"], None),
        ),
    )


@bp.route(f"/imports/<{IMPORT_ID}:import_id>")
@roles_required(*OFFICE)
def import_job(import_id: str):
    job, school = _job_or_404(import_id)
    return _job_page(job, school)


@bp.route(f"/imports/<{IMPORT_ID}:import_id>/check", methods=["POST"])
@roles_required(*OFFICE)
def import_check(import_id: str):
    """The dry run: every row checked, nothing written to the roster."""
    job, school = _job_or_404(import_id)
    mapping = {
        header["label"]: request.form.get(f"map-{index}", "")
        for index, header in enumerate(job["headers"])
    }
    job["mapping"] = mapping
    job["all_or_nothing"] = request.form.get("all_or_nothing") == "1"
    errors = importing.mapping_problems(job, mapping)
    if errors:
        if _wants_json():
            return jsonify({"errors": errors}), 422
        return _job_page(job, school, errors=errors, status=422)
    job["state"] = "uploaded"
    job.pop("report", None)
    importing.save_job(job)
    school_key = school.id
    db.session.commit()  # do not hold the database's writer lock during the check
    try:
        with read_only():
            importing.check(job, db.session.get(School, school_key))
            db.session.rollback()
    except importing.ImportRefused as exc:
        if _wants_json():
            return jsonify({"errors": [exc.message]}), 422
        return _job_page(job, db.session.get(School, school_key), errors=[exc.message], status=422)
    target = url_for("registry.import_job", import_id=import_id, _anchor="report")
    if _wants_json():
        return jsonify({"redirect": target})
    return redirect(target)


@bp.route(f"/imports/<{IMPORT_ID}:import_id>/commit", methods=["POST"])
@roles_required(*OFFICE)
def import_commit(import_id: str):
    """Add the checked rows, in one transaction; audited."""
    job, school = _job_or_404(import_id)
    try:
        result = importing.commit(job, school)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if _wants_json():
            return jsonify({"errors": [exc.message]}), 409
        return _job_page(job, school, errors=[exc.message], status=409)
    except IntegrityError:
        db.session.rollback()
        message = _("Someone else changed the roster at the same time. Check the file again.")
        if _wants_json():
            return jsonify({"errors": [message]}), 409
        return _job_page(job, school, errors=[message], status=409)
    importing.delete_job(import_id)
    message = _("%(n)d students were added to the roster.", n=result["created"])
    skipped = result["problems"] + len(result["conflicts"])
    if skipped:
        message += " " + _("%(n)d rows with problems were left out.", n=skipped)
    flash(message, "success")
    # The roster opens on the students of this import, to look them over at once.
    batch = {"import": result["batch"]} if result["created"] else {}
    target = url_for("registry.roster", school_id=school.id, **batch)
    if _wants_json():
        return jsonify({"redirect": target})
    return redirect(target)


@bp.route(f"/imports/<{IMPORT_ID}:import_id>/cancel", methods=["POST"])
@roles_required(*OFFICE)
def import_cancel(import_id: str):
    job, school = _job_or_404(import_id)
    importing.delete_job(job["id"])
    flash(_("The import is cancelled and the uploaded file deleted."), "info")
    return redirect(url_for("registry.import_upload", school_id=school.id))


@bp.route(f"/imports/<{IMPORT_ID}:import_id>/progress")
@roles_required(*OFFICE)
def import_progress(import_id: str):
    """How far the check or commit has come, for the progress bar (polled)."""
    _job, _school = _job_or_404(import_id)
    return jsonify(importing.read_progress(import_id))


@bp.route(f"/imports/<{IMPORT_ID}:import_id>/problems.csv")
@roles_required(*OFFICE)
def import_problems(import_id: str):
    """The dry run's problems as a CSV (sheet, row, column, problem), to correct the file."""
    job, _school = _job_or_404(import_id)
    report = job.get("report")
    if not report:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Sheet"), _("Row"), _("Column"), _("Problem"), _("Problem details")])
    for p in report["problem_list"]:
        kind = str(importing.PROBLEM_KINDS.get(p["kind"], p["kind"]))
        row = [p["sheet"], p["row"], p["column"], kind, p["message"]]
        writer.writerow([exporting.escape_cell(value) for value in row])
    return send_file(
        io.BytesIO(("\ufeff" + out.getvalue()).encode("utf-8")),
        mimetype="text/csv; charset=utf-8",
        as_attachment=True,
        download_name=f"import-problems-{date.today().isoformat()}.csv",
        max_age=0,
    )
