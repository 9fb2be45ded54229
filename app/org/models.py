"""The three tiers of the policy: district → alliance (with its lead school) → school → class."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import get_locale
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.common import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User


class District(db.Model):
    __tablename__ = "district"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    city: Mapped[str | None] = mapped_column(String(100))
    aid_centre_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    alliances: Mapped[list[Alliance]] = relationship(
        back_populates="district", order_by="Alliance.id"
    )
    schools: Mapped[list[School]] = relationship(back_populates="district", order_by="School.id")

    @property
    def district_id(self) -> int:
        return self.id

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        return cls.id == user.district_id


class Alliance(db.Model):
    """教育发展共同体学生资助互助联盟: schools around a lead school (牵头学校)."""

    __tablename__ = "alliance"
    __audited__ = True
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # use_alter: alliance ↔ school reference each other; the FK is added after both tables exist.
    lead_school_id: Mapped[int | None] = mapped_column(
        ForeignKey("school.id", use_alter=True, name="fk_alliance_lead_school_id_school")
    )
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    district: Mapped[District] = relationship(back_populates="alliances")
    lead_school: Mapped[School | None] = relationship(foreign_keys=[lead_school_id])
    schools: Mapped[list[School]] = relationship(
        back_populates="alliance", foreign_keys="School.alliance_id", order_by="School.id"
    )

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.roles import Role

        if user.role == Role.DISTRICT_ADMIN:
            return cls.district_id == user.district_id
        if user.role == Role.ALLIANCE_LEAD:
            return cls.id == user.alliance_id
        return cls.id.in_(select(School.alliance_id).where(School.id == user.school_id))


class School(db.Model):
    __tablename__ = "school"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("district_id", "name"),
        CheckConstraint("stage IN ('primary', 'middle', 'nine_year', 'other')", name="stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    alliance_id: Mapped[int | None] = mapped_column(ForeignKey("alliance.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(16), default="primary")
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    # The named person in charge of the school's 爱心超市 (policy: 明确专人负责).
    supermarket_manager: Mapped[str | None] = mapped_column(String(100))
    supermarket_manager_phone: Mapped[str | None] = mapped_column(String(32))
    # Working days an aid certification's 公示 notice stays up (教财〔2018〕16号: 5 by default).
    publicity_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    district: Mapped[District] = relationship(back_populates="schools")
    alliance: Mapped[Alliance | None] = relationship(
        back_populates="schools", foreign_keys=[alliance_id]
    )
    classes: Mapped[list[SchoolClass]] = relationship(
        back_populates="school", order_by="(SchoolClass.grade, SchoolClass.number)"
    )

    @property
    def is_lead(self) -> bool:
        return self.alliance is not None and self.alliance.lead_school_id == self.id

    @property
    def school_id(self) -> int:
        return self.id

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.roles import Role

        if user.role == Role.DISTRICT_ADMIN:
            return cls.district_id == user.district_id
        if user.role == Role.ALLIANCE_LEAD:
            return cls.alliance_id == user.alliance_id
        return cls.id == user.school_id


GRADE_NAMES_ZH = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]


def _chinese_ui() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


def grade_label(grade: int) -> str:
    """一年级 … 九年级 in Chinese, "Grade 3" in English: numbering differs, not just words."""
    if _chinese_ui() and 1 <= grade <= len(GRADE_NAMES_ZH):
        return f"{GRADE_NAMES_ZH[grade - 1]}年级"
    return f"Grade {grade}"


class SchoolClass(db.Model):
    """A class of a school: grade + number, shown the Chinese way as 三年级(2)班."""

    __tablename__ = "school_class"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("school_id", "grade", "number"),
        CheckConstraint("grade BETWEEN 1 AND 12", name="grade_range"),
        CheckConstraint("number BETWEEN 1 AND 99", name="number_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    head_teacher_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    school: Mapped[School] = relationship(back_populates="classes")
    head_teacher: Mapped[User | None] = relationship(foreign_keys=[head_teacher_id])

    @property
    def name(self) -> str:
        return class_label(self.grade, self.number)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_filter

        return school_filter(cls.school_id, user)


def class_label(grade: int, number: int) -> str:
    """三年级(2)班 / Grade 3 Class 2."""
    if _chinese_ui():
        return f"{grade_label(grade)}({number})班"
    return f"{grade_label(grade)} Class {number}"


LEADERSHIP_ROLES = ("leader", "deputy", "member")


class LeadershipMember(db.Model):
    """A member of a tier's leadership group (领导小组): the district, an alliance or a school."""

    __tablename__ = "leadership_member"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN district_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN alliance_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN school_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_tier",
        ),
        CheckConstraint("group_role IN ('leader', 'deputy', 'member')", name="group_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    alliance_id: Mapped[int | None] = mapped_column(ForeignKey("alliance.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    group_role: Mapped[str] = mapped_column(String(16), default="member")
    position: Mapped[str | None] = mapped_column(String(100))  # 职务, e.g. 校长、德育主任
    phone: Mapped[str | None] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        from app.auth.scope import school_ids_in_scope

        return (
            (cls.district_id == user.district_id)
            | cls.alliance_id.in_(select(Alliance.id).where(Alliance.scope_filter(user)))
            | cls.school_id.in_(school_ids_in_scope(user))
        )

    @property
    def tier(self) -> str:
        if self.district_id:
            return "district"
        return "alliance" if self.alliance_id else "school"
