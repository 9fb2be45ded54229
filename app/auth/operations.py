"""Changes to accounts: create, edit, disable, passwords, tokens, login."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from app.audit.operations import record_event
from app.auth import passwords
from app.auth.models import ApiToken, User
from app.auth.roles import GRANTABLE, SCHOOL_ROLES, Role
from app.auth.sessions import hash_secret, new_token_secret, revoke_all_sessions
from app.common import DomainError, ValidationFailed, utcnow
from app.extensions import db
from app.org.models import Alliance, School


class WeakPassword(ValidationFailed):
    code = "weak_password"


class UsernameTaken(ValidationFailed):
    code = "username_taken"


class RoleNotGrantable(DomainError):
    code = "role_not_grantable"
    status = 403


def normalise_username(username: str) -> str:
    return username.strip().lower()


def _check_password(password: str, username: str) -> None:
    problems = passwords.password_problems(password, username)
    if problems:
        raise WeakPassword(" ".join(problems), field="password")


def _resolve_scope(
    role: Role, district_id: int, alliance_id: int | None, school_id: int | None
) -> tuple[int, int | None, int | None]:
    """Check the tiers named for a role exist and belong together; return the stored triple."""
    if role == Role.DISTRICT_ADMIN:
        return district_id, None, None
    if role == Role.ALLIANCE_LEAD:
        alliance = db.session.get(Alliance, alliance_id) if alliance_id else None
        if alliance is None or alliance.district_id != district_id:
            raise ValidationFailed(
                _("Choose the alliance this lead is responsible for."), field="alliance_id"
            )
        return district_id, alliance.id, None
    school = db.session.get(School, school_id) if school_id else None
    if school is None or school.district_id != district_id:
        raise ValidationFailed(_("Choose the user's school."), field="school_id")
    return district_id, None, school.id


def create_user(
    *,
    username: str,
    display_name: str,
    role: Role | str,
    password: str,
    district_id: int,
    alliance_id: int | None = None,
    school_id: int | None = None,
    phone: str | None = None,
    created_by: User | None = None,
) -> User:
    """Make a staff account. ``created_by`` (None from the CLI) may only grant roles below it."""
    role = Role(role)
    username = normalise_username(username)
    if created_by is not None:
        if role not in GRANTABLE[created_by.role_enum]:
            raise RoleNotGrantable(_("You may not create users with this role."))
        district_id = created_by.district_id
        if created_by.role in SCHOOL_ROLES:
            school_id = created_by.school_id
    if db.session.scalar(select(func.count()).where(User.username == username)):
        raise UsernameTaken(_("This username is already taken."), field="username")
    _check_password(password, username)
    district_id, alliance_id, school_id = _resolve_scope(role, district_id, alliance_id, school_id)
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role.value,
        district_id=district_id,
        alliance_id=alliance_id,
        school_id=school_id,
        phone=(phone or "").strip() or None,
        password_hash=passwords.hash_password(password),
        password_changed_at=utcnow(),
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    return user


def update_user(
    user: User,
    *,
    editor: User,
    display_name: str,
    role: Role | str,
    phone: str | None,
    alliance_id: int | None = None,
    school_id: int | None = None,
) -> User:
    """Edit another user's name, role and scope, within what the editor may grant."""
    role = Role(role)
    grantable = GRANTABLE[editor.role_enum]
    if role not in grantable or user.role_enum not in grantable:
        raise RoleNotGrantable(_("You may not give or change this role."))
    if editor.role in SCHOOL_ROLES:
        school_id = editor.school_id
    district_id, alliance_id, school_id = _resolve_scope(
        role, user.district_id, alliance_id, school_id
    )
    scope_changed = (user.role, user.alliance_id, user.school_id) != (
        role.value,
        alliance_id,
        school_id,
    )
    user.display_name = display_name.strip()
    user.role = role.value
    user.alliance_id = alliance_id
    user.school_id = school_id
    user.phone = (phone or "").strip() or None
    if scope_changed:
        # New powers or a new school: old sessions must not carry the old scope along.
        revoke_all_sessions(user.id)
        if user.school_id is None or role not in (Role.TEACHER, Role.SCHOOL_OFFICER):
            release_head_teacher_classes(user.id)
        else:
            release_head_teacher_classes(user.id, keep_school_id=user.school_id)
    db.session.flush()
    return user


