"""Read-only lists for the counter pages: the shelf a clerk sells from, today's checkouts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from app.auth.models import User
from app.auth.roles import Role
from app.auth.scope import scoped
from app.common import local_today, local_zone
from app.counter.models import Card, Redemption, RedemptionLine
from app.extensions import db
from app.inventory.models import Item, StockLevel
from app.org.models import SchoolClass
from app.registry import photos
from app.registry.models import Student


def utc_start(day: date) -> datetime:
    """The UTC instant a local day starts (the counter works in the district's local time)."""
    local = datetime(day.year, day.month, day.day, tzinfo=local_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def shelf(school_id: int, district_id: int) -> list[dict]:
    """The school's in-stock, active catalogue items with their points, for the counter page."""
    rows = select(StockLevel).join(StockLevel.item).options(joinedload(StockLevel.item))
    rows = rows.where(
        StockLevel.school_id == school_id,
        StockLevel.on_hand > 0,
        Item.active.is_(True),
        Item.district_id == district_id,
    ).order_by(Item.category, Item.name, Item.id)
    return [
        {
            "id": level.item.id,
            "name": level.item.name,
            "unit": level.item.unit,
            "points": level.item.points,
            "on_hand": level.on_hand,
        }
        for level in db.session.scalars(rows)
    ]


def today_statement(user: User) -> Select:
    """Today's checkouts: a clerk sees their own, the school's officer all of the school's."""
    today = local_today()
    start = utc_start(today)
    end = utc_start(date.fromordinal(today.toordinal() + 1))
    stmt = scoped(select(Redemption), user).where(
        Redemption.created_at >= start, Redemption.created_at < end
    )
    if user.role == Role.CLERK:
        stmt = stmt.where(Redemption.clerk_id == user.id)
    return stmt.options(
        joinedload(Redemption.student),
        selectinload(Redemption.lines).joinedload(RedemptionLine.item),
    ).order_by(Redemption.created_at.desc(), Redemption.id.desc())


def class_cards(class_id: int) -> list[tuple[Student, Card | None]]:
    """The class's enrolled students, each with their active card (or None)."""
    students = db.session.scalars(
        select(Student)
        .where(Student.class_id == class_id, Student.status == "enrolled")
        .order_by(Student.name, Student.id)
    ).all()
    cards = {
        card.student_id: card
        for card in db.session.scalars(
            select(Card).where(
                Card.student_id.in_([s.id for s in students] or [0]), Card.status == "active"
            )
        )
    }
    return [(student, cards.get(student.id)) for student in students]


def classes_with_counts(school_id: int) -> list[tuple[SchoolClass, int, int]]:
    """The school's classes with (enrolled students, of them with an active card)."""
    active = (
        select(Card.student_id).where(Card.status == "active", Card.school_id == school_id)
    ).scalar_subquery()
    rows = db.session.execute(
        select(
            SchoolClass,
            func.count(Student.id),
            func.count(Student.id).filter(Student.id.in_(active)),
        )
        .outerjoin(Student, (Student.class_id == SchoolClass.id) & (Student.status == "enrolled"))
        .where(SchoolClass.school_id == school_id)
        .group_by(SchoolClass.id)
        .order_by(SchoolClass.grade, SchoolClass.number)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def card_photo_path(code: str, school_id: int) -> Path | None:
    """The stored photo of the enrolled student behind an active card of this school, if any."""
    name = db.session.scalar(
        select(Student.photo)
        .join(Card, Card.student_id == Student.id)
        .where(
            Card.code == code,
            Card.status == "active",
            Card.school_id == school_id,
            Student.school_id == school_id,
            Student.status == "enrolled",
        )
    )
    return photos.photo_path(name)
