"""Small helpers shared by every domain: time, text and errors."""

from __future__ import annotations

import contextlib
import contextvars
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

_frozen: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("aixin_now", default=None)


def utcnow() -> datetime:
    """Naive UTC: every DateTime column stores UTC without an offset, the same on both databases."""
    frozen = _frozen.get()
    if frozen is not None:
        return frozen
    return datetime.now(UTC).replace(tzinfo=None)


@contextlib.contextmanager
def frozen_time(at: datetime) -> Iterator[None]:
    """Make ``utcnow()`` (and ``local_today()``) return ``at`` (naive UTC) inside the block:
    the demo loader writes a history of past weeks, and tests pin the clock."""
    token = _frozen.set(at)
    try:
        yield
    finally:
        _frozen.reset(token)


def local_zone() -> ZoneInfo:
    name = current_app.config.get("TIMEZONE", "Asia/Shanghai") if has_app_context() else None
    return ZoneInfo(name or "Asia/Shanghai")


def to_local(value: datetime | None) -> datetime | None:
    """A stored naive-UTC time as an aware time in the deployment's zone."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(local_zone())


def isoformat_local(value: datetime | None) -> str | None:
    local = to_local(value)
    return local.isoformat(timespec="seconds") if local else None


def local_today() -> date:
    return utcnow().replace(tzinfo=UTC).astimezone(local_zone()).date()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_chars(value: str) -> bool:
    return bool(_CONTROL.search(value))


def normalise_name(value: str) -> str:
    """Trim and fold full-width spaces and compatibility forms (Ａ → A) that pasted text brings."""
    return unicodedata.normalize("NFKC", value).strip()


class DomainError(Exception):
    """A business rule said no. ``code`` is the API's snake_case error code; views map it to 409."""

    code = "rule_violation"
    status = 409

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class ValidationFailed(DomainError):
    """Input that a form or schema could not catch (e.g. a name already taken): 422 in the API."""

    code = "validation_failed"
    status = 422


MAX_PAGE = 100_000  # a larger page number would overflow OFFSET on SQLite


def page_number(arg: str = "page") -> int:
    """The ``?page=`` of a list page: 1 when missing or not a number, clamped to 1..MAX_PAGE."""
    from flask import request

    try:
        page = int(request.args.get(arg, 1))
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)
