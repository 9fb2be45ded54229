"""The points ledger (爱心积分) and the rules that credit it.

* ``PointEntry``: append-only; every change of a student's balance is one signed entry with a
  kind, who, when, why and what it came from. Mistakes are undone by a compensating entry that
  points at the original (``reverses_id``), never by editing.
* ``PointAccount``: the cached balance per student, changed only in the same transaction as its
  entry, by a conditional update (``balance + :delta >= 0``), with ``CHECK (balance >= 0)``.
* ``AllowancePosting``: one row per student and month, unique, so the monthly allowance can be
  posted any number of times (also in parallel) and credits once.
* ``PointRule``: district defaults and school overrides, each effective from a date, so every
  past credit stays explainable by the rule then in force.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.common import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User
    from app.registry.models import Student

ENTRY_KINDS = (
    "volunteer",  # verified volunteer hours (志愿服务)
    "gratitude",  # a gratitude activity (励志感恩)
    "allowance",  # the monthly credit (每月积分): like any other credit outside the aid office
    "award",  # a teacher's award
    "redemption",  # spent at the counter
    "void",  # a voided redemption's points back
    "adjustment",  # a correction, e.g. reversing a wrong credit
    "expiry",  # the optional school-year reset
)
CREDIT_KINDS = frozenset({"volunteer", "gratitude", "allowance", "award"})
# What an entry came from (``PointEntry.source``, with ``source_id`` naming the row):
ENTRY_SOURCES = (
    "manual",  # a teacher's award (counts against the teacher's daily cap); no row
    "hours",  # a verified volunteer hours log (activity_hours_log)
    "participation",  # a gratitude activity's participant (activity_participant)
    "allowance",  # the monthly allowance (allowance_posting)
    "expiry",  # the school-year reset (expiry_posting)
    "counter",  # a redemption at the counter
    "correction",  # an officer's adjustment, or a compensating entry (see reverses_id)
)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class PointAccount(db.Model):
    """A student's balance: the cached sum of their entries."""

    __tablename__ = "point_account"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class PointEntry(db.Model):
    """One change of a balance. Never updated or deleted."""

    __tablename__ = "point_entry"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(ENTRY_KINDS)}", name="kind"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_point_entry_student", "student_id", "id"),
        Index("ix_point_entry_school_created", "school_id", "created_at"),
        Index("ix_point_entry_source", "source", "source_id"),
        Index("ix_point_entry_creator_created", "created_by_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))  # where it happened
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int] = mapped_column(Integer)  # signed
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # What the entry came from (at most one is set); a compensating entry names the original.
    # Unique: an entry is undone at most once (NULLs do not clash on either database).
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("point_entry.id"), index=True, unique=True
    )
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("point_rule.id"))
    source: Mapped[str | None] = mapped_column(String(16))  # one of ENTRY_SOURCES
    source_id: Mapped[int | None] = mapped_column(Integer)

    student: Mapped[Student] = relationship()
    created_by: Mapped[User | None] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class AllowancePosting(db.Model):
    """The monthly allowance of one student for one month: at most one, ever."""

    __tablename__ = "allowance_posting"
    __table_args__ = (UniqueConstraint("student_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the deployment's time zone
    # Set in the same transaction, right after the posting row has claimed the month.
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ExpiryPosting(db.Model):
    """The school-year reset of one student for one school year: claimed once, even when the
    balance was already zero (so points earned after the reset are never taken)."""

    __tablename__ = "expiry_posting"
    __table_args__ = (
        UniqueConstraint("student_id", "school_year"),
        CheckConstraint("points >= 0", name="points_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_year: Mapped[int] = mapped_column(Integer)  # 2026 = the 2026–2027 school year
    points: Mapped[int] = mapped_column(Integer, default=0)  # the balance that expired
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PointRule(db.Model):
    """How many points things are worth, from a date on: the district's default, or a school's
    override (``school_id`` set). The rule in force on a day is the latest effective one."""

    __tablename__ = "point_rule"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("district_id", "school_id", "effective_from"),
        CheckConstraint("points_per_hour >= 0", name="per_hour"),
        CheckConstraint("points_per_gratitude >= 0", name="per_gratitude"),
        CheckConstraint("max_hours_per_day > 0", name="max_hours"),
        CheckConstraint("max_award_points_per_teacher_day >= 0", name="max_awards"),
        CheckConstraint(
            "allowance_severe >= 0 AND allowance_moderate >= 0 AND allowance_general >= 0",
            name="allowances",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    points_per_hour: Mapped[int] = mapped_column(Integer, default=10)
    points_per_gratitude: Mapped[int] = mapped_column(Integer, default=5)
    max_hours_per_day: Mapped[int] = mapped_column(Integer, default=4)
    max_award_points_per_teacher_day: Mapped[int] = mapped_column(Integer, default=200)
    allowance_severe: Mapped[int] = mapped_column(Integer, default=60)  # 特别困难, per month
    allowance_moderate: Mapped[int] = mapped_column(Integer, default=40)  # 比较困难
    allowance_general: Mapped[int] = mapped_column(Integer, default=20)  # 一般困难
    yearly_reset: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return cls.district_id == user.district_id
