"""Organisation pages: the district overview, alliances, schools, classes, leadership groups.

Who may do what (DOMAIN.md §2):
- district admin: everything in their district (alliances, schools, moves, every group);
- alliance lead: views their alliance and its schools, manages the alliance's leadership group;
- school officer: views their school (and its alliance), edits its contact details, classes and
  leadership group.
Teachers and clerks have no organisation pages. Every object is looked up through the scope, so
anything outside it is a 404; a role that may see an object but not change it gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from app.auth.access import roles_required
from app.auth.roles import Role
from app.auth.scope import get_scoped_or_404
from app.common import DomainError, ValidationFailed
from app.extensions import db
from app.org import operations, queries
from app.org.forms import (
    GROUP_ROLE_LABELS,
    STAGE_LABELS,
    AllianceEditForm,
    AllianceForm,
    ClassForm,
    HeadTeacherForm,
    LeadershipForm,
    MoveSchoolForm,
    SchoolForm,
    SchoolOfficerForm,
    options,
)
from app.org.models import (
    Alliance,
    District,
    LeadershipMember,
    School,
    SchoolClass,
    class_label,
)

bp = Blueprint("org", __name__, url_prefix="/org")

ORG_VIEWERS = (Role.DISTRICT_ADMIN, Role.ALLIANCE_LEAD, Role.SCHOOL_OFFICER)
SCHOOL_MANAGERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_OFFICER)
ALLIANCE_GROUP_EDITORS = (Role.DISTRICT_ADMIN, Role.ALLIANCE_LEAD)


# ---------------------------------------------------------------- helpers


def _is_admin() -> bool:
    return current_user.role == Role.DISTRICT_ADMIN


def _can_manage_school(school: School) -> bool:
    if current_user.role == Role.DISTRICT_ADMIN:
        return school.district_id == current_user.district_id
    return current_user.role == Role.SCHOOL_OFFICER and current_user.school_id == school.id


def _can_edit_group(tier: District | Alliance | School) -> bool:
    """Who may change a tier's leadership group (viewing is the scope's business)."""
    if isinstance(tier, District):
        return _is_admin() and tier.id == current_user.district_id
    if isinstance(tier, Alliance):
        if _is_admin():
            return tier.district_id == current_user.district_id
        return current_user.role == Role.ALLIANCE_LEAD and current_user.alliance_id == tier.id
    return _can_manage_school(tier)


def _fail(form: Any, exc: DomainError, default_field: str | None = None) -> None:
    """Show a refused operation's message on its field, or above the form."""
    field = getattr(form, exc.field or default_field or "", None)
    if field is None or not hasattr(field, "errors"):
        form.form_errors.append(exc.message)
    else:
        field.errors = [*field.errors, exc.message]


def _run(
    form: Any,
    action: Callable[[], object],
    *,
    conflict: DomainError | None = None,
    default_field: str | None = None,
) -> int | None:
    """Run an operation and commit it; on a refusal roll back and return the status to answer.

    ``conflict`` is the message for a unique constraint hit by a concurrent request (the
    operation checked, but someone else wrote the same name in between).
    """
    try:
        action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(form, exc, default_field)
        return exc.status
    except IntegrityError:
        db.session.rollback()
        _fail(
            form,
            conflict
            or ValidationFailed(_("Someone else changed this at the same time. Please try again.")),
            default_field,
        )
        return 422
    return None


def _status(status: int | None = None) -> int:
    if status:
        return status
    return 422 if request.method == "POST" else 200


def _render(template: str, status: int = 200, **context: Any):
    return (
        render_template(
            template,
            STAGE_LABELS=STAGE_LABELS,
            GROUP_ROLE_LABELS=GROUP_ROLE_LABELS,
            is_admin=_is_admin(),
            **context,
        ),
        status,
    )


def _crumbs(alliance: Alliance | None = None, school: School | None = None) -> list:
    """Breadcrumbs: the district (admins only), the alliance, the school."""
    crumbs: list[tuple[str, str | None]] = []
    if _is_admin():
        crumbs.append((_("Organisation"), url_for("org.index")))
    if alliance is not None:
        crumbs.append((alliance.name, url_for("org.alliance_detail", alliance_id=alliance.id)))
    if school is not None:
        crumbs.append((school.name, url_for("org.school_detail", school_id=school.id)))
    return crumbs


def _alliance_choices(district_id: int) -> list[SelectChoice]:
    alliances = queries.alliance_options(current_user, district_id)
    return options([("", _("— not in an alliance —")), *((a.id, a.name) for a in alliances)])


