"""Activities of a school and what students did in them.

* ``Activity``: a volunteer service (校内志愿服务, 红领巾爱心岗, 社区服务 …) or a gratitude
  activity (感恩信, 励志分享 …) on a date, with place, organiser and, for volunteer service, the
  volunteer team (志愿者服务队) that took part.
* ``VolunteerTeam`` / ``VolunteerTeamMember``: a school's standing teams and their students.
* ``HoursLog``: hours a teacher logged for one student at a volunteer activity. A second
  person verifies it (fully, partly or not at all); verified hours post points by the rule in
  force on the activity's date, capped per student per day. A later correction reverses the
  posted entry and posts again; the log keeps the entry now in force.
* ``ActivityParticipant``: a student who took part in a gratitude activity; one credit each.
* ``GratitudeLetter``: a student's thank-you letter (typed, or a photo of the handwritten
  page) to a donation (a ``Receipt``) or a donor. Once a teacher approves it, the donor's
  status page shows it with the student's given name and grade only.
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
    from app.donations.models import Donor, Receipt
    from app.org.models import School
    from app.points.models import PointEntry
    from app.registry.models import Student

ACTIVITY_KINDS = ("volunteer", "gratitude")
VOLUNTEER_TYPES = ("campus", "red_scarf", "community", "environment", "elderly", "other")
GRATITUDE_TYPES = ("thank_letter", "inspiration_talk", "theme_meeting", "donor_meeting", "other")
ACTIVITY_TYPES = tuple(dict.fromkeys(VOLUNTEER_TYPES + GRATITUDE_TYPES))
LOG_STATUSES = ("pending", "approved", "partial", "rejected")
LETTER_STATUSES = ("pending", "approved", "rejected")
MAX_LOG_MINUTES = 24 * 60


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _school_scope(column, user: User) -> ColumnElement[bool]:
    from app.auth.scope import school_filter

    return school_filter(column, user)


class VolunteerTeam(db.Model):
    """志愿者服务队: a school's standing volunteer team."""

    __tablename__ = "volunteer_team"
    __audited__ = True
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # the teacher in charge
    description: Mapped[str | None] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    school: Mapped[School] = relationship()
    leader: Mapped[User | None] = relationship()
    members: Mapped[list[VolunteerTeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="VolunteerTeamMember.id"
    )

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return _school_scope(cls.school_id, user)


class VolunteerTeamMember(db.Model):
    __tablename__ = "volunteer_team_member"
    __audited__ = True
    __table_args__ = (UniqueConstraint("team_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    joined_on: Mapped[date] = mapped_column(Date)

    team: Mapped[VolunteerTeam] = relationship(back_populates="members")
    student: Mapped[Student] = relationship()


class Activity(db.Model):
    """A volunteer service or gratitude activity of one school, on one day."""

    __tablename__ = "activity"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(ACTIVITY_KINDS)}", name="kind"),
        CheckConstraint(f"type IN {_in(ACTIVITY_TYPES)}", name="type"),
        Index("ix_activity_school_held", "school_id", "held_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    kind: Mapped[str] = mapped_column(String(12))
    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(100))
    held_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(100))
    organiser: Mapped[str | None] = mapped_column(String(100))  # 少先队大队部, 德育处 …
    team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    school: Mapped[School] = relationship()
    team: Mapped[VolunteerTeam | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return _school_scope(cls.school_id, user)


class HoursLog(db.Model):
    """Volunteer hours of one student at one activity, logged by a teacher, verified by
    someone else. Minutes are stored; pages speak in hours (half hours allowed)."""

    __tablename__ = "hours_log"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {_in(LOG_STATUSES)}", name="status"),
        CheckConstraint(f"minutes BETWEEN 1 AND {MAX_LOG_MINUTES}", name="minutes"),
        CheckConstraint(
            f"approved_minutes IS NULL OR approved_minutes BETWEEN 0 AND {MAX_LOG_MINUTES}",
            name="approved_minutes",
        ),
        CheckConstraint(
            "credited_minutes IS NULL OR credited_minutes BETWEEN 0 AND approved_minutes",
            name="credited_minutes",
        ),
        CheckConstraint("points >= 0", name="points"),
        Index("ix_hours_log_school_status", "school_id", "status"),
        Index("ix_hours_log_student", "student_id", "activity_id"),
        Index("ix_hours_log_logger", "logged_by_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    minutes: Mapped[int] = mapped_column(Integer)  # as logged
    note: Mapped[str | None] = mapped_column(String(200))  # the logger's
    photo: Mapped[str | None] = mapped_column(String(64))  # evidence, stored file name
    status: Mapped[str] = mapped_column(String(10), default="pending")
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    logged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The verification (and any later correction, which updates these and keeps the old
    # values in the audit log).
    approved_minutes: Mapped[int | None] = mapped_column(Integer)
    credited_minutes: Mapped[int | None] = mapped_column(Integer)  # after the daily cap
    points: Mapped[int] = mapped_column(Integer, default=0)
    decision_note: Mapped[str | None] = mapped_column(String(200))  # why fewer hours / rejected
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("point_rule.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    corrected_at: Mapped[datetime | None] = mapped_column(DateTime)
    correction_reason: Mapped[str | None] = mapped_column(String(200))

    activity: Mapped[Activity] = relationship()
    student: Mapped[Student] = relationship()
    logged_by: Mapped[User] = relationship(foreign_keys=[logged_by_id])
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])
    entry: Mapped[PointEntry | None] = relationship()

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return _school_scope(cls.school_id, user)


class ActivityParticipant(db.Model):
    """A student who took part in a gratitude activity: credited once per activity."""

    __tablename__ = "activity_participant"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("activity_id", "student_id"),
        CheckConstraint("points >= 0", name="points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("point_rule.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    activity: Mapped[Activity] = relationship()
    student: Mapped[Student] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return _school_scope(cls.school_id, user)


class GratitudeLetter(db.Model):
    """A student's thank-you letter to a donation or a donor, within a gratitude activity."""

    __tablename__ = "gratitude_letter"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(f"status IN {_in(LETTER_STATUSES)}", name="status"),
        CheckConstraint("receipt_id IS NOT NULL OR donor_id IS NOT NULL", name="addressee"),
        CheckConstraint("body IS NOT NULL OR photo IS NOT NULL", name="content"),
        Index("ix_gratitude_letter_school_status", "school_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"), index=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donor.id"), index=True)
    grade: Mapped[int | None] = mapped_column(Integer)  # the student's grade when writing
    body: Mapped[str | None] = mapped_column(String(2000))  # typed text (or a transcription)
    photo: Mapped[str | None] = mapped_column(String(64))  # the handwritten page
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_note: Mapped[str | None] = mapped_column(String(200))

    activity: Mapped[Activity] = relationship()
    student: Mapped[Student] = relationship()
    receipt: Mapped[Receipt | None] = relationship()
    donor: Mapped[Donor | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return _school_scope(cls.school_id, user)
