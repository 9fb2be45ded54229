"""The demo's points and activities: loaded after the other demo loaders, in time order,
deterministic, with every state the pages show and a clean ledger."""

from __future__ import annotations

from sqlalchemy import func, select

from app.activities.models import GratitudeLetter, HoursLog
from app.audit.operations import acting_as
from app.extensions import db
from app.points.models import PointEntry
from tests.points.support import ledger_problems


def _load() -> dict:
    from app.demo import loaders
    from app.demo.org import load_org
    from app.demo.points import load_points

    with acting_as("demo"):
        ctx: dict = {}
        load_org(ctx)
        for loader in loaders():
            loader(ctx)
        if load_points not in loaders():
            load_points(ctx)
        db.session.commit()
    return ctx


def _counts(column, value):
    return dict(db.session.execute(select(column, value).group_by(column)).all())


def _summary():
    return (
        _counts(HoursLog.status, func.count()),
        _counts(PointEntry.kind, func.sum(PointEntry.points)),
        _counts(GratitudeLetter.status, func.count()),
    )


def test_the_demo_has_every_state_and_a_clean_ledger(app):
    from app.demo import wipe_all_data

    _load()
    logs, kinds, letters = _summary()
    assert logs["pending"] > 0 and logs["approved"] > 0 and logs["partial"] > 0
    assert logs["rejected"] > 0
    assert {"volunteer", "gratitude", "award", "allowance"} <= set(kinds)
    assert letters.get("approved") and letters.get("pending")
    assert ledger_problems() == []
    first = _summary()
    wipe_all_data()
    db.session.commit()
    _load()
    assert _summary() == first  # deterministic
