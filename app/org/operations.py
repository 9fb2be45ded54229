"""Changes to the organisation: alliances, schools, classes and leadership groups."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.auth.models import User
from app.auth.roles import Role
from app.common import DomainError, ValidationFailed
from app.extensions import db
from app.org.models import (
    LEADERSHIP_ROLES,
    Alliance,
    District,
    LeadershipMember,
    School,
    SchoolClass,
)


class NameTaken(ValidationFailed):
    code = "name_taken"


def _name_taken(model: type, district_id: int, name: str, exclude_id: int | None) -> bool:
    stmt = select(func.count()).where(model.district_id == district_id, model.name == name)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return bool(db.session.scalar(stmt))


def create_district(
    *, name: str, code: str, city: str | None = None, aid_centre_name: str | None = None
) -> District:
    district = District(
        name=name.strip(), code=code.strip().lower(), city=city, aid_centre_name=aid_centre_name
    )
    db.session.add(district)
    db.session.flush()
    return district


def create_alliance(*, district_id: int, name: str, note: str | None = None) -> Alliance:
    """A new alliance without schools; name its lead school once a member joins."""
    name = name.strip()
    if _name_taken(Alliance, district_id, name, None):
        raise NameTaken(_("An alliance with this name already exists."), field="name")
    alliance = Alliance(district_id=district_id, name=name, note=note)
    db.session.add(alliance)
    db.session.flush()
    return alliance


def update_alliance(
    alliance: Alliance, *, name: str, note: str | None, lead_school_id: int | None
) -> Alliance:
    """Rename an alliance and appoint its lead school, which must be one of its members."""
    name = name.strip()
    if _name_taken(Alliance, alliance.district_id, name, alliance.id):
        raise NameTaken(_("An alliance with this name already exists."), field="name")
    if lead_school_id is not None:
        lead = db.session.get(School, lead_school_id)
        if lead is None or lead.alliance_id != alliance.id:
            raise ValidationFailed(
                _("The lead school must be a member of the alliance."), field="lead_school_id"
            )
    alliance.name = name
    alliance.note = note
    alliance.lead_school_id = lead_school_id
    db.session.flush()
    return alliance


def create_school(
    *,
    district_id: int,
    name: str,
    alliance_id: int | None = None,
    stage: str = "primary",
    address: str | None = None,
    phone: str | None = None,
    supermarket_manager: str | None = None,
    supermarket_manager_phone: str | None = None,
) -> School:
    name = name.strip()
    if _name_taken(School, district_id, name, None):
        raise NameTaken(_("A school with this name already exists."), field="name")
    _check_alliance(district_id, alliance_id)
    school = School(
        district_id=district_id,
        name=name,
        alliance_id=alliance_id,
        stage=stage,
        address=address,
        phone=phone,
        supermarket_manager=supermarket_manager,
        supermarket_manager_phone=supermarket_manager_phone,
        active=True,
    )
    db.session.add(school)
    db.session.flush()
    return school


def _check_alliance(district_id: int, alliance_id: int | None) -> None:
    if alliance_id is None:
        return
    alliance = db.session.get(Alliance, alliance_id)
    if alliance is None or alliance.district_id != district_id:
        raise ValidationFailed(_("Choose an alliance of this district."), field="alliance_id")


def update_school(school: School, **fields: object) -> School:
    """Edit a school's details (not its alliance: that is :func:`move_school`)."""
    name = str(fields.pop("name", school.name)).strip()
    if _name_taken(School, school.district_id, name, school.id):
        raise NameTaken(_("A school with this name already exists."), field="name")
    school.name = name
    for key in (
        "stage",
        "address",
        "phone",
        "supermarket_manager",
        "supermarket_manager_phone",
        "active",
    ):
        if key in fields:
            setattr(school, key, fields[key])
    db.session.flush()
    return school


def move_school(school: School, alliance_id: int | None) -> School:
    """Move a school to another alliance (or none). A lead school must hand over first."""
    if alliance_id == school.alliance_id:
        return school
    _check_alliance(school.district_id, alliance_id)
    if school.alliance is not None and school.alliance.lead_school_id == school.id:
        raise DomainError(
            _(
                "This is the lead school of %(alliance)s: appoint another lead school first.",
                alliance=school.alliance.name,
            ),
            code="lead_school_cannot_leave",
        )
    school.alliance_id = alliance_id
    db.session.flush()
    return school


def create_class(
    *, school: School, grade: int, number: int, head_teacher_id: int | None = None
) -> SchoolClass:
    exists = db.session.scalar(
        select(func.count()).where(
            SchoolClass.school_id == school.id,
            SchoolClass.grade == grade,
            SchoolClass.number == number,
        )
    )
    if exists:
        raise ValidationFailed(_("This class already exists."), field="number")
    _check_head_teacher(school.id, head_teacher_id)
    school_class = SchoolClass(
        school_id=school.id,
        grade=grade,
        number=number,
        head_teacher_id=head_teacher_id,
        active=True,
    )
    db.session.add(school_class)
    db.session.flush()
    return school_class


def _check_head_teacher(school_id: int, user_id: int | None) -> None:
    if user_id is None:
        return
    teacher = db.session.get(User, user_id)
    if (
        teacher is None
        or teacher.school_id != school_id
        or teacher.role not in (Role.TEACHER, Role.SCHOOL_OFFICER)
    ):
        raise ValidationFailed(
            _("The head teacher must be a teacher of this school."), field="head_teacher_id"
        )


def update_class(
    school_class: SchoolClass, *, head_teacher_id: int | None, active: bool
) -> SchoolClass:
    _check_head_teacher(school_class.school_id, head_teacher_id)
    school_class.head_teacher_id = head_teacher_id
    school_class.active = active
    db.session.flush()
    return school_class


def add_leadership_member(
    *,
    tier: District | Alliance | School,
    name: str,
    group_role: str,
    position: str | None = None,
    phone: str | None = None,
) -> LeadershipMember:
    """Add a person to a tier's leadership group (领导小组)."""
    if group_role not in LEADERSHIP_ROLES:
        raise ValidationFailed(_("Unknown role in the group."), field="group_role")
    member = LeadershipMember(
        name=name.strip(), group_role=group_role, position=position, phone=phone
    )
    if isinstance(tier, District):
        member.district_id = tier.id
    elif isinstance(tier, Alliance):
        member.alliance_id = tier.id
    else:
        member.school_id = tier.id
    count = db.session.scalar(
        select(func.count())
        .select_from(LeadershipMember)
        .where(
            LeadershipMember.district_id == member.district_id
            if member.district_id
            else (
                LeadershipMember.alliance_id == member.alliance_id
                if member.alliance_id
                else LeadershipMember.school_id == member.school_id
            )
        )
    )
    member.sort_order = int(count or 0)
    db.session.add(member)
    db.session.flush()
    return member


def remove_leadership_member(member: LeadershipMember) -> None:
    db.session.delete(member)
    db.session.flush()


def set_school_active(school: School, active: bool) -> School:
    """Deactivate or reactivate a school. A lead school must hand over its alliance first."""
    if not active and school.is_lead:
        raise DomainError(
            _(
                "This is the lead school of %(alliance)s: appoint another lead school first.",
                alliance=school.alliance.name if school.alliance else "",
            ),
            code="lead_school_cannot_leave",
        )
    school.active = active
    db.session.flush()
    return school


def set_class_active(school_class: SchoolClass, active: bool) -> SchoolClass:
    """Deactivate a class (it keeps its history) or bring it back."""
    school_class.active = active
    db.session.flush()
    return school_class
