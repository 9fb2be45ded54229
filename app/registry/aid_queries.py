"""Reading aid certification: who is certified at which level, counts for dashboards, the
lists and history the aid pages show.

Other domains ask only two questions, both here:

* :func:`confirmed_levels` — ``{student_id: level}`` for a school's students in a school year
  (the points domain's monthly allowance);
* :func:`is_certified` — whether a student's certification was in force on a day.

"Certified" means an application of that school year in ``confirmed`` or ``filed`` whose level
has not been revoked (a level change to ``None``). Nothing here is shown to anyone by itself:
views pass the results only to the aid office (see :mod:`app.registry.access`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from app.common import to_local
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry.access import application_filter
from app.registry.certification import CERTIFIED_STATUSES, school_year_of
from app.registry.models import (
    APPLICATION_STATUSES,
    LEVELS,
    AidApplication,
    AidGrant,
    AidLevelChange,
    AidObjection,
    Pairing,
    Student,
)

if TYPE_CHECKING:
    from app.auth.models import User

_CERTIFIED = and_(AidApplication.status.in_(CERTIFIED_STATUSES), AidApplication.level.is_not(None))


# ---------------------------------------------------------------- for other domains


def confirmed_levels(school_id: int, school_year: int) -> dict[int, str]:
    """``{student_id: level}`` of the students now enrolled at the school whose certification
    for ``school_year`` is in force (confirmed or filed, not revoked). A student who moved here
    during the year brings the certification made at the old school along."""
    rows = db.session.execute(
        select(AidApplication.student_id, AidApplication.level)
        .join(Student, Student.id == AidApplication.student_id)
        .where(
            Student.school_id == school_id,
            Student.status == "enrolled",
            AidApplication.school_year == school_year,
            _CERTIFIED,
        )
        .order_by(AidApplication.id)
    ).all()
    return {student_id: level for student_id, level in rows}


def level_on(application: AidApplication, on_date: date) -> str | None:
    """The application's level as it stood at the end of ``on_date`` (level changes after that
    day are undone in thought: the first later change's ``old_level`` was in force)."""
    for change in sorted(application.level_changes, key=lambda c: (c.changed_at, c.id)):
        changed_on = to_local(change.changed_at).date()
        if changed_on > on_date:
            return change.old_level
    return application.level


def is_certified(student_id: int, on_date: date) -> bool:
    """Whether the student's certification for the school year of ``on_date`` was in force on
    that day: confirmed (or filed) by then, and its level not revoked by then."""
    school_year = school_year_of(on_date)
    applications = db.session.scalars(
        select(AidApplication)
        .where(
            AidApplication.student_id == student_id,
            AidApplication.school_year == school_year,
            AidApplication.status.in_(CERTIFIED_STATUSES),
        )
        .options(selectinload(AidApplication.level_changes))
    ).all()
    for application in applications:
        confirmed_at = application.confirmed_at or application.filed_at
        if confirmed_at is None or to_local(confirmed_at).date() > on_date:
            continue
        if level_on(application, on_date) is not None:
            return True
    return False


# ---------------------------------------------------------------- counts


@dataclass
class SchoolCounts:
    """Numbers only — no names — for one school and one school year."""

    school: School
    by_status: dict[str, int] = field(default_factory=dict)
    by_level: dict[str, int] = field(default_factory=dict)  # certified, not revoked
    grants: int = 0
    grants_fen: int = 0
    pairings: int = 0  # active

    @property
    def certified(self) -> int:
        return sum(self.by_level.values())

    @property
    def in_progress(self) -> int:
        return sum(
            self.by_status.get(s, 0)
            for s in ("draft", "class_review", "school_review", "publicity")
        )


def status_counts(school_id: int, school_year: int) -> dict[str, int]:
    rows = db.session.execute(
        select(AidApplication.status, func.count())
        .where(AidApplication.school_id == school_id, AidApplication.school_year == school_year)
        .group_by(AidApplication.status)
    ).all()
    counts = dict.fromkeys(APPLICATION_STATUSES, 0)
    counts.update({status: n for status, n in rows})
    return counts