def _teacher_choices(candidates: list) -> list[SelectChoice]:
    return options([("", _("— no head teacher —")), *((u.id, u.display_name) for u in candidates)])


def _leader_fields(form: LeadershipForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "group_role": form.group_role.data,
        "position": form.position.data,
        "phone": form.phone.data,
    }


def _tier_url(tier: District | Alliance | School) -> str:
    if isinstance(tier, District):
        return url_for("org.index", _anchor="leadership")
    if isinstance(tier, Alliance):
        return url_for("org.alliance_detail", alliance_id=tier.id, _anchor="leadership")
    return url_for("org.school_detail", school_id=tier.id, _anchor="leadership")


# ---------------------------------------------------------------- the overview


@bp.route("/")
@roles_required(*ORG_VIEWERS)
def index():
    if current_user.role == Role.SCHOOL_OFFICER:
        return redirect(url_for("org.school_detail", school_id=current_user.school_id))
    if current_user.role == Role.ALLIANCE_LEAD:
        return _render_alliance(_alliance_or_404(current_user.alliance_id))
    return _render_district()


def _render_district(leader_form: LeadershipForm | None = None, status: int = 200):
    district = get_scoped_or_404(District, current_user.district_id, current_user)
    return _render(
        "org/index.html",
        status,
        overview=queries.district_overview(district, current_user),
        members_in_order=queries.members_in_order,
        leader_form=leader_form or LeadershipForm(formdata=None),
        can_edit_group=_can_edit_group(district),
    )


@bp.route("/district/leaders", methods=["POST"])
@roles_required(Role.DISTRICT_ADMIN)
def add_district_leader():
    district = get_scoped_or_404(District, current_user.district_id, current_user)
    form = LeadershipForm()
    if not form.validate_on_submit():
        return _render_district(form, 422)
    status = _run(
        form, lambda: operations.add_leadership_member(tier=district, **_leader_fields(form))
    )
    if status:
        return _render_district(form, status)
    flash(_("%(name)s has joined the leadership group.", name=form.name.data), "success")
    return redirect(_tier_url(district))


# ---------------------------------------------------------------- alliances


def _alliance_or_404(alliance_id: Any) -> Alliance:
    try:
        alliance = queries.alliance_with_schools(int(alliance_id), current_user)
    except (TypeError, ValueError):
        alliance = None
    if alliance is None:
        abort(404)
    return alliance


def _render_alliance(
    alliance: Alliance, leader_form: LeadershipForm | None = None, status: int = 200
):
    schools = queries.members_in_order(alliance)
    ids = [s.id for s in schools]
    return _render(
        "org/alliance_detail.html",
        status,
        alliance=alliance,
        schools=schools,
        active_count=sum(1 for s in schools if s.active),
        visible=queries.visible_school_ids(current_user, ids),
        class_counts=queries.class_counts(ids),
        leadership=queries.leadership_of(alliance),
        leader_form=leader_form or LeadershipForm(formdata=None),
        can_edit_group=_can_edit_group(alliance),
        crumbs=_crumbs(alliance),
    )


@bp.route("/alliances/new", methods=["GET", "POST"])
@roles_required(Role.DISTRICT_ADMIN)
def create_alliance():
    form = AllianceForm()
    if form.validate_on_submit():
        created: list[Alliance] = []
        status = _run(
            form,
            lambda: created.append(
                operations.create_alliance(
                    district_id=current_user.district_id,
                    name=form.name.data,
                    note=form.note.data,
                )
            ),
            conflict=operations.NameTaken(
                _("An alliance with this name already exists."), field="name"
            ),
        )
        if status is None:
            alliance = created[0]
            flash(
                _(
                    "The alliance %(name)s has been created. Add its member schools, "
                    "then choose its lead school.",
                    name=alliance.name,
                ),
                "success",
            )
            return redirect(url_for("org.alliance_detail", alliance_id=alliance.id))
        return _render_alliance_form(form, None, status)
    return _render_alliance_form(form, None, _status())


def _render_alliance_form(form: AllianceForm, alliance: Alliance | None, status: int):
    return _render(
        "org/alliance_form.html",
        status,
        form=form,
        alliance=alliance,
        crumbs=_crumbs(alliance),
    )


@bp.route("/alliances/<int(max=2147483647):alliance_id>")
@roles_required(*ORG_VIEWERS)
def alliance_detail(alliance_id: int):
    return _render_alliance(_alliance_or_404(alliance_id))


