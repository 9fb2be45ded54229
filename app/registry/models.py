"""The registry (信息库): every school's student roster, and — kept apart from it — the aid
certification of students from economically disadvantaged families, aid grants and pairings.

The roster (``Student``) is ordinary school data that counter clerks and teachers use daily.
Everything that says a child's family is in hardship lives in ``AidApplication`` and the tables
around it, and is read only through :mod:`app.registry.access` (see the table there).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
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
    from app.org.models import School, SchoolClass

GENDERS = ("M", "F")
STUDENT_STATUSES = ("enrolled", "graduated", "transferred_out", "left")
CARE_FLAGS = ("left_behind", "migrant", "orphan", "disabled", "single_parent")

# 教财〔2018〕16号: special groups that are certified without a means test.
SPECIAL_GROUPS = (
    "poverty_alleviated",  # 脱贫家庭
    "monitored",  # 防止返贫监测对象
    "dibao",  # 最低生活保障
    "dibao_edge",  # 低保边缘
    "tekun",  # 特困供养
    "orphan",  # 孤儿
    "de_facto_orphan",  # 事实无人抚养儿童
    "disabled",  # 残疾学生或残疾人子女
    "martyr",  # 烈士子女
    "other",  # 其他
)
LEVELS = ("severe", "moderate", "general")  # 特别困难 / 比较困难 / 一般困难
APPLICATION_STATUSES = (
    "draft",  # being filled in on the family's behalf
    "class_review",  # the class review group looks at it (head teacher)
    "school_review",  # the school's review group decides
    "publicity",  # 公示: the masked notice is public for the window
    "confirmed",  # the window passed without a sustained objection: certified
    "filed",  # 区资助中心 filed it (备案)
    "rejected",
    "withdrawn",
)
AID_MODES = ("government", "social", "alliance", "school")  # 四项资助模式
PAIRING_KINDS = ("school_family", "teacher_student", "student_student", "family_family")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Student(db.Model):
    """A student on a school's roster. The record follows the student between schools."""

    __tablename__ = "student"
    __audited__ = True
    __audit_secret__ = frozenset({"id_number", "guardian_phone", "address"})
    __table_args__ = (
        UniqueConstraint("student_no"),
        UniqueConstraint("id_number"),
        CheckConstraint(f"gender IS NULL OR gender IN {_in(GENDERS)}", name="gender"),
        CheckConstraint(f"status IN {_in(STUDENT_STATUSES)}", name="status"),
        Index("ix_student_school_status", "school_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("school_class.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(1))  # None: not known yet (API minimum)
    student_no: Mapped[str | None] = mapped_column(String(32))  # 全国学籍号
    id_number: Mapped[str | None] = mapped_column(String(18))  # 身份证件号
    birth_date: Mapped[date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))  # 民族
    guardian_name: Mapped[str | None] = mapped_column(String(50))
    guardian_phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    boarding: Mapped[bool] = mapped_column(Boolean, default=False)
    left_behind: Mapped[bool] = mapped_column(Boolean, default=False)  # 留守儿童
    migrant: Mapped[bool] = mapped_column(Boolean, default=False)  # 进城务工人员随迁子女
    orphan: Mapped[bool] = mapped_column(Boolean, default=False)  # 孤儿
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # 残疾
    single_parent: Mapped[bool] = mapped_column(Boolean, default=False)  # 单亲
    photo: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="enrolled")
    left_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The roster import that added the student (its job id), so the roster can list "the
    # students of this import" right after it; None for students added any other way.
    import_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    school: Mapped[School] = relationship()
    school_class: Mapped[SchoolClass | None] = relationship()

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


class StudentMove(db.Model):
    """A change of school or class, or leaving: the history stays when the record moves on."""

    __tablename__ = "student_move"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    from_school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    to_school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    from_class_id: Mapped[int | None] = mapped_column(ForeignKey("school_class.id"))
    to_class_id: Mapped[int | None] = mapped_column(ForeignKey("school_class.id"))
    status_after: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    moved_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    @property
    def school_id(self) -> int | None:
        return self.to_school_id or self.from_school_id


