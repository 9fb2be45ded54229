"""The five staff roles and what scope each one carries (DOMAIN.md §2)."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Role(StrEnum):
    DISTRICT_ADMIN = "district_admin"
    ALLIANCE_LEAD = "alliance_lead"
    SCHOOL_OFFICER = "school_officer"
    TEACHER = "teacher"
    CLERK = "clerk"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])

    @property
    def scope(self) -> str:
        if self is Role.DISTRICT_ADMIN:
            return "district"
        if self is Role.ALLIANCE_LEAD:
            return "alliance"
        return "school"


ROLE_LABELS = {
    Role.DISTRICT_ADMIN: _l("District aid centre admin"),
    Role.ALLIANCE_LEAD: _l("Alliance lead"),
    Role.SCHOOL_OFFICER: _l("School aid officer"),
    Role.TEACHER: _l("Teacher"),
    Role.CLERK: _l("Supermarket counter clerk"),
}

SCHOOL_ROLES = frozenset({Role.SCHOOL_OFFICER, Role.TEACHER, Role.CLERK})

# Which roles a manager may hand out when creating or editing users inside their scope.
GRANTABLE = {
    Role.DISTRICT_ADMIN: frozenset(Role),
    Role.ALLIANCE_LEAD: frozenset(),
    Role.SCHOOL_OFFICER: frozenset({Role.TEACHER, Role.CLERK}),
    Role.TEACHER: frozenset(),
    Role.CLERK: frozenset(),
}

# "X and above" in API-v1.md: the school's own officer, the alliance lead over it, the district.
OFFICER_AND_ABOVE = frozenset({Role.SCHOOL_OFFICER, Role.ALLIANCE_LEAD, Role.DISTRICT_ADMIN})
STAFF_MANAGERS = frozenset({Role.SCHOOL_OFFICER, Role.DISTRICT_ADMIN})