@bp.route("/alliances/<int(max=2147483647):alliance_id>/edit", methods=["GET", "POST"])
@roles_required(Role.DISTRICT_ADMIN)
def edit_alliance(alliance_id: int):
    alliance = _alliance_or_404(alliance_id)
    form = AllianceEditForm(obj=alliance)
    members = queries.members_in_order(alliance)
    form.lead_school_id.choices = options(
        [
            ("", _("— no lead school yet —")),
            *(
                (s.id, s.name if s.active else _("%(name)s (deactivated)", name=s.name))
                for s in members
            ),
        ]
    )
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: operations.update_alliance(
                alliance,
                name=form.name.data,
                note=form.note.data,
                lead_school_id=form.lead_school_id.data,
            ),
            conflict=operations.NameTaken(
                _("An alliance with this name already exists."), field="name"
            ),
        )
        if status is None:
            flash(_("The alliance %(name)s has been saved.", name=alliance.name), "success")
            return redirect(url_for("org.alliance_detail", alliance_id=alliance.id))
        return _render_alliance_form(form, alliance, status)
    return _render_alliance_form(form, alliance, _status())


@bp.route("/alliances/<int(max=2147483647):alliance_id>/leaders", methods=["POST"])
@roles_required(*ALLIANCE_GROUP_EDITORS)
def add_alliance_leader(alliance_id: int):
    alliance = _alliance_or_404(alliance_id)
    if not _can_edit_group(alliance):
        abort(403)
    form = LeadershipForm()
    if not form.validate_on_submit():
        return _render_alliance(alliance, form, 422)
    status = _run(
        form, lambda: operations.add_leadership_member(tier=alliance, **_leader_fields(form))
    )
    if status:
        return _render_alliance(_alliance_or_404(alliance_id), form, status)
    flash(_("%(name)s has joined the leadership group.", name=form.name.data), "success")
    return redirect(_tier_url(alliance))


# ---------------------------------------------------------------- schools


def _school_or_404(school_id: Any) -> School:
    return get_scoped_or_404(School, school_id, current_user)


def _render_school(
    school: School,
    status: int = 200,
    *,
    class_form: ClassForm | None = None,
    leader_form: LeadershipForm | None = None,
    move_form: MoveSchoolForm | None = None,
    class_errors: dict[int, list[str]] | None = None,
):
    can_manage = _can_manage_school(school)
    if class_form is None:
        class_form = ClassForm(formdata=None)
    candidates = queries.head_teacher_candidates(school) if can_manage else []
    class_form.head_teacher_id.choices = _teacher_choices(candidates)
    if _is_admin():
        if move_form is None:
            move_form = MoveSchoolForm(formdata=None, alliance_id=school.alliance_id)
        move_form.alliance_id.choices = _alliance_choices(school.district_id)
    grades = queries.classes_by_grade(school)
    return _render(
        "org/school_detail.html",
        status,
        school=school,
        grades=grades,
        active_classes=sum(1 for g in grades for c in g.classes if c.active),
        leadership=queries.leadership_of(school),
        staff_count=queries.staff_count(school),
        candidates=candidates,
        can_manage=can_manage,
        can_edit_group=_can_edit_group(school),
        class_form=class_form,
        leader_form=leader_form or LeadershipForm(formdata=None),
        move_form=move_form,
        class_errors=class_errors or {},
        crumbs=_crumbs(school.alliance, school),
    )


@bp.route("/schools/<int(max=2147483647):school_id>")
@roles_required(*ORG_VIEWERS)
def school_detail(school_id: int):
    return _render_school(_school_or_404(school_id))


def _school_fields(form: SchoolOfficerForm) -> dict[str, Any]:
    fields = {
        "address": form.address.data,
        "phone": form.phone.data,
        "supermarket_manager": form.supermarket_manager.data,
        "supermarket_manager_phone": form.supermarket_manager_phone.data,
    }
    if isinstance(form, SchoolForm):
        fields.update(name=form.name.data, stage=form.stage.data)
    return fields


def _render_school_form(form: SchoolOfficerForm, school: School | None, status: int):
    alliance = school.alliance if school is not None else None
    crumbs = _crumbs(alliance, school)
    return _render(
        "org/school_form.html",
        status,
        form=form,
        school=school,
        full=isinstance(form, SchoolForm),
        crumbs=crumbs,
    )


