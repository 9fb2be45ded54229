"""Activity pages (/activities): volunteer service and gratitude activities, volunteer teams,
logging hours (one student or a whole class at once, on a phone), the verification queue, a
teacher's own logs, gratitude participants and thank-you letters.

Who may do what:

* **Teachers and the school aid officer** — everything of their school: create activities and
  teams, log hours, record participants, enter and approve letters, and verify (or correct)
  hours someone *else* logged.
* **District admins** — read every school's activities, logs and letters.
* **Clerks and alliance leads** — none of these pages (403).

No list ranks students: rosters are in class and name order, and no page shows a student's
balance next to another's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app.activities import operations as ops
from app.activities import photos, queries
from app.activities.forms import (
    GRATITUDE_TYPE_LABELS,
    KIND_LABELS,
    LETTER_STATUS_LABELS,
    LOG_STATUS_LABELS,
    VOLUNTEER_TYPE_LABELS,
    ActivityForm,
    CorrectForm,
    LetterForm,
    LogHoursForm,
    ReviewForm,
    TeamForm,
    TicksForm,
    VerifyForm,
    type_label,
)
from app.activities.models import (
    LETTER_STATUSES,
    LOG_STATUSES,
    Activity,
    GratitudeLetter,
    HoursLog,
    VolunteerTeam,
)
from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.common import DomainError, local_today, page_number
from app.extensions import db
from app.org.forms import options
from app.org.models import School
from app.registry.queries import class_options

bp = Blueprint("activities", __name__, url_prefix="/activities")

ID = "int(max=2147483647)"
SCHOOL_STAFF = (Role.SCHOOL_OFFICER, Role.TEACHER)
READERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.TEACHER)
PER_PAGE = 30


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "VOLUNTEER_TYPE_LABELS": VOLUNTEER_TYPE_LABELS,
        "GRATITUDE_TYPE_LABELS": GRATITUDE_TYPE_LABELS,
        "LOG_STATUS_LABELS": LOG_STATUS_LABELS,
        "LETTER_STATUS_LABELS": LETTER_STATUS_LABELS,
        "type_label": type_label,
        "hours_text": ops.hours_text,
        "hours_label": ops.hours_label,
        "is_school_staff": current_user.is_authenticated
        and current_user.role in {r.value for r in SCHOOL_STAFF},
    }


def _fail(form: Any, exc: DomainError) -> None:
    target = getattr(form, exc.field or "", None)
    if target is None or not hasattr(target, "errors"):
        form.form_errors.append(exc.message)
    else:
        if isinstance(target.errors, tuple):
            target.errors = list(target.errors)
        target.errors = [*target.errors, exc.message]


def _ids(name: str = "student_id") -> list[int]:
    out = []
    for raw in request.form.getlist(name):
        if raw.isdigit() and 0 < int(raw) <= 2**31 - 1:
            out.append(int(raw))
    return out


def _activity(activity_id: int) -> Activity:
    return get_scoped_or_404(Activity, activity_id, current_user)


def _own_school() -> School:
    return db.session.get(School, current_user.school_id)


def _store_upload(form: Any) -> tuple[str | None, bool]:
    """Store the form's photo if one came; (name, ok)."""
    upload = form.photo.data
    if not photos.has_upload(upload):
        return None, True
    try:
        return photos.store_photo(upload), True
    except DomainError as exc:
        _fail(form, exc)
        return None, False


# ---------------------------------------------------------------- activities


@bp.route("/")
@roles_required(*READERS)
def index():
    kind = request.args.get("kind") if request.args.get("kind") in KIND_LABELS else None
    q = (request.args.get("q") or "").strip()[:100] or None
    stmt = queries.activities_stmt(current_user, kind=kind, q=q)
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    counts = queries.activity_counts([a.id for a in page.items])
    school_staff = current_user.role in SCHOOL_STAFF
    return render_template(
        "activities/index.html",
        page=page,
        counts=counts,
        kind=kind,
        q=q or "",
        queue=queries.queue_count(current_user) if school_staff else 0,
        mine=queries.status_counts(current_user) if school_staff else {},
        show_school=current_user.school_id is None,
    )


