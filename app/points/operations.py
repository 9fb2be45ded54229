"""Changes to the points ledger. Balances change only here.

Every change is one conditional update of the cached balance plus one entry, in the caller's
transaction:

    UPDATE point_account SET balance = balance + :delta
    WHERE student_id = :s AND balance + :delta >= 0
    RETURNING balance

No row back means the balance would go below zero: ``InsufficientPoints``, nothing written.
This holds on PostgreSQL (the row stays locked until commit) and on SQLite (write transactions
hold the database's write lock), with ``CHECK (balance >= 0)`` as the backstop.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.common import DomainError, ValidationFailed, local_today, local_zone, utcnow
from app.extensions import db
from app.points.models import CREDIT_KINDS, AllowancePosting, PointAccount, PointEntry, PointRule
from app.registry.models import Student

MAX_POINTS = 1_000_000


class InsufficientPoints(DomainError):
    code = "insufficient_points"


class RuleRefused(DomainError):
    """A points rule said no; the message names the rule."""

    code = "rule_limit"


def _check_points(points: object, field: str = "points") -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise ValidationFailed(_("Points must be a whole number."), field=field)
    if not 1 <= points <= MAX_POINTS:
        raise ValidationFailed(_("Points must be between 1 and 1,000,000."), field=field)
    return points


def _insert_ignore(model, values: dict, keys: list[str]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING; the new row's id, or None if the key existed.
    (RETURNING, because rowcount is not reliable for ORM-enabled inserts on every driver.)"""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return db.session.execute(
        module.insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(model.id)
    ).scalar()