def school_counts(schools: list[School], school_year: int) -> list[SchoolCounts]:
    """Counts per school (statuses, certified levels, grants, active pairings) in four
    grouped queries, whatever the number of schools."""
    ids = [s.id for s in schools]
    out = {s.id: SchoolCounts(s) for s in schools}
    if not ids:
        return []
    for school_id, status, n in db.session.execute(
        select(AidApplication.school_id, AidApplication.status, func.count())
        .where(AidApplication.school_id.in_(ids), AidApplication.school_year == school_year)
        .group_by(AidApplication.school_id, AidApplication.status)
    ):
        out[school_id].by_status[status] = n
    for school_id, level, n in db.session.execute(
        select(AidApplication.school_id, AidApplication.level, func.count())
        .where(
            AidApplication.school_id.in_(ids),
            AidApplication.school_year == school_year,
            _CERTIFIED,
        )
        .group_by(AidApplication.school_id, AidApplication.level)
    ):
        out[school_id].by_level[level] = n
    for school_id, n, total in db.session.execute(
        select(AidGrant.school_id, func.count(), func.coalesce(func.sum(AidGrant.amount_fen), 0))
        .where(AidGrant.school_id.in_(ids), AidGrant.school_year == school_year)
        .group_by(AidGrant.school_id)
    ):
        out[school_id].grants, out[school_id].grants_fen = n, int(total)
    for school_id, n in db.session.execute(
        select(Pairing.school_id, func.count())
        .where(Pairing.school_id.in_(ids), Pairing.ended_on.is_(None))
        .group_by(Pairing.school_id)
    ):
        out[school_id].pairings = n
    return [out[i] for i in ids]


def totals(rows: list[SchoolCounts]) -> SchoolCounts:
    """The sum of several schools' counts (the school field is left empty)."""
    total = SchoolCounts(school=None)  # type: ignore[arg-type]
    for row in rows:
        for key, n in row.by_status.items():
            total.by_status[key] = total.by_status.get(key, 0) + n
        for key, n in row.by_level.items():
            total.by_level[key] = total.by_level.get(key, 0) + n
        total.grants += row.grants
        total.grants_fen += row.grants_fen
        total.pairings += row.pairings
    return total


def schools_for(user: User) -> list[School]:
    """Active and inactive schools in the user's scope, in the district's order."""
    from app.auth.scope import scoped

    return list(db.session.scalars(scoped(select(School), user).order_by(School.id)).all())


def years_with_data(school_ids: list[int] | None = None) -> list[int]:
    stmt = select(AidApplication.school_year).distinct()
    if school_ids is not None:
        stmt = stmt.where(AidApplication.school_id.in_(school_ids))
    return sorted(db.session.scalars(stmt).all(), reverse=True)


# ---------------------------------------------------------------- lists and pages


def applications_stmt(user: User, *, school_id: int | None, school_year: int, status=None):
    """The applications ``user`` may read, newest first, with student and class loaded."""
    stmt = (
        select(AidApplication)
        .where(application_filter(user), AidApplication.school_year == school_year)
        .options(
            selectinload(AidApplication.student),
            selectinload(AidApplication.school_class),
            selectinload(AidApplication.objections),
        )
    )
    if school_id is not None:
        stmt = stmt.where(AidApplication.school_id == school_id)
    if status:
        stmt = stmt.where(AidApplication.status == status)
    return stmt.order_by(AidApplication.id.desc())


def class_applications(user: User) -> list[AidApplication]:
    """A head teacher's work list: their classes' applications in draft or class review."""
    stmt = (
        select(AidApplication)
        .where(application_filter(user))
        .options(selectinload(AidApplication.student), selectinload(AidApplication.school_class))
        .order_by(AidApplication.status, AidApplication.id)
    )
    return list(db.session.scalars(stmt).all())


def head_teacher_classes(user: User) -> list[SchoolClass]:
    return list(
        db.session.scalars(
            select(SchoolClass)
            .where(
                SchoolClass.head_teacher_id == user.id,
                SchoolClass.school_id == user.school_id,
                SchoolClass.active.is_(True),
            )
            .order_by(SchoolClass.grade, SchoolClass.number)
        ).all()
    )


def filing_queue(user: User, school_year: int | None = None) -> list[AidApplication]:
    """Confirmed certifications of the district waiting for 备案."""
    stmt = (
        select(AidApplication)
        .where(
            application_filter(user),
            AidApplication.status == "confirmed",
            AidApplication.level.is_not(None),  # a revoked certification is not filed
        )
        .options(
            selectinload(AidApplication.student),
            selectinload(AidApplication.school),
            selectinload(AidApplication.school_class),
        )
        .order_by(AidApplication.school_id, AidApplication.class_id, AidApplication.id)
    )
    if school_year is not None:
        stmt = stmt.where(AidApplication.school_year == school_year)
    return list(db.session.scalars(stmt).all())