def _activity_form_choices(form: ActivityForm, school_id: int) -> None:
    form.team_id.choices = options(
        [("", _("— no team —")), *((t.id, t.name) for t in queries.teams_of(school_id))]
    )


def _activity_input(form: ActivityForm) -> ops.ActivityInput:
    return ops.ActivityInput(
        kind=form.kind.data,
        type=form.type.data,
        title=form.title.data,
        held_on=form.held_on.data,
        place=form.place.data,
        organiser=form.organiser.data,
        team_id=form.team_id.data,
        description=form.description.data,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def new_activity():
    school = _own_school()
    form = ActivityForm()
    _activity_form_choices(form, school.id)
    if request.method == "GET":
        form.held_on.data = local_today()
        if request.args.get("kind") in KIND_LABELS:
            form.kind.data = request.args["kind"]
    status = 200
    if form.validate_on_submit():
        try:
            activity = ops.create_activity(school, _activity_input(form), user=current_user)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            status = exc.status
        else:
            flash(_("The activity is saved."), "success")
            return redirect(url_for("activities.activity", activity_id=activity.id))
    elif request.method == "POST":
        status = 422
    return render_template("activities/activity_form.html", form=form, activity=None), status


@bp.route(f"/<{ID}:activity_id>")
@roles_required(*READERS)
def activity(activity_id: int):
    item = _activity(activity_id)
    logs = queries.activity_logs(item) if item.kind == "volunteer" else []
    participants = queries.activity_participants(item) if item.kind == "gratitude" else []
    letters = queries.activity_letters(item) if item.kind == "gratitude" else []
    credited = sum(log.credited_minutes or 0 for log in logs)
    return render_template(
        "activities/activity.html",
        activity=item,
        logs=logs,
        participants=participants,
        letters=letters,
        credited=credited,
        happened=item.held_on <= local_today(),
        can_edit=current_user.role in SCHOOL_STAFF,
    )


@bp.route(f"/<{ID}:activity_id>/edit", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def edit_activity(activity_id: int):
    item = _activity(activity_id)
    form = ActivityForm(obj=item if request.method == "GET" else None)
    _activity_form_choices(form, item.school_id)
    status = 200
    if form.validate_on_submit():
        try:
            ops.update_activity(item, _activity_input(form), user=current_user)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            status = exc.status
        else:
            flash(_("The changes are saved."), "success")
            return redirect(url_for("activities.activity", activity_id=item.id))
    elif request.method == "POST":
        status = 422
    return render_template("activities/activity_form.html", form=form, activity=item), status


# ---------------------------------------------------------------- picking students


def _group(school_id: int) -> tuple[str, Any, list]:
    """The group whose roster the page shows: ``?team_id=`` or ``?class_id=``."""
    team_raw, class_raw = request.args.get("team_id", ""), request.args.get("class_id", "")
    if team_raw.isdigit():
        team = db.session.get(VolunteerTeam, int(team_raw)) if int(team_raw) < 2**31 else None
        if team is not None and team.school_id == school_id:
            return "team", team, queries.team_students(team)
    if class_raw.isdigit():
        classes = {c.id: c for c in class_options(school_id)}
        if int(class_raw) in classes:
            return (
                "class",
                classes[int(class_raw)],
                queries.class_students(school_id, int(class_raw)),
            )
    return "", None, []


def _roster_context(school_id: int, activity: Activity | None = None) -> dict[str, Any]:
    group_kind, group, students = _group(school_id)
    if group is None and activity is not None and activity.team_id:
        team = activity.team
        group_kind, group, students = "team", team, queries.team_students(team)
    return {
        "classes": class_options(school_id),
        "teams": queries.teams_of(school_id),
        "group_kind": group_kind,
        "group": group,
        "students": students,
    }


# ---------------------------------------------------------------- logging hours


@bp.route(f"/<{ID}:activity_id>/log", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def log_hours(activity_id: int):
    item = _activity(activity_id)
    if item.kind != "volunteer":
        abort(404)
    form = LogHoursForm()
    status = 200
    try:
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        raise
    if valid:
        photo, ok = _store_upload(form)
        if ok:
            try:
                result = ops.log_hours(
                    item,
                    _ids(),
                    form.hours.minutes,
                    user=current_user,
                    note=form.note.data,
                    photo=photo,
                )
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                photos.delete_photo(photo)
                _fail(form, exc)
                status = exc.status
            else:
                if not result.logs:
                    photos.delete_photo(photo)
                message = _("%(n)d logged, waiting for someone else to verify.", n=len(result.logs))
                if result.already:
                    message += " " + _(
                        "Already logged for this activity: %(names)s.",
                        names="、".join(s.name for s in result.already),
                    )
                flash(message, "success" if result.logs else "warning")
                return redirect(url_for("activities.activity", activity_id=item.id))
        else:
            status = 422
    elif request.method == "POST":
        status = 422
    context = _roster_context(item.school_id, item)
    return (
        render_template(
            "activities/log_hours.html",
            activity=item,
            form=form,
            done=queries.already_logged(item),
            ticked=set(_ids()),
            happened=item.held_on <= local_today(),
            **context,
        ),
        status,
    )


@bp.route("/logs/mine")
@roles_required(*SCHOOL_STAFF)
def my_logs():
    status = request.args.get("status") if request.args.get("status") in LOG_STATUSES else None
    page = db.paginate(
        queries.my_logs_stmt(current_user, status),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "activities/my_logs.html",
        page=page,
        status=status,
        statuses=LOG_STATUSES,
        counts=queries.status_counts(current_user),
    )


@bp.route("/logs/queue")
@roles_required(*SCHOOL_STAFF)
def queue():
    page = db.paginate(
        queries.queue_stmt(current_user), page=page_number(), per_page=PER_PAGE, error_out=False
    )
    return render_template(
        "activities/queue.html", page=page, form=TicksForm(), verify_form=VerifyForm(formdata=None)
    )


@bp.route("/logs/queue", methods=["POST"])
@roles_required(*SCHOOL_STAFF)
def verify_many():
    """Verify the ticked logs with all their hours (fewer hours or a rejection go one by one)."""
    form = TicksForm()
    if not form.validate_on_submit():
        abort(400)
    logs = queries.logs_by_id(_ids("log_id"), current_user)
    if not logs:
        flash(_("Tick the logs to verify."), "warning")
        return redirect(url_for("activities.queue"))
    points = 0
    capped = []
    try:
        for log in logs:
            posting = ops.verify_log(log, approved_minutes=log.minutes, user=current_user)
            if posting is not None:
                points += posting.points
                if posting.capped:
                    capped.append(log.student.name)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("activities.queue"))
    flash(
        _("%(n)d logs verified; %(points)d points credited.", n=len(logs), points=points),
        "success",
    )
    if capped:
        flash(
            _(
                "The daily hours cap held back part of the hours of: %(names)s.",
                names="、".join(capped),
            ),
            "warning",
        )
    return redirect(url_for("activities.queue"))


def _log(log_id: int) -> HoursLog:
    return get_scoped_or_404(HoursLog, log_id, current_user)


def _log_page(log: HoursLog, *, verify_form=None, correct_form=None, status: int = 200):
    may_decide = current_user.role in SCHOOL_STAFF and current_user.id != log.logged_by_id
    verify_form = verify_form or VerifyForm(formdata=None)
    if verify_form.approved_hours.data is None:
        verify_form.approved_hours.data = ops.hours_text(log.minutes)
    cap_note = None
    capped = (
        log.credited_minutes is not None
        and log.approved_minutes
        and log.credited_minutes < log.approved_minutes
    )
    if capped:
        from app.points.models import PointRule
        from app.points.operations import rule_in_force

        rule = db.session.get(PointRule, log.rule_id) if log.rule_id else None
        if rule is None:
            school = log.activity.school
            rule = rule_in_force(school.id, school.district_id, log.activity.held_on)
        cap = rule.max_hours_per_day * 60
        cap_note = ops.cap_message(
            cap, max(cap - log.credited_minutes, 0), log.credited_minutes, log.approved_minutes
        )
    return (
        render_template(
            "activities/log.html",
            log=log,
            may_decide=may_decide,
            verify_form=verify_form,
            correct_form=correct_form or CorrectForm(formdata=None),
            cap_note=cap_note,
        ),
        status,
    )


@bp.route(f"/logs/<{ID}:log_id>")
@roles_required(*READERS)
def log_detail(log_id: int):
    return _log_page(_log(log_id))


@bp.route(f"/logs/<{ID}:log_id>/verify", methods=["POST"])
@roles_required(*SCHOOL_STAFF)
def verify(log_id: int):
    log = _log(log_id)
    form = VerifyForm()
    if not form.validate_on_submit():
        return _log_page(log, verify_form=form, status=422)
    decision = form.decision.data
    if decision == "approve":
        minutes = log.minutes
    elif decision == "reject":
        minutes = 0
    else:
        minutes = form.approved_hours.minutes
        if minutes is None:
            form.approved_hours.errors = [_("Enter the hours approved.")]
            return _log_page(log, verify_form=form, status=422)
    try:
        posting = ops.verify_log(
            log, approved_minutes=minutes, note=form.note.data, user=current_user
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 403:
            abort(403)
        _fail(form, exc)
        return _log_page(_log(log_id), verify_form=form, status=exc.status)
    if posting is None:
        flash(_("The log is rejected; the teacher who logged it sees your reason."), "info")
    else:
        flash(
            _(
                "Verified: %(hours)s hours, %(points)d points credited.",
                hours=ops.hours_text(posting.credited_minutes),
                points=posting.points,
            ),
            "success",
        )
        if posting.explain():
            flash(posting.explain(), "warning")
    nxt = request.form.get("next") == "queue"
    return redirect(
        url_for("activities.queue") if nxt else url_for("activities.log_detail", log_id=log.id)
    )


@bp.route(f"/logs/<{ID}:log_id>/correct", methods=["POST"])
@roles_required(*SCHOOL_STAFF)
def correct(log_id: int):
    log = _log(log_id)
    form = CorrectForm()
    if not form.validate_on_submit() or form.approved_hours.minutes is None:
        return _log_page(log, correct_form=form, status=422)
    try:
        posting = ops.correct_log(
            log,
            approved_minutes=form.approved_hours.minutes,
            reason=form.reason.data,
            user=current_user,
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 403:
            abort(403)
        _fail(form, exc)
        return _log_page(_log(log_id), correct_form=form, status=exc.status)
    if posting is None:
        flash(_("Corrected: the log is now rejected and its points were taken back."), "info")
    else:
        flash(
            _(
                "Corrected: the earlier points were reversed and %(points)d points posted for "
                "%(hours)s hours.",
                points=posting.points,
                hours=ops.hours_text(posting.credited_minutes),
            ),
            "success",
        )
        if posting.explain():
            flash(posting.explain(), "warning")
    return redirect(url_for("activities.log_detail", log_id=log.id))


@bp.route(f"/logs/<{ID}:log_id>/photo")
@roles_required(*READERS)
def log_photo(log_id: int):
    path = photos.photo_path(_log(log_id).photo)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)


# ---------------------------------------------------------------- gratitude participants


@bp.route(f"/<{ID}:activity_id>/participants", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def participants(activity_id: int):
    item = _activity(activity_id)
    if item.kind != "gratitude":
        abort(404)
    form = TicksForm()
    status = 200
    if form.validate_on_submit():
        try:
            result = ops.record_participants(item, _ids(), user=current_user)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            status = exc.status
        else:
            message = _(
                "%(n)d participants recorded, %(points)d points each.",
                n=len(result.added),
                points=result.points_each,
            )
            if result.already:
                message += " " + _(
                    "Already recorded: %(names)s.", names="、".join(s.name for s in result.already)
                )
            flash(message, "success" if result.added else "warning")
            return redirect(url_for("activities.activity", activity_id=item.id))
    elif request.method == "POST":
        status = 422
    return (
        render_template(
            "activities/participants.html",
            activity=item,
            form=form,
            done=queries.participant_ids(item),
            ticked=set(_ids()),
            happened=item.held_on <= local_today(),
            **_roster_context(item.school_id, item),
        ),
        status,
    )


# ---------------------------------------------------------------- volunteer teams


@bp.route("/teams")
@roles_required(*READERS)
def teams():
    page = db.paginate(
        queries.teams_stmt(current_user), page=page_number(), per_page=PER_PAGE, error_out=False
    )
    return render_template(
        "activities/teams.html",
        page=page,
        members=queries.member_counts([t.id for t in page.items]),
        show_school=current_user.school_id is None,
    )


def _team_form_choices(form: TeamForm, school_id: int) -> None:
    form.leader_id.choices = options(
        [("", _("— nobody —")), *((u.id, u.display_name) for u in queries.staff_of(school_id))]
    )


@bp.route("/teams/new", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def new_team():
    school = _own_school()
    form = TeamForm()
    _team_form_choices(form, school.id)
    status = 200
    if form.validate_on_submit():
        try:
            team = ops.create_team(
                school,
                name=form.name.data,
                leader_id=form.leader_id.data,
                description=form.description.data,
                user=current_user,
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            status = exc.status
        else:
            flash(_("The team is set up. Now add its members."), "success")
            return redirect(url_for("activities.team", team_id=team.id))
    elif request.method == "POST":
        status = 422
    return render_template("activities/team_form.html", form=form, team=None), status


def _team(team_id: int) -> VolunteerTeam:
    return get_scoped_or_404(VolunteerTeam, team_id, current_user)


@bp.route(f"/teams/<{ID}:team_id>", methods=["GET", "POST"])
@roles_required(*READERS)
def team(team_id: int):
    """The team and its members; school staff add members by ticking them on a class roster."""
    item = _team(team_id)
    form = TicksForm()
    status = 200
    if request.method == "POST":
        if current_user.role not in SCHOOL_STAFF:
            abort(403)
        if form.validate_on_submit():
            try:
                added = ops.add_members(item, _ids(), user=current_user)
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                _fail(form, exc)
                status = exc.status
            else:
                flash(_("%(n)d students joined the team.", n=added), "success")
                return redirect(url_for("activities.team", team_id=item.id))
        else:
            status = 422
    members = queries.team_students(item)
    group_kind, group, students = _group(item.school_id)
    return (
        render_template(
            "activities/team.html",
            team=item,
            members=members,
            member_ids={s.id for s in members},
            form=form,
            classes=class_options(item.school_id),
            group=group if group_kind == "class" else None,
            students=students if group_kind == "class" else [],
        ),
        status,
    )


@bp.route(f"/teams/<{ID}:team_id>/edit", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def edit_team(team_id: int):
    item = _team(team_id)
    form = TeamForm(obj=item if request.method == "GET" else None)
    _team_form_choices(form, item.school_id)
    status = 200
    if form.validate_on_submit():
        try:
            ops.update_team(
                item,
                name=form.name.data,
                leader_id=form.leader_id.data,
                description=form.description.data,
                active=form.active.data,
                user=current_user,
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            status = exc.status
        else:
            flash(_("The changes are saved."), "success")
            return redirect(url_for("activities.team", team_id=item.id))
    elif request.method == "POST":
        status = 422
    return render_template("activities/team_form.html", form=form, team=item), status


@bp.route(f"/teams/<{ID}:team_id>/members/<{ID}:student_id>/remove", methods=["POST"])
@roles_required(*SCHOOL_STAFF)
def remove_member(team_id: int, student_id: int):
    item = _team(team_id)
    form = TicksForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        ops.remove_member(item, student_id, user=current_user)
    except DomainError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The student has left the team."), "success")
    return redirect(url_for("activities.team", team_id=item.id))


# ---------------------------------------------------------------- letters


@bp.route("/letters")
@roles_required(*READERS)
def letters():
    status = request.args.get("status") if request.args.get("status") in LETTER_STATUSES else None
    page = db.paginate(
        queries.letters_stmt(current_user, status),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "activities/letters.html", page=page, status=status, statuses=LETTER_STATUSES
    )


def _letter_form_choices(form: LetterForm, activity: Activity) -> None:
    students = queries.school_students(activity.school_id)
    form.student_id.choices = options(
        [
            ("", _("— choose —")),
            *(
                (s.id, f"{s.school_class.name} · {s.name}" if s.school_class else s.name)
                for s in students
            ),
        ]
    )
    form.receipt_id.choices = options(
        [
            ("", _("— choose a donation —")),
            *(
                (r.id, queries.receipt_label(r))
                for r in queries.donation_receipts(activity.school_id)
            ),
        ]
    )
    form.donor_id.choices = options(
        [
            ("", _("— or a donor —")),
            *((d.id, d.name) for d in queries.school_donors(activity.school_id)),
        ]
    )


@bp.route(f"/<{ID}:activity_id>/letters/new", methods=["GET", "POST"])
@roles_required(*SCHOOL_STAFF)
def new_letter(activity_id: int):
    item = _activity(activity_id)
    if item.kind != "gratitude":
        abort(404)
    form = LetterForm()
    _letter_form_choices(form, item)
    status = 200
    if form.validate_on_submit():
        photo, ok = _store_upload(form)
        if ok:
            try:
                letter = ops.create_letter(
                    item,
                    form.student_id.data or 0,
                    receipt_id=form.receipt_id.data,
                    donor_id=form.donor_id.data,
                    body=form.body.data,
                    photo=photo,
                    user=current_user,
                )
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                photos.delete_photo(photo)
                if exc.field == "student_ids":
                    exc.field = "student_id"
                _fail(form, exc)
                status = exc.status
            else:
                flash(_("The letter is saved and waits for a teacher's approval."), "success")
                return redirect(url_for("activities.letter", letter_id=letter.id))
        else:
            status = 422
    elif request.method == "POST":
        status = 422
    return render_template("activities/letter_form.html", form=form, activity=item), status


def _letter(letter_id: int) -> GratitudeLetter:
    return get_scoped_or_404(GratitudeLetter, letter_id, current_user)


@bp.route(f"/letters/<{ID}:letter_id>", methods=["GET", "POST"])
@roles_required(*READERS)
def letter(letter_id: int):
    item = _letter(letter_id)
    form = ReviewForm()
    status = 200
    if request.method == "POST":
        if current_user.role not in SCHOOL_STAFF:
            abort(403)
        if form.validate_on_submit():
            try:
                result = ops.review_letter(
                    item,
                    approve=form.decision.data == "approve",
                    note=form.note.data,
                    user=current_user,
                )
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                _fail(form, exc)
                status = exc.status
                item = _letter(letter_id)
            else:
                if form.decision.data == "approve":
                    message = _("Approved: the donor's page now shows the letter.")
                    if result is not None and result.added:
                        message += " " + _(
                            "%(points)d points credited for taking part.",
                            points=result.points_each,
                        )
                    flash(message, "success")
                else:
                    flash(_("The letter is not published."), "info")
                return redirect(url_for("activities.letter", letter_id=item.id))
        else:
            status = 422
    return (
        render_template(
            "activities/letter.html",
            letter=item,
            form=form,
            preview=queries.PublicLetter(
                given_name=queries.given_name(item.student.name),
                grade=item.grade,
                school_name="",
                body=item.body,
                handwritten=item.photo is not None,
                approved_on=None,
            ),
            receipt_label=queries.receipt_label(item.receipt) if item.receipt else None,
        ),
        status,
    )


@bp.route(f"/letters/<{ID}:letter_id>/photo")
@roles_required(*READERS)
def letter_photo(letter_id: int):
    path = photos.photo_path(_letter(letter_id).photo)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)
