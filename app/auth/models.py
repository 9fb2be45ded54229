"""Staff accounts, their server-side sessions and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.auth.roles import SCHOOL_ROLES, Role
from app.common import utcnow
from app.extensions import db
from app.org.models import Alliance, District, School

_SCOPE_SHAPE = (
    "(role = 'district_admin' AND alliance_id IS NULL AND school_id IS NULL)"
    " OR (role = 'alliance_lead' AND alliance_id IS NOT NULL AND school_id IS NULL)"
    " OR (role IN ('school_officer', 'teacher', 'clerk')"
    " AND school_id IS NOT NULL AND alliance_id IS NULL)"
)


class User(db.Model):
    """A staff member with exactly one role and the scope that role implies.

    A district admin's scope is their district, an alliance lead's their alliance, everyone
    else's their school. School users carry no alliance_id: their alliance is the school's, which
    follows the school when the district moves it.
    """

    __tablename__ = "user"
    __audited__ = True
    __audit_secret__ = frozenset({"password_hash"})
    # A login already has its own event; the re-hash at login is not a password change.
    __audit_ignore__ = frozenset({"last_login_at"})
    __table_args__ = (
        CheckConstraint(
            "role IN ('district_admin', 'alliance_lead', 'school_officer', 'teacher', 'clerk')",
            name="role",
        ),
        CheckConstraint(_SCOPE_SHAPE, name="scope_shape"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    alliance_id: Mapped[int | None] = mapped_column(ForeignKey("alliance.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)

    district: Mapped[District] = relationship()
    alliance: Mapped[Alliance | None] = relationship()
    school: Mapped[School | None] = relationship()

    # Flask-Login protocol. get_id() is the *session* id, set per request by the loader, so a
    # revoked session or a disabled user is out at once (see app.auth.sessions).
    session_key = None  # not a column: set per request

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_key

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def role_label(self) -> str:
        return Role(self.role).label

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in {str(r) for r in roles}

    @property
    def is_school_user(self) -> bool:
        return self.role in SCHOOL_ROLES

    @property
    def effective_alliance_id(self) -> int | None:
        """The alliance above the user's scope: their own, or their school's."""
        if self.alliance_id is not None:
            return self.alliance_id
        return self.school.alliance_id if self.school is not None else None

    @property
    def scope_label(self) -> str:
        if self.school is not None:
            return self.school.name
        if self.alliance is not None:
            return self.alliance.name
        return self.district.name

    @classmethod
    def scope_filter(cls, user: User) -> ColumnElement[bool]:
        if user.role == Role.DISTRICT_ADMIN:
            return cls.district_id == user.district_id
        if user.role == Role.ALLIANCE_LEAD:
            from app.auth.scope import school_ids_in_scope

            return (cls.alliance_id == user.alliance_id) | cls.school_id.in_(
                school_ids_in_scope(user)
            )
        return cls.school_id == user.school_id


class UserSession(db.Model):
    """A login. The browser holds a random key; we keep its SHA-256 and check it every request."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"
    __audited__ = True
    __audit_secret__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()

    @property
    def district_id(self) -> int:
        return self.user.district_id
