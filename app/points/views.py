"""Points pages (/points): finding a student, a student's points, the rules, the monthly
allowance (aid office only) and the school-year reset.

Who may do what:

* **Teachers** — a student of their school: balance, history, year totals; award points by
  hand within the daily cap; read the rules (without the allowance part).
* **School aid officers** — as teachers, plus corrections and reversals, the school's rule
  overrides, the monthly allowance button and the year-start reset.
* **District admins** — the district's default rules, and every school of the district.
* **Clerks and alliance leads** — no points pages (403): the counter shows clerks a balance.

Outside the aid office the monthly allowance looks like any other award
(:func:`app.points.queries.present_entry`). Nothing on these pages ranks students: lists are
in class and name order, without balances.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.activities.operations import hours_label
from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404, scoped
from app.common import DomainError, local_today, page_number
from app.extensions import db
from app.org.forms import options
from app.org.models import School
from app.points import operations as ops
from app.points import queries
from app.points.allowance import current_month, post_monthly_allowance
from app.points.forms import (
    AdjustForm,
    AllowanceForm,
    AwardForm,
    FindStudentForm,
    ReverseForm,
    RuleForm,
)
from app.points.models import PointEntry, PointRule
from app.registry.access import in_aid_office
from app.registry.certification import current_school_year, school_year_label
from app.registry.queries import class_options, student_or_404

bp = Blueprint("points", __name__, url_prefix="/points")

ID = "int(max=2147483647)"
STAFF = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER, Role.TEACHER)
OFFICE = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
PER_PAGE = 30
RULE_FIELDS = (
    "points_per_hour",
    "points_per_gratitude",
    "max_hours_per_day",
    "max_award_points_per_teacher_day",
)
ALLOWANCE_FIELDS = ("allowance_severe", "allowance_moderate", "allowance_general")


def _schools() -> list[School]:
    return list(
        db.session.scalars(
            scoped(select(School), current_user).where(School.active.is_(True)).order_by(School.id)
        )
    )


def _school_for_request() -> School | None:
    """School users: their school. District admins: ``?school_id=`` (or none chosen yet)."""
    if current_user.school_id is not None:
        return db.session.get(School, current_user.school_id)
    raw = request.values.get("school_id", "")
    if not raw:
        return None
    return get_scoped_or_404(School, raw, current_user)


def _fail(form: Any, exc: DomainError) -> None:
    target = getattr(form, exc.field or "", None)
    if target is None or not hasattr(target, "errors"):
        form.form_errors.append(exc.message)
    else:
        target.errors = [*target.errors, exc.message]


# ---------------------------------------------------------------- finding a student


@bp.route("/")
@roles_required(*STAFF)
def index():
    school = _school_for_request()
    form = FindStudentForm(formdata=request.args)
    page = None
    if school is not None:
        form.class_id.choices = options(
            [("", _("All classes")), *((c.id, c.name) for c in class_options(school.id))]
        )
        if form.validate() and (form.q.data or form.class_id.data):
            stmt = queries.find_students_stmt(school, q=form.q.data, class_id=form.class_id.data)
            page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    return render_template(
        "points/index.html",
        school=school,
        schools=_schools() if current_user.school_id is None else [],
        form=form,
        page=page,
        office=in_aid_office(current_user),
    )


# ---------------------------------------------------------------- a student's points


def _student_page(student, *, award_form=None, adjust_form=None, status: int = 200):
    stmt = queries.entries_stmt(student.id)
    page = db.paginate(stmt, page=page_number(), per_page=PER_PAGE, error_out=False)
    views = queries.present_entries(list(page.items), current_user)
    years = queries.years_of(student.id) or [current_school_year()]
    try:
        year = int(request.args.get("year", years[0]))
    except ValueError:
        year = years[0]
    if year not in years:
        year = years[0]
    office = in_aid_office(current_user)
    can_award = student.status == "enrolled" and current_user.role in STAFF
    award_form = award_form or AwardForm(formdata=None)
    adjust_form = adjust_form or AdjustForm(formdata=None)
    return (
        render_template(
            "points/student.html",
            student=student,
            balance=ops.balance_of(student.id),
            page=page,
            entries=views,
            totals=queries.year_totals(student.id, year),
            year=year,
            years=years,
            year_label=school_year_label,
            office=office,
            can_award=can_award,
            award_form=award_form,
            adjust_form=adjust_form,
            reverse_form=ReverseForm(formdata=None),
            rule=ops.rule_in_force(student.school_id, student.school.district_id),
            hours_label=hours_label,
        ),
        status,
    )


@bp.route(f"/students/<{ID}:student_id>")
@roles_required(*STAFF)
def student(student_id: int):
    return _student_page(student_or_404(student_id, current_user))


@bp.route(f"/students/<{ID}:student_id>/award", methods=["POST"])
@roles_required(*STAFF)
def award(student_id: int):
    student = student_or_404(student_id, current_user)
    form = AwardForm()
    if form.validate_on_submit():
        try:
            entry = ops.award_points(
                student,
                form.points.data,
                kind=form.kind.data,
                reason=form.reason.data,
                teacher_id=current_user.id,
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            return _student_page(student, award_form=form, status=exc.status)
        flash(
            _(
                "%(points)d points credited to %(name)s; balance %(balance)d.",
                points=entry.points,
                name=student.name,
                balance=entry.balance_after,
            ),
            "success",
        )
        return redirect(url_for("points.student", student_id=student.id))
    return _student_page(student, award_form=form, status=422)


@bp.route(f"/students/<{ID}:student_id>/adjust", methods=["POST"])
@roles_required(*OFFICE)
def adjust(student_id: int):
    student = student_or_404(student_id, current_user)
    form = AdjustForm()
    if form.validate_on_submit():
        delta = form.points.data if form.direction.data == "add" else -form.points.data
        try:
            ops.adjust(student, delta, reason=form.reason.data, user_id=current_user.id)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _fail(form, exc)
            return _student_page(student, adjust_form=form, status=exc.status)
        flash(_("The correction is recorded."), "success")
        return redirect(url_for("points.student", student_id=student.id))
    return _student_page(student, adjust_form=form, status=422)


@bp.route(f"/entries/<{ID}:entry_id>/reverse", methods=["POST"])
@roles_required(*OFFICE)
def reverse(entry_id: int):
    entry = db.session.get(PointEntry, entry_id)
    if entry is None:
        abort(404)
    student = student_or_404(entry.student_id, current_user)
    form = ReverseForm()
    if not form.validate_on_submit():
        flash(_("Give a reason for the reversal."), "danger")
        return redirect(url_for("points.student", student_id=student.id))
    try:
        ops.reverse(entry, reason=form.reason.data, user_id=current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("points.student", student_id=student.id))
    flash(_("The entry is reversed by a correction entry."), "success")
    return redirect(url_for("points.student", student_id=student.id))


# ---------------------------------------------------------------- rules


def _rule_form_choices(form: RuleForm) -> None:
    choices: list[tuple[Any, str]] = []
    if current_user.role == Role.DISTRICT_ADMIN:
        choices.append(("", _("The whole district (default)")))
        choices.extend((s.id, s.name) for s in _schools())
    else:
        choices.append((current_user.school_id, current_user.school.name))
    form.school_id.choices = options(choices)


def _rules_page(form: RuleForm | None = None, status: int = 200):
    office = in_aid_office(current_user)
    school = db.session.get(School, current_user.school_id) if current_user.school_id else None
    rules = queries.rules_of(current_user.district_id, school.id if school else None)
    if current_user.role == Role.DISTRICT_ADMIN:
        school_names = {s.id: s.name for s in _schools()}
        rules = queries.rules_of(current_user.district_id, None) + [
            r
            for r in db.session.scalars(
                select(PointRule)
                .where(
                    PointRule.district_id == current_user.district_id,
                    PointRule.school_id.is_not(None),
                )
                .order_by(PointRule.school_id, PointRule.effective_from.desc())
            )
        ]
    else:
        school_names = {school.id: school.name} if school else {}
    if form is None and office:
        form = RuleForm(formdata=None)
        current = ops.rule_in_force(
            school.id if school else 0, current_user.district_id, local_today()
        )
        for name in (*RULE_FIELDS, *ALLOWANCE_FIELDS):
            getattr(form, name).data = getattr(current, name)
        form.yearly_reset.data = current.yearly_reset
        form.effective_from.data = local_today()
        form.school_id.data = school.id if school else None
    if form is not None:
        _rule_form_choices(form)
    in_force = ops.rule_in_force(school.id if school else 0, current_user.district_id)
    return (
        render_template(
            "points/rules.html",
            rules=rules,
            school=school,
            school_names=school_names,
            in_force=in_force,
            today=local_today(),
            form=form,
            office=office,
            show_allowance=office,
            school_year=current_school_year(),
        ),
        status,
    )


@bp.route("/rules")
@roles_required(*STAFF)
def rules():
    return _rules_page()


@bp.route("/rules", methods=["POST"])
@roles_required(*OFFICE)
def new_rule():
    form = RuleForm()
    _rule_form_choices(form)
    if not form.validate_on_submit():
        return _rules_page(form, 422)
    school_id = form.school_id.data
    if current_user.role == Role.SCHOOL_OFFICER:
        school_id = current_user.school_id
    elif school_id is not None:
        get_scoped_or_404(School, school_id, current_user)
    try:
        ops.create_rule(
            district_id=current_user.district_id,
            school_id=school_id,
            effective_from=form.effective_from.data,
            values={name: getattr(form, name).data for name in (*RULE_FIELDS, *ALLOWANCE_FIELDS)},
            yearly_reset=form.yearly_reset.data,
            user_id=current_user.id,
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc)
        return _rules_page(form, exc.status)
    flash(_("The new rule is saved."), "success")
    return redirect(url_for("points.rules"))


@bp.route(f"/rules/<{ID}:rule_id>/delete", methods=["POST"])
@roles_required(*OFFICE)
def delete_rule(rule_id: int):
    rule = get_scoped_or_404(PointRule, rule_id, current_user)
    if current_user.role == Role.SCHOOL_OFFICER and rule.school_id != current_user.school_id:
        abort(404 if rule.school_id is not None else 403)
    ops.delete_rule(rule)  # a rule already in force: the 409 page names why
    db.session.commit()
    flash(_("The rule that had not started yet is withdrawn."), "success")
    return redirect(url_for("points.rules"))


@bp.route("/year-reset", methods=["POST"])
@roles_required(*OFFICE)
def year_reset():
    school = _school_for_request()
    if school is None:
        abort(404)
    year = current_school_year()
    done = ops.reset_school_year(school, year, user_id=current_user.id)
    db.session.commit()
    if done is None:
        flash(_("The school's rule has no school-year reset."), "warning")
    else:
        flash(
            _("%(n)d balances were reset for the %(year)s.", n=done, year=school_year_label(year)),
            "success",
        )
    return redirect(url_for("points.rules"))


# ---------------------------------------------------------------- the monthly allowance


def _allowance_page(form: AllowanceForm, status: int = 200):
    school = _school_for_request()
    schools = [school] if current_user.school_id is not None else _schools()
    form.school_id.choices = options((s.id, s.name) for s in schools)
    history = []
    for s in schools:
        history.append((s, queries.allowance_months(queries.school_student_ids(s.id), limit=6)))
    return (
        render_template(
            "points/allowance.html",
            form=form,
            history=history,
            school=school,
            rule=ops.rule_in_force(school.id, school.district_id) if school else None,
        ),
        status,
    )


@bp.route("/allowance")
@roles_required(*OFFICE)
def allowance():
    form = AllowanceForm(formdata=None)
    form.month.data = current_month()
    school = _school_for_request()
    form.school_id.data = school.id if school else None
    return _allowance_page(form)


@bp.route("/allowance", methods=["POST"])
@roles_required(*OFFICE)
def post_allowance():
    form = AllowanceForm()
    schools = _schools() if current_user.school_id is None else [current_user.school]
    form.school_id.choices = options((s.id, s.name) for s in schools)
    if not form.validate_on_submit():
        return _allowance_page(form, status=422)
    school = get_scoped_or_404(School, form.school_id.data, current_user)
    try:
        summary = post_monthly_allowance(school, form.month.data, user_id=current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc)
        return _allowance_page(form, status=exc.status)
    flash(
        _(
            "%(month)s at %(school)s: %(credited)d students credited, %(already)d already had it.",
            month=summary.month,
            school=school.name,
            credited=summary.credited,
            already=summary.already,
        ),
        "success",
    )
    args = {"school_id": school.id} if current_user.school_id is None else {}
    return redirect(url_for("points.allowance", **args))