def set_user_active(user: User, active: bool, *, editor: User) -> None:
    """Enable or disable an account. Disabling ends every session and token at once."""
    if user.id == editor.id:
        raise DomainError(_("You cannot disable your own account."), code="cannot_disable_self")
    if user.role_enum not in GRANTABLE[editor.role_enum]:
        raise RoleNotGrantable(_("You may not change this user."))
    user.active = active
    if not active:
        revoke_all_sessions(user.id)
        revoke_all_tokens(user.id)
        release_head_teacher_classes(user.id)
    db.session.flush()


def release_head_teacher_classes(user_id: int, *, keep_school_id: int | None = None) -> None:
    """A teacher who leaves a school, stops teaching or is disabled heads no class there."""
    from app.org.models import SchoolClass

    stmt = select(SchoolClass).where(SchoolClass.head_teacher_id == user_id)
    if keep_school_id is not None:
        stmt = stmt.where(SchoolClass.school_id != keep_school_id)
    for school_class in db.session.scalars(stmt):
        school_class.head_teacher_id = None  # through the ORM, so the change is audited
    db.session.flush()


def change_password(user: User, *, current: str, new: str, keep_session: str | None) -> None:
    """The user changes their own password; other sessions are signed out."""
    if not passwords.verify_password(user.password_hash, current):
        raise ValidationFailed(_("The current password is wrong."), field="current_password")
    set_password(user, new)
    revoke_all_sessions(user.id, except_key=keep_session)


def set_password(user: User, new: str) -> None:
    _check_password(new, user.username)
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    db.session.flush()


def reset_password(user: User, new: str, *, editor: User) -> None:
    """A manager sets a new password for a user in their scope; the user's sessions end."""
    if user.role_enum not in GRANTABLE[editor.role_enum]:
        raise RoleNotGrantable(_("You may not change this user."))
    set_password(user, new)
    revoke_all_sessions(user.id)
    record_event(
        "reset_password", "user", user.id, district_id=user.district_id, school_id=user.school_id
    )


@dataclass
class LoginResult:
    user: User | None
    reason: str | None = None  # "unknown", "bad_password", "disabled"
    account: User | None = None  # the account tried, if it exists (for the audit log only)


def authenticate(username: str, password: str) -> LoginResult:
    """Check a username and password; re-hash an outdated hash on success."""
    user = db.session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        passwords.burn_verify_time(password)
        return LoginResult(None, "unknown")
    if not passwords.verify_password(user.password_hash, password):
        return LoginResult(None, "bad_password", account=user)
    if not user.active:
        return LoginResult(None, "disabled", account=user)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = utcnow()
    return LoginResult(user)


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``. Returns the row and the secret, which is never stored."""
    secret = new_token_secret()
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100] or "token",
        token_hash=hash_secret(secret),
        prefix=secret[:10],
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def revoke_all_tokens(user_id: int) -> None:
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    record_event("revoke_all_tokens", "user", user_id)


class CannotChangeOwnRole(DomainError):
    code = "cannot_change_own_role"


def update_managed_user(
    user: User,
    *,
    editor: User,
    display_name: str,
    role: Role | str,
    phone: str | None,
    alliance_id: int | None = None,
    school_id: int | None = None,
) -> User:
    """:func:`update_user` for the user-management pages: a manager may edit their own name and
    phone there, but never their own role or scope (they could lock the district out)."""
    if user.id == editor.id and (Role(role).value, alliance_id, school_id) != (
        user.role,
        user.alliance_id,
        user.school_id,
    ):
        raise CannotChangeOwnRole(_("You cannot change your own role or scope."))
    return update_user(
        user,
        editor=editor,
        display_name=display_name,
        role=role,
        phone=phone,
        alliance_id=alliance_id,
        school_id=school_id,
    )