class AidApplication(db.Model):
    """家庭经济困难学生认定: one student, one school year, through class review, school decision,
    公示 and district filing. Read it only through :mod:`app.registry.access`."""

    __tablename__ = "aid_application"
    __audited__ = True
    __audit_secret__ = frozenset({"situation"})
    __table_args__ = (
        CheckConstraint(f"status IN {_in(APPLICATION_STATUSES)}", name="status"),
        CheckConstraint(
            f"recommended_level IS NULL OR recommended_level IN {_in(LEVELS)}", name="rec_level"
        ),
        CheckConstraint(f"level IS NULL OR level IN {_in(LEVELS)}", name="level"),
        Index("ix_aid_application_school_year", "school_id", "school_year", "status"),
        Index("ix_aid_application_student_year", "student_id", "school_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("school_class.id"), index=True)
    school_year: Mapped[int] = mapped_column(Integer)  # 2026 = the 2026–2027 school year
    status: Mapped[str] = mapped_column(String(16), default="draft")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # SPECIAL_GROUPS codes
    situation: Mapped[str | None] = mapped_column(String(2000))  # the family's own account
    written_pledge: Mapped[bool] = mapped_column(Boolean, default=False)  # 书面承诺 signed
    pledge_signed_on: Mapped[date | None] = mapped_column(Date)
    recommended_level: Mapped[str | None] = mapped_column(String(10))
    class_review_note: Mapped[str | None] = mapped_column(String(2000))
    level: Mapped[str | None] = mapped_column(String(10))  # the school's decision
    decision_note: Mapped[str | None] = mapped_column(String(2000))
    publicity_start: Mapped[date | None] = mapped_column(Date)
    publicity_end: Mapped[date | None] = mapped_column(Date)  # last day shown (inclusive)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    class_reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    class_reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    filed_at: Mapped[datetime | None] = mapped_column(DateTime)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    student: Mapped[Student] = relationship()
    school: Mapped[School] = relationship()
    school_class: Mapped[SchoolClass | None] = relationship()
    objections: Mapped[list[AidObjection]] = relationship(
        back_populates="application", order_by="AidObjection.id"
    )
    level_changes: Mapped[list[AidLevelChange]] = relationship(
        back_populates="application", order_by="AidLevelChange.id"
    )


class AidObjection(db.Model):
    """An objection raised during 公示, and how the school resolved it."""

    __tablename__ = "aid_objection"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("aid_application.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    content: Mapped[str] = mapped_column(String(2000))
    resolution: Mapped[str | None] = mapped_column(String(2000))
    upheld: Mapped[bool | None] = mapped_column(Boolean)  # True: the certification is withdrawn
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    application: Mapped[AidApplication] = relationship(back_populates="objections")

    @property
    def school_id(self) -> int:  # for the audit log's district and school
        return self.application.school_id


class AidLevelChange(db.Model):
    """A level changed within the school year (动态调整), with its reason."""

    __tablename__ = "aid_level_change"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("aid_application.id"), index=True)
    old_level: Mapped[str | None] = mapped_column(String(10))
    new_level: Mapped[str | None] = mapped_column(String(10))  # None: no longer certified
    reason: Mapped[str] = mapped_column(String(2000))
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    application: Mapped[AidApplication] = relationship(back_populates="level_changes")

    @property
    def school_id(self) -> int:  # for the audit log's district and school
        return self.application.school_id


class AidProgramme(db.Model):
    """A kind of aid with its default amounts and the aid mode it belongs to."""

    __tablename__ = "aid_programme"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("district_id", "name"),
        CheckConstraint(f"aid_mode IN {_in(AID_MODES)}", name="aid_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    aid_mode: Mapped[str] = mapped_column(String(12))
    description: Mapped[str | None] = mapped_column(String(2000))
    # Default yearly amounts in fen, by stage and boarding (None: no default for that case).
    amounts_fen: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return cls.district_id == user.district_id


class AidGrant(db.Model):
    """A disbursement to one student (资助发放)."""

    __tablename__ = "aid_grant"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_aid_grant_school_paid", "school_id", "paid_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("aid_programme.id"), index=True)
    school_year: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)
    paid_on: Mapped[date] = mapped_column(Date)
    funding_source: Mapped[str | None] = mapped_column(String(100))  # 中央/省/市/区财政, 捐赠人 …
    paid_by: Mapped[str | None] = mapped_column(String(100))  # who paid it out
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    student: Mapped[Student] = relationship()
    programme: Mapped[AidProgramme] = relationship()


class Pairing(db.Model):
    """结对帮扶: school–family, teacher–student, student–student or family–family."""

    __tablename__ = "pairing"
    __audited__ = True
    __table_args__ = (CheckConstraint(f"kind IN {_in(PAIRING_KINDS)}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The helping side: a teacher, a student, or (school / family) a named party.
    helper_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    helper_student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id"))
    helper_name: Mapped[str | None] = mapped_column(String(100))
    # The helped side: a student (and their family).
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(2000))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    student: Mapped[Student] = relationship(foreign_keys=[student_id])
    logs: Mapped[list[PairingLog]] = relationship(
        back_populates="pairing", order_by="PairingLog.happened_on.desc()"
    )


class PairingLog(db.Model):
    """A visit or help given within a pairing."""

    __tablename__ = "pairing_log"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    pairing_id: Mapped[int] = mapped_column(ForeignKey("pairing.id"), index=True)
    happened_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))  # visit, study_help, material, talk, other
    content: Mapped[str] = mapped_column(String(2000))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    pairing: Mapped[Pairing] = relationship(back_populates="logs")

    @property
    def school_id(self) -> int:  # for the audit log's district and school
        return self.pairing.school_id