@bp.route("/schools/new", methods=["GET", "POST"])
@roles_required(Role.DISTRICT_ADMIN)
def create_school():
    form = SchoolForm()
    form.alliance_id.choices = _alliance_choices(current_user.district_id)
    if request.method == "GET":
        wanted = request.args.get("alliance_id", type=int)
        if wanted in {choice.value for choice in form.alliance_id.choices}:
            form.alliance_id.data = wanted
    if form.validate_on_submit():
        created: list[School] = []
        status = _run(
            form,
            lambda: created.append(
                operations.create_school(
                    district_id=current_user.district_id,
                    alliance_id=form.alliance_id.data,
                    **_school_fields(form),
                )
            ),
            conflict=operations.NameTaken(
                _("A school with this name already exists."), field="name"
            ),
        )
        if status is None:
            school = created[0]
            flash(_("The school %(name)s has been created.", name=school.name), "success")
            return redirect(url_for("org.school_detail", school_id=school.id))
        return _render_school_form(form, None, status)
    return _render_school_form(form, None, _status())


@bp.route("/schools/<int(max=2147483647):school_id>/edit", methods=["GET", "POST"])
@roles_required(*SCHOOL_MANAGERS)
def edit_school(school_id: int):
    school = _school_or_404(school_id)
    if not _can_manage_school(school):
        abort(403)
    admin = _is_admin()
    form: SchoolOfficerForm = SchoolForm(obj=school) if admin else SchoolOfficerForm(obj=school)
    if isinstance(form, SchoolForm):
        form.alliance_id.choices = _alliance_choices(school.district_id)
    if form.validate_on_submit():

        def save() -> None:
            operations.update_school(school, **_school_fields(form))
            if isinstance(form, SchoolForm):
                operations.move_school(school, form.alliance_id.data)

        status = _run(
            form,
            save,
            conflict=operations.NameTaken(
                _("A school with this name already exists."), field="name"
            ),
            default_field="alliance_id" if admin else None,
        )
        if status is None:
            flash(_("The school %(name)s has been saved.", name=school.name), "success")
            return redirect(url_for("org.school_detail", school_id=school.id))
        return _render_school_form(form, school, status)
    return _render_school_form(form, school, _status())


@bp.route("/schools/<int(max=2147483647):school_id>/move", methods=["POST"])
@roles_required(Role.DISTRICT_ADMIN)
def move_school(school_id: int):
    school = _school_or_404(school_id)
    form = MoveSchoolForm()
    form.alliance_id.choices = _alliance_choices(school.district_id)
    if not form.validate_on_submit():
        return _render_school(school, 422, move_form=form)
    was = school.alliance_id
    status = _run(
        form,
        lambda: operations.move_school(school, form.alliance_id.data),
        default_field="alliance_id",
    )
    if status:
        flash(form.alliance_id.errors[-1], "danger")
        return _render_school(school, status, move_form=form)
    if school.alliance_id == was:
        flash(_("%(school)s is already there; nothing changed.", school=school.name), "info")
    elif school.alliance is not None:
        flash(
            _(
                "%(school)s now belongs to %(alliance)s.",
                school=school.name,
                alliance=school.alliance.name,
            ),
            "success",
        )
    else:
        flash(_("%(school)s is no longer in an alliance.", school=school.name), "success")
    return redirect(url_for("org.school_detail", school_id=school.id))


def _set_school_active(school_id: int, active: bool):
    school = _school_or_404(school_id)
    try:
        operations.set_school_active(school, active)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _render_school(school, exc.status)
    if active:
        flash(_("%(school)s is active again.", school=school.name), "success")
    else:
        flash(_("%(school)s has been deactivated.", school=school.name), "success")
    return redirect(url_for("org.school_detail", school_id=school.id))


@bp.route("/schools/<int(max=2147483647):school_id>/deactivate", methods=["POST"])
@roles_required(Role.DISTRICT_ADMIN)
def deactivate_school(school_id: int):
    return _set_school_active(school_id, False)


@bp.route("/schools/<int(max=2147483647):school_id>/reactivate", methods=["POST"])
@roles_required(Role.DISTRICT_ADMIN)
def reactivate_school(school_id: int):
    return _set_school_active(school_id, True)


@bp.route("/schools/<int(max=2147483647):school_id>/leaders", methods=["POST"])
@roles_required(*SCHOOL_MANAGERS)
def add_school_leader(school_id: int):
    school = _school_or_404(school_id)
    if not _can_edit_group(school):
        abort(403)
    form = LeadershipForm()
    if not form.validate_on_submit():
        return _render_school(school, 422, leader_form=form)
    status = _run(
        form, lambda: operations.add_leadership_member(tier=school, **_leader_fields(form))
    )
    if status:
        return _render_school(school, status, leader_form=form)
    flash(_("%(name)s has joined the leadership group.", name=form.name.data), "success")
    return redirect(_tier_url(school))


