"""Template helpers: the navigation each role sees, formatting filters."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, url_for
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth.roles import Role
from app.i18n import LANG_COOKIE


@dataclass(frozen=True)
class NavItem:
    label: object
    endpoint: str
    roles: frozenset[str]
    # Setting-up pages used now and then go under one "Administration" menu.
    admin: bool = False

    @property
    def url(self) -> str:
        return url_for(self.endpoint)

    @property
    def active(self) -> bool:
        return (request.endpoint or "").split(".")[0] == self.endpoint.split(".")[0]


_ALL = frozenset(str(r) for r in Role)
_ADMIN = frozenset({Role.DISTRICT_ADMIN.value})
_MANAGERS = frozenset({Role.DISTRICT_ADMIN.value, Role.SCHOOL_OFFICER.value})
_COUNTER = frozenset({Role.CLERK.value, Role.SCHOOL_OFFICER.value})
_ORG = frozenset({Role.DISTRICT_ADMIN.value, Role.ALLIANCE_LEAD.value, Role.SCHOOL_OFFICER.value})

# In the order of daily use; setting-up pages (admin=True) sit in the "Administration" menu.
NAV_ITEMS: list[NavItem] = [
    NavItem(_l("Dashboard"), "portal.dashboard", _ALL),
    NavItem(_l("Counter"), "counter.index", _COUNTER),
    NavItem(_l("Students"), "registry.index", _MANAGERS | {Role.TEACHER.value}),
    NavItem(_l("Activities"), "activities.index", _MANAGERS | {Role.TEACHER.value}),
    NavItem(_l("Points"), "points.index", _MANAGERS | {Role.TEACHER.value}),
    NavItem(_l("Class review & pairing"), "aid.mine", frozenset({Role.TEACHER.value})),
    NavItem(_l("Aid certification"), "aid.index", _MANAGERS),
    NavItem(_l("Aid figures"), "aid.counts", frozenset({Role.ALLIANCE_LEAD.value})),
    NavItem(_l("Donations"), "donations.index", _ORG),
    NavItem(_l("Stock"), "inventory.index", _ORG),
    NavItem(_l("Catalogue"), "catalogue.index", _ALL, admin=True),
    NavItem(_l("Organisation"), "org.index", _ORG, admin=True),
    NavItem(_l("Users"), "users.index", _MANAGERS, admin=True),
    NavItem(_l("Audit log"), "audit.index", _ADMIN, admin=True),
]


def nav_for_current_user() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [item for item in NAV_ITEMS if current_user.role in item.roles]


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict:
        return {
            "nav_items": nav_for_current_user(),
            "languages": app.config["LANGUAGES"],
            "lang_cookie": LANG_COOKIE,
            "Role": Role,
            "get_locale": get_locale,
        }

    @app.template_filter("dt")
    def _dt(value, fmt: str = "medium"):
        return format_datetime(value, fmt) if value else ""

    @app.template_filter("d")
    def _d(value, fmt: str = "medium"):
        return format_date(value, fmt) if value else ""

    @app.template_filter("num")
    def _num(value):
        return format_decimal(value) if value is not None else ""
