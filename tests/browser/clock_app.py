"""Test-only WSGI entry: the app with its clock moved, for browser tests that must hold on any day.

    gunicorn 'tests.browser.clock_app:create_clock_app()'

Every request runs inside :func:`app.common.frozen_time` (what ``utcnow()`` and ``local_today()``
read) at the moment this module computes:

* ``AIXIN_TEST_TODAY=YYYY-MM-DD`` pretends today is that day in the deployment's zone, at the
  real time of day (to try the weekend path on a weekday, or the reverse);
* ``AIXIN_TEST_CLOCK_SHIFT`` (on unless ``0``): on a Saturday or Sunday the clock moves forward
  to the next Monday, same time of day. A 公示 decided on a weekend opens on the next working
  day, so without the shift a test that decides and then looks at the public page would depend
  on the weekday it runs on.

Never used outside tests: production serves ``app:create_app()``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app import create_app
from app.common import frozen_time


def test_now(real: datetime, zone: ZoneInfo, *, today: date | None, shift: bool) -> datetime:
    """The moment the app sees (naive UTC) for the real moment ``real`` (aware)."""
    local = real.astimezone(zone)
    if today is not None:
        local = local.replace(year=today.year, month=today.month, day=today.day)
    if shift and local.weekday() >= 5:
        local += timedelta(days=7 - local.weekday())
    return local.astimezone(UTC).replace(tzinfo=None)


test_now.__test__ = False  # a helper, not a pytest test


class ClockShift:
    """WSGI middleware: each request sees the moved clock."""

    def __init__(self, wsgi_app, zone: ZoneInfo, *, today: date | None, shift: bool):
        self.wsgi_app, self.zone, self.today, self.shift = wsgi_app, zone, today, shift

    def __call__(self, environ, start_response):
        now = test_now(datetime.now(UTC), self.zone, today=self.today, shift=self.shift)
        with frozen_time(now):
            return self.wsgi_app(environ, start_response)


def settings_from_env(environ=os.environ) -> tuple[date | None, bool]:
    """(pretended day, shift weekends) as the environment sets them."""
    raw = environ.get("AIXIN_TEST_TODAY") or None
    return (
        date.fromisoformat(raw) if raw else None,
        environ.get("AIXIN_TEST_CLOCK_SHIFT", "1") != "0",
    )


def create_clock_app():
    app = create_app()
    today, shift = settings_from_env()
    zone = ZoneInfo(app.config.get("TIMEZONE") or "Asia/Shanghai")
    app.wsgi_app = ClockShift(app.wsgi_app, zone, today=today, shift=shift)
    return app
