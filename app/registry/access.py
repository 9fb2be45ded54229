"""Who sees what in the registry — the rules, in one place (DOMAIN.md §4, issue 4 item 6).

Roles: DA district admin · SO school officer · HT head teacher · T other teacher · CL clerk ·
AL alliance lead · PUB the public and donors. "own" = the user's own school (or class).

| data                                      | DA       | SO       | HT              | T    | CL   | AL     | PUB |
|-------------------------------------------|----------|----------|-----------------|------|------|--------|-----|
| roster: name, gender, class, care flags   | district | own      | own (read)      | own (read) | — (the counter shows name and class) | — | — |
| 学籍号, ID number, phones, address         | masked, reveal audited | masked, reveal audited | masked | masked | — | — | — |
| aid applications, levels, categories      | district (read, files 备案) | own (every school step) | own class, draft/class review (fill in, class review) | — | — | counts | — |
| aid programmes                            | manage   | read     | —               | —    | —    | —      | —   |
| aid grants                                | district (read, totals, export) | own (record, export) | — | — | — | counts | — |
| pairings                                  | district | own (manage) | as helper (see, log) | as helper (see, log) | — | counts | — |
| 公示 notice (masked name, school, class, level), inside the window only | all | all | all | all | all | all | all |
| exports with personal data (audited)      | district | own      | —               | —    | —    | —      | —   |

"counts" is ``/aid/counts``: per school, how many are certified or in progress, the number and
sum of grants and active pairings — no names. On ``/aid/*`` a role outside a row gets 404.
"—" means the page or API answers 404, the same as for something that does not exist. Clerks
see only what the counter shows (name, class, balance). Everything outside this module asks these
functions; no view decides on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, false, select
from sqlalchemy.sql.elements import ColumnElement

from app.auth.roles import Role
from app.auth.scope import school_filter

if TYPE_CHECKING:
    from app.auth.models import User
    from app.registry.models import AidApplication

AID_OFFICE = frozenset({Role.DISTRICT_ADMIN.value, Role.SCHOOL_OFFICER.value})
ROSTER_READERS = frozenset(
    {Role.DISTRICT_ADMIN.value, Role.SCHOOL_OFFICER.value, Role.TEACHER.value, Role.CLERK.value}
)


def in_aid_office(user: User) -> bool:
    """District admins and school officers: the people who handle aid status."""
    return user.role in AID_OFFICE


def can_reveal_personal_numbers(user: User) -> bool:
    """Unmasking an ID number, 学籍号 or phone (each reveal is audited)."""
    return user.role in AID_OFFICE


def can_export_personal_data(user: User) -> bool:
    return user.role in AID_OFFICE


def application_filter(user: User) -> ColumnElement[bool]:
    """The aid applications a user may read (combine with nothing else: it is the whole rule)."""
    from app.org.models import SchoolClass
    from app.registry.models import AidApplication

    if user.role in AID_OFFICE:
        return school_filter(AidApplication.school_id, user)
    if user.role == Role.TEACHER:
        own_classes = select(SchoolClass.id).where(
            SchoolClass.head_teacher_id == user.id, SchoolClass.school_id == user.school_id
        )
        return and_(
            AidApplication.school_id == user.school_id,
            AidApplication.class_id.in_(own_classes),
            AidApplication.status.in_(("draft", "class_review")),
        )
    return false()


def can_read_application(user: User, application: AidApplication) -> bool:
    from app.extensions import db
    from app.registry.models import AidApplication

    stmt = select(AidApplication.id).where(
        AidApplication.id == application.id, application_filter(user)
    )
    return db.session.scalar(stmt) is not None


def grants_filter(user: User) -> ColumnElement[bool]:
    from app.registry.models import AidGrant

    if user.role in AID_OFFICE:
        return school_filter(AidGrant.school_id, user)
    return false()


def pairing_filter(user: User) -> ColumnElement[bool]:
    """Officers see their school's pairings; a teacher sees the ones they take part in."""
    from app.registry.models import Pairing

    if user.role in AID_OFFICE:
        return school_filter(Pairing.school_id, user)
    if user.role == Role.TEACHER:
        return and_(Pairing.school_id == user.school_id, Pairing.helper_user_id == user.id)
    return false()


def roster_filter(user: User) -> ColumnElement[bool]:
    """Students a user may look up (ordinary school data: no aid status here)."""
    from app.registry.models import Student

    if user.role in ROSTER_READERS:
        return school_filter(Student.school_id, user)
    return false()


def mask_id_number(value: str | None) -> str:
    """410102********1234: region and last four only (DOMAIN.md §4.3)."""
    if not value:
        return ""
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 1)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_student_no(value: str | None) -> str:
    """G410103********1234: a G-学籍号 is masked like the ID number it carries."""
    if value and value.startswith("G") and len(value) == 19:
        return "G" + mask_id_number(value[1:])
    return mask_id_number(value)


def mask_phone(value: str | None) -> str:
    """138****5678."""
    if not value:
        return ""
    digits = value.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """张*明 for 公示: the first and last characters; two-character names keep the first."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
