"""Read helpers for the public home page and the staff dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.auth.models import User
from app.auth.scope import scoped
from app.extensions import db
from app.org.models import Alliance, District, School, SchoolClass


@dataclass
class ScopeSummary:
    alliances: int
    schools: int
    classes: int
    users: int


def scope_summary(user: User) -> ScopeSummary:
    """Counts of what lies in the user's scope, in one round trip per table."""

    def count(model: type) -> int:
        stmt = scoped(select(func.count()).select_from(model), user, model)
        return int(db.session.scalar(stmt) or 0)

    return ScopeSummary(
        alliances=count(Alliance),
        schools=count(School),
        classes=count(SchoolClass),
        users=count(User),
    )


@dataclass
class PublicFigures:
    districts: int
    alliances: int
    schools: int


def public_figures() -> PublicFigures:
    return PublicFigures(
        districts=int(db.session.scalar(select(func.count()).select_from(District)) or 0),
        alliances=int(db.session.scalar(select(func.count()).select_from(Alliance)) or 0),
        schools=int(
            db.session.scalar(select(func.count()).select_from(School).where(School.active)) or 0
        ),
    )


def schools_in_scope(user: User) -> list[School]:
    return list(
        db.session.scalars(
            scoped(select(School), user)
            .options(selectinload(School.alliance))
            .order_by(School.alliance_id, School.id)
            .limit(200)
        )
    )