def _change_balance(student: Student, delta: int) -> int | None:
    """The conditional update; the new balance, or None if it would go below zero."""
    _insert_ignore(
        PointAccount,
        {
            "student_id": student.id,
            "school_id": student.school_id,
            "balance": 0,
            "updated_at": utcnow(),
        },
        ["student_id"],
    )
    return db.session.execute(
        update(PointAccount)
        .where(PointAccount.student_id == student.id, PointAccount.balance + delta >= 0)
        .values(
            balance=PointAccount.balance + delta, school_id=student.school_id, updated_at=utcnow()
        )
        .returning(PointAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar()


def _entry(
    student: Student,
    kind: str,
    delta: int,
    balance: int,
    *,
    reason: str | None,
    user_id: int | None,
    reverses_id: int | None = None,
    rule_id: int | None = None,
) -> PointEntry:
    entry = PointEntry(
        student_id=student.id,
        school_id=student.school_id,
        kind=kind,
        points=delta,
        balance_after=balance,
        reason=(reason or "").strip()[:200] or None,
        created_at=utcnow(),
        created_by_id=user_id,
        reverses_id=reverses_id,
        rule_id=rule_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def credit(
    student: Student,
    points: int,
    *,
    kind: str,
    reason: str | None,
    user_id: int | None = None,
    rule_id: int | None = None,
) -> PointEntry:
    """Add points (volunteer, gratitude, allowance, award)."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"{kind!r} is not a credit")
    _check_points(points)
    if student.status != "enrolled":
        raise DomainError(_("This student has left the school."), code="student_left")
    balance = _change_balance(student, points)
    assert balance is not None  # a credit cannot overdraw
    return _entry(student, kind, points, balance, reason=reason, user_id=user_id, rule_id=rule_id)


def spend(
    student: Student, points: int, *, reason: str | None, user_id: int | None = None
) -> PointEntry:
    """Take points for a redemption; ``InsufficientPoints`` (nothing written) if too few."""
    _check_points(points)
    balance = _change_balance(student, -points)
    if balance is None:
        raise InsufficientPoints(_("Not enough points."))
    return _entry(student, "redemption", -points, balance, reason=reason, user_id=user_id)


def reverse(entry: PointEntry, *, reason: str, user_id: int | None = None) -> PointEntry:
    """Undo an entry by a compensating one that names it (a redemption's comes back as "void").

    A credit can be reversed only while the balance still holds its points.
    """
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    if entry.reverses_id is not None:
        raise DomainError(_("A correction cannot itself be reversed."), code="cannot_reverse")
    done = db.session.scalar(select(func.count()).where(PointEntry.reverses_id == entry.id))
    if done:
        raise DomainError(_("This entry has already been reversed."), code="already_reversed")
    student = db.session.get(Student, entry.student_id)
    delta = -entry.points
    balance = _change_balance(student, delta)
    if balance is None:
        raise InsufficientPoints(
            _("The points have already been spent; the credit cannot be taken back in full.")
        )
    kind = "void" if entry.kind == "redemption" else "adjustment"
    return _entry(
        student, kind, delta, balance, reason=reason, user_id=user_id, reverses_id=entry.id
    )


def adjust(student: Student, delta: int, *, reason: str, user_id: int | None) -> PointEntry:
    """A correction by an officer, with a reason."""
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    _check_points(abs(delta) if isinstance(delta, int) and not isinstance(delta, bool) else delta)
    balance = _change_balance(student, delta)
    if balance is None:
        raise InsufficientPoints(_("Not enough points."))
    return _entry(student, "adjustment", delta, balance, reason=reason, user_id=user_id)


# ---------------------------------------------------------------- rules


def rule_in_force(school_id: int, district_id: int, on: date | None = None) -> PointRule:
    """The school's latest override effective on ``on``, else the district's; else defaults."""
    on = on or local_today()
    rule = db.session.scalars(
        select(PointRule)
        .where(
            PointRule.district_id == district_id,
            or_(PointRule.school_id == school_id, PointRule.school_id.is_(None)),
            PointRule.effective_from <= on,
        )
        .order_by(PointRule.school_id.is_(None), PointRule.effective_from.desc())
        .limit(1)
    ).first()
    if rule is None:
        rule = PointRule(district_id=district_id, school_id=None, effective_from=date(2000, 1, 1))
        for column in PointRule.__table__.columns:  # the column defaults, unsaved
            default = column.default
            if default is not None and default.is_scalar and getattr(rule, column.key) is None:
                setattr(rule, column.key, default.arg)
    return rule


def _local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local day, in naive UTC as stored."""
    from datetime import UTC

    start = datetime(day.year, day.month, day.day, tzinfo=local_zone())
    end = start + timedelta(days=1)
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


def award_points(
    student: Student, points: int, *, kind: str, reason: str, teacher_id: int
) -> PointEntry:
    """A teacher credits points (volunteer, gratitude, award), within the daily award cap."""
    if kind not in ("volunteer", "gratitude", "award"):
        raise ValidationFailed(_("Choose volunteer, gratitude or award."), field="kind")
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    _check_points(points)
    school = student.school
    rule = rule_in_force(school.id, school.district_id)
    start, end = _local_day_bounds(local_today())
    given_today = db.session.scalar(
        select(func.coalesce(func.sum(PointEntry.points), 0)).where(
            PointEntry.created_by_id == teacher_id,
            PointEntry.kind.in_(("volunteer", "gratitude", "award")),
            PointEntry.reverses_id.is_(None),
            PointEntry.created_at >= start,
            PointEntry.created_at < end,
        )
    )
    if given_today + points > rule.max_award_points_per_teacher_day:
        raise RuleRefused(
            _(
                "Daily limit for manual awards: %(max)d points per teacher per day "
                "(%(left)d left today).",
                max=rule.max_award_points_per_teacher_day,
                left=max(rule.max_award_points_per_teacher_day - given_today, 0),
            )
        )
    return credit(student, points, kind=kind, reason=reason, user_id=teacher_id, rule_id=rule.id)


# ---------------------------------------------------------------- the monthly allowance


def allowance_for(level: str, rule: PointRule) -> int:
    return {
        "severe": rule.allowance_severe,
        "moderate": rule.allowance_moderate,
        "general": rule.allowance_general,
    }.get(level, 0)


def post_allowance(
    student: Student,
    month: str,
    points: int,
    *,
    user_id: int | None = None,
    rule_id: int | None = None,
) -> PointEntry | None:
    """Credit one student's monthly allowance once: the posting row claims (student, month)
    first; a second run — also a concurrent one — finds it claimed and credits nothing."""
    if points <= 0:
        return None
    claimed = _insert_ignore(
        AllowancePosting,
        {"student_id": student.id, "month": month, "created_at": utcnow()},
        ["student_id", "month"],
    )
    if claimed is None:
        return None
    # The reason reads like any other monthly credit: no aid wording (DOMAIN.md §4.1).
    entry = credit(
        student,
        points,
        kind="allowance",
        reason=_("Monthly points"),
        user_id=user_id,
        rule_id=rule_id,
    )
    db.session.execute(
        update(AllowancePosting)
        .where(AllowancePosting.student_id == student.id, AllowancePosting.month == month)
        .values(entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )
    return entry
