"""Read helpers for the organisation pages: scoped, a fixed number of queries per page."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload, selectinload

from app.auth.models import User
from app.auth.roles import Role
from app.auth.scope import scoped
from app.extensions import db
from app.org.models import Alliance, District, LeadershipMember, School, SchoolClass, grade_label

_GROUP_ORDER = case({"leader": 0, "deputy": 1}, value=LeadershipMember.group_role, else_=2)


def leadership_of(tier: District | Alliance | School) -> list[LeadershipMember]:
    """A tier's leadership group (领导小组): leader, deputies, then members in the order added."""
    stmt = select(LeadershipMember)
    if isinstance(tier, District):
        stmt = stmt.where(LeadershipMember.district_id == tier.id)
    elif isinstance(tier, Alliance):
        stmt = stmt.where(LeadershipMember.alliance_id == tier.id)
    else:
        stmt = stmt.where(LeadershipMember.school_id == tier.id)
    stmt = stmt.order_by(_GROUP_ORDER, LeadershipMember.sort_order, LeadershipMember.id)
    return list(db.session.scalars(stmt))


def members_in_order(alliance: Alliance) -> list[School]:
    """The lead school first, then active members, then deactivated ones."""
    return sorted(
        alliance.schools, key=lambda s: (s.id != alliance.lead_school_id, not s.active, s.id)
    )


@dataclass
class DistrictOverview:
    district: District
    alliances: list[Alliance]
    unaffiliated: list[School]
    leadership: list[LeadershipMember]
    active_schools: int
    class_counts: dict[int, int] = field(default_factory=dict)


def district_overview(district: District, user: User) -> DistrictOverview:
    """Everything the district page shows, in five queries whatever the district's size."""
    alliances = list(
        db.session.scalars(
            scoped(select(Alliance), user)
            .where(Alliance.district_id == district.id)
            .options(selectinload(Alliance.schools), joinedload(Alliance.lead_school))
            .order_by(Alliance.id)
        ).unique()
    )
    unaffiliated = list(
        db.session.scalars(
            scoped(select(School), user)
            .where(School.district_id == district.id, School.alliance_id.is_(None))
            .order_by(School.active.desc(), School.id)
        )
    )
    active = sum(1 for a in alliances for s in a.schools if s.active) + sum(
        1 for s in unaffiliated if s.active
    )
    school_ids = [s.id for a in alliances for s in a.schools] + [s.id for s in unaffiliated]
    return DistrictOverview(
        district=district,
        alliances=alliances,
        unaffiliated=unaffiliated,
        leadership=leadership_of(district),
        active_schools=active,
        class_counts=class_counts(school_ids),
    )


def class_counts(school_ids: list[int]) -> dict[int, int]:
    """Active classes per school, in one grouped query."""
    if not school_ids:
        return {}
    rows = db.session.execute(
        select(SchoolClass.school_id, func.count())
        .where(SchoolClass.school_id.in_(school_ids), SchoolClass.active)
        .group_by(SchoolClass.school_id)
    )
    return {school_id: int(n) for school_id, n in rows}


def alliance_with_schools(alliance_id: int, user: User) -> Alliance | None:
    """An alliance in scope with its schools and lead school loaded."""
    return db.session.scalars(
        scoped(select(Alliance), user)
        .where(Alliance.id == alliance_id)
        .options(selectinload(Alliance.schools), joinedload(Alliance.lead_school))
    ).first()


def visible_school_ids(user: User, school_ids: list[int]) -> set[int]:
    """Which of these schools the user may open (a school officer sees only their own)."""
    if not school_ids:
        return set()
    return set(
        db.session.scalars(scoped(select(School.id), user, School).where(School.id.in_(school_ids)))
    )


def alliance_options(user: User, district_id: int) -> list[Alliance]:
    return list(
        db.session.scalars(
            scoped(select(Alliance), user)
            .where(Alliance.district_id == district_id)
            .order_by(Alliance.id)
        )
    )


@dataclass
class GradeGroup:
    grade: int
    label: str
    classes: list[SchoolClass]


def classes_by_grade(school: School) -> list[GradeGroup]:
    """The school's classes, grouped by grade, head teachers loaded with them."""
    rows = db.session.scalars(
        select(SchoolClass)
        .where(SchoolClass.school_id == school.id)
        .options(joinedload(SchoolClass.head_teacher))
        .order_by(SchoolClass.grade, SchoolClass.number)
    )
    groups: list[GradeGroup] = []
    for school_class in rows:
        if not groups or groups[-1].grade != school_class.grade:
            groups.append(GradeGroup(school_class.grade, grade_label(school_class.grade), []))
        groups[-1].classes.append(school_class)
    return groups


def staff_count(school: School) -> int:
    """Active staff accounts of the school."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.school_id == school.id, User.active.is_(True))
        )
        or 0
    )


def head_teacher_candidates(school: School) -> list[User]:
    """Active teachers and aid officers of the school, who may be a class's head teacher."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.school_id == school.id,
                User.active.is_(True),
                User.role.in_([Role.TEACHER.value, Role.SCHOOL_OFFICER.value]),
            )
            .order_by(User.display_name, User.id)
        )
    )
