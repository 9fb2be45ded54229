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

    @property
    def url(self) -> str:
        return url_for(self.endpoint)

    @property
    def active(self) -> bool:
        return (request.endpoint or "").split(".")[0] == self.endpoint.split(".")[0]


_ALL = frozenset(str(r) for r in Role)
_ADMIN = frozenset({Role.DISTRICT_ADMIN.value})
_MANAGERS = frozenset({Role.DISTRICT_ADMIN.value, Role.SCHOOL_OFFICER.value})
_ORG = frozenset({Role.DISTRICT_ADMIN.value, Role.ALLIANCE_LEAD.value, Role.SCHOOL_OFFICER.value})

# Later issues append their entries here (donations, stock, registry, points, counter …).
NAV_ITEMS: list[NavItem] = [
    NavItem(_l("Dashboard"), "portal.dashboard", _ALL),
    NavItem(_l("Organisation"), "org.index", _ORG),
    NavItem(_l("Users"), "users.index", _MANAGERS),
    NavItem(_l("Audit log"), "audit.index", _ADMIN),
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