def students_without_application(school_id: int, school_year: int, class_ids=None):
    """Enrolled students with no open application this year (candidates for a new one)."""
    from app.registry.certification import OPEN_STATUSES

    has_open = (
        select(AidApplication.id)
        .where(
            AidApplication.student_id == Student.id,
            AidApplication.school_year == school_year,
            AidApplication.status.in_(OPEN_STATUSES),
            ~and_(AidApplication.status.in_(CERTIFIED_STATUSES), AidApplication.level.is_(None)),
        )
        .exists()
    )
    stmt = (
        select(Student)
        .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.school_id == school_id, Student.status == "enrolled", ~has_open)
        .options(selectinload(Student.school_class))
        .order_by(SchoolClass.grade, SchoolClass.number, Student.name, Student.id)
    )
    if class_ids is not None:
        stmt = stmt.where(Student.class_id.in_(class_ids))
    return list(db.session.scalars(stmt).all())


def certified_students(school_id: int, school_year: int) -> list[tuple[Student, AidApplication]]:
    """Students now at the school with a certification in force for the year (for grants)."""
    rows = db.session.execute(
        select(Student, AidApplication)
        .join(AidApplication, AidApplication.student_id == Student.id)
        .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
        .where(
            Student.school_id == school_id,
            Student.status == "enrolled",
            AidApplication.school_year == school_year,
            _CERTIFIED,
        )
        .options(selectinload(Student.school_class))
        .order_by(SchoolClass.grade, SchoolClass.number, Student.name, Student.id)
    ).all()
    return [(student, application) for student, application in rows]


def other_years(application: AidApplication, user: User) -> list[AidApplication]:
    """The student's other applications that ``user`` may read (earlier and later years)."""
    return list(
        db.session.scalars(
            select(AidApplication)
            .where(
                AidApplication.student_id == application.student_id,
                AidApplication.id != application.id,
                application_filter(user),
            )
            .order_by(AidApplication.school_year.desc(), AidApplication.id.desc())
        ).all()
    )


@dataclass
class HistoryEntry:
    at: datetime
    actor: str
    kind: str  # "create", "update", "objection", "level_change"
    changes: dict[str, Any]
    object_type: str


def application_history(application: AidApplication) -> list[HistoryEntry]:
    """Every recorded change of the application, its objections and level changes, oldest
    first, from the audit log (which the session hook writes for every audited row)."""
    from app.audit.models import AuditEvent
    from app.auth.models import User

    objection_ids = [o.id for o in application.objections]
    change_ids = [c.id for c in application.level_changes]
    conditions = [
        and_(AuditEvent.object_type == "aid_application", AuditEvent.object_id == application.id)
    ]
    if objection_ids:
        conditions.append(
            and_(AuditEvent.object_type == "aid_objection", AuditEvent.object_id.in_(objection_ids))
        )
    if change_ids:
        conditions.append(
            and_(AuditEvent.object_type == "aid_level_change", AuditEvent.object_id.in_(change_ids))
        )
    from sqlalchemy import or_

    rows = db.session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(or_(*conditions), AuditEvent.action.in_(("create", "update")))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    return [
        HistoryEntry(
            at=event.created_at,
            actor=display_name or event.actor_label,
            kind=event.action,
            changes=event.changes or {},
            object_type=event.object_type,
        )
        for event, display_name in rows
    ]


def open_objections(application_ids: list[int]) -> dict[int, int]:
    if not application_ids:
        return {}
    rows = db.session.execute(
        select(AidObjection.application_id, func.count())
        .where(AidObjection.application_id.in_(application_ids), AidObjection.resolved_at.is_(None))
        .group_by(AidObjection.application_id)
    ).all()
    return dict(rows)


def level_change_counts(school_id: int, school_year: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AidLevelChange)
            .join(AidApplication, AidApplication.id == AidLevelChange.application_id)
            .where(AidApplication.school_id == school_id, AidApplication.school_year == school_year)
        )
        or 0
    )


def level_totals(rows: list[SchoolCounts]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for row in rows:
        for level in LEVELS:
            out[level] += row.by_level.get(level, 0)
    return dict(out)