# ---------------------------------------------------------------- classes


@bp.route("/schools/<int(max=2147483647):school_id>/classes", methods=["POST"])
@roles_required(*SCHOOL_MANAGERS)
def add_class(school_id: int):
    school = _school_or_404(school_id)
    if not _can_manage_school(school):
        abort(403)
    form = ClassForm()
    form.head_teacher_id.choices = _teacher_choices(queries.head_teacher_candidates(school))
    if not form.validate_on_submit():
        return _render_school(school, 422, class_form=form)
    status = _run(
        form,
        lambda: operations.create_class(
            school=school,
            grade=form.grade.data,
            number=form.number.data,
            head_teacher_id=form.head_teacher_id.data,
        ),
        conflict=ValidationFailed(_("This class already exists."), field="number"),
    )
    if status:
        return _render_school(school, status, class_form=form)
    name = class_label(form.grade.data, form.number.data)
    flash(_("%(name)s has been added.", name=name), "success")
    return redirect(url_for("org.school_detail", school_id=school.id, _anchor="classes"))


def _class_or_404(class_id: int) -> SchoolClass:
    school_class = get_scoped_or_404(SchoolClass, class_id, current_user)
    if not _can_manage_school(school_class.school):
        abort(403)
    return school_class


@bp.route("/classes/<int(max=2147483647):class_id>/head-teacher", methods=["POST"])
@roles_required(*SCHOOL_MANAGERS)
def set_head_teacher(class_id: int):
    school_class = _class_or_404(class_id)
    school = school_class.school
    form = HeadTeacherForm()
    if form.validate_on_submit():
        status = _run(
            form,
            lambda: operations.update_class(
                school_class,
                head_teacher_id=form.head_teacher_id.data,
                active=school_class.active,
            ),
            default_field="head_teacher_id",
        )
    else:
        status = 422
    if status:
        return _render_school(
            school, status, class_errors={class_id: list(form.head_teacher_id.errors)}
        )
    teacher = school_class.head_teacher
    if teacher is not None:
        flash(
            _(
                "%(teacher)s is now the head teacher of %(name)s.",
                teacher=teacher.display_name,
                name=school_class.name,
            ),
            "success",
        )
    else:
        flash(_("%(name)s has no head teacher now.", name=school_class.name), "success")
    return redirect(
        url_for("org.school_detail", school_id=school.id, _anchor=f"class-{school_class.id}")
    )


def _set_class_active(class_id: int, active: bool):
    school_class = _class_or_404(class_id)
    operations.set_class_active(school_class, active)
    db.session.commit()
    if active:
        flash(_("%(name)s is active again.", name=school_class.name), "success")
    else:
        flash(_("%(name)s has been deactivated.", name=school_class.name), "success")
    return redirect(
        url_for(
            "org.school_detail",
            school_id=school_class.school_id,
            _anchor=f"class-{school_class.id}",
        )
    )


@bp.route("/classes/<int(max=2147483647):class_id>/deactivate", methods=["POST"])
@roles_required(*SCHOOL_MANAGERS)
def deactivate_class(class_id: int):
    return _set_class_active(class_id, False)


@bp.route("/classes/<int(max=2147483647):class_id>/reactivate", methods=["POST"])
@roles_required(*SCHOOL_MANAGERS)
def reactivate_class(class_id: int):
    return _set_class_active(class_id, True)


# ---------------------------------------------------------------- leadership groups


@bp.route("/leaders/<int(max=2147483647):member_id>/remove", methods=["POST"])
@roles_required(*ORG_VIEWERS)
def remove_leader(member_id: int):
    member = get_scoped_or_404(LeadershipMember, member_id, current_user)
    tier: District | Alliance | School | None
    if member.district_id is not None:
        tier = db.session.get(District, member.district_id)
    elif member.alliance_id is not None:
        tier = db.session.get(Alliance, member.alliance_id)
    else:
        tier = db.session.get(School, member.school_id)
    if tier is None or not _can_edit_group(tier):
        abort(403)
    name = member.name
    target = _tier_url(tier)
    operations.remove_leadership_member(member)
    db.session.commit()
    flash(_("%(name)s has left the leadership group.", name=name), "success")
    return redirect(target)
