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

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.common import DomainError, ValidationFailed, local_today, local_zone, utcnow
from app.extensions import db
from app.points.models import (
    CREDIT_KINDS,
    AllowancePosting,
    ExpiryPosting,
    PointAccount,
    PointEntry,
    PointRule,
)
from app.registry.models import Student

MAX_POINTS = 1_000_000
# Stored as the allowance's reason; shown to everyone as the kind's neutral label (每月积分).
MONTHLY_POINTS_REASON = "每月积分"


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


def _ensure_account(student: Student) -> None:
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


def lock_account(student: Student) -> int:
    """Take the student's account row for this transaction and return its balance.

    Checks that read first and write after (the daily hours cap, one log per activity, the
    year-start reset) call this first: on PostgreSQL the row lock queues a concurrent
    transaction for the same student until this one ends; on SQLite every write transaction
    holds the database's write lock anyway.
    """
    _ensure_account(student)
    return db.session.execute(
        update(PointAccount)
        .where(PointAccount.student_id == student.id)
        .values(balance=PointAccount.balance)
        .returning(PointAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def balance_of(student_id: int) -> int:
    return (
        db.session.scalar(select(PointAccount.balance).where(PointAccount.student_id == student_id))
        or 0
    )


def _change_balance(student: Student, delta: int) -> int | None:
    """The conditional update; the new balance, or None if it would go below zero."""
    _ensure_account(student)
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
    source: str | None = None,
    source_id: int | None = None,
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
        source=source,
        source_id=source_id,
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
    source: str | None = None,
    source_id: int | None = None,
) -> PointEntry:
    """Add points (volunteer, gratitude, allowance, award)."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"{kind!r} is not a credit")
    _check_points(points)
    if student.status != "enrolled":
        raise DomainError(_("This student has left the school."), code="student_left")
    balance = _change_balance(student, points)
    assert balance is not None  # a credit cannot overdraw
    return _entry(
        student,
        kind,
        points,
        balance,
        reason=reason,
        user_id=user_id,
        rule_id=rule_id,
        source=source,
        source_id=source_id,
    )


@dataclass(frozen=True)
class Spent:
    """A redemption's points entry, as :func:`spend_points` wrote it."""

    entry_id: int
    balance_after: int
    created_at: datetime


_ACCOUNTS = PointAccount.__table__
_ENTRIES = PointEntry.__table__
# The counter's two statements, built once (building costs more than running them on SQLite).
# No row back from the update: the account is missing or holds too few points.
_SPEND = (
    update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.student_id == bindparam("b_student"),
        _ACCOUNTS.c.balance >= bindparam("b_points"),
    )
    .values(balance=_ACCOUNTS.c.balance - bindparam("b_points"), updated_at=bindparam("b_now"))
    .returning(_ACCOUNTS.c.id, _ACCOUNTS.c.balance)
)
_SPEND_ENTRY = (
    insert(_ENTRIES)
    .values(
        student_id=bindparam("b_student"),
        school_id=bindparam("b_school"),
        kind="redemption",
        points=bindparam("b_delta"),
        balance_after=bindparam("b_balance"),
        reason=bindparam("b_reason"),
        created_at=bindparam("b_now"),
        created_by_id=bindparam("b_user"),
        source="counter",
    )
    .returning(_ENTRIES.c.id)
)


def spend_points(
    student_id: int, school_id: int, points: int, *, reason: str | None, user_id: int | None
) -> Spent:
    """Take points for a redemption: the conditional update and the entry, two statements.

    ``InsufficientPoints`` (nothing written) if the balance is too small. SQLAlchemy Core on the
    tables, so the counter's hot path builds no ORM objects; an account already loaded in the
    session is brought in step with the row.
    """
    _check_points(points)
    now = utcnow()
    row = db.session.execute(
        _SPEND, {"b_student": student_id, "b_points": points, "b_now": now}
    ).first()
    if row is None:
        raise InsufficientPoints(_("Not enough points."))
    account_id, balance = row
    loaded = db.session.identity_map.get(identity_key(PointAccount, account_id))
    if loaded is not None:
        set_committed_value(loaded, "balance", balance)
        set_committed_value(loaded, "updated_at", now)
    entry_id = db.session.execute(
        _SPEND_ENTRY,
        {
            "b_student": student_id,
            "b_school": school_id,
            "b_delta": -points,
            "b_balance": balance,
            "b_reason": (reason or "").strip()[:200] or None,
            "b_now": now,
            "b_user": user_id,
        },
    ).scalar_one()
    return Spent(entry_id=entry_id, balance_after=balance, created_at=now)


def spend(
    student: Student,
    points: int,
    *,
    reason: str | None,
    user_id: int | None = None,
) -> PointEntry:
    """:func:`spend_points` for callers that want the entry as an ORM object."""
    spent = spend_points(student.id, student.school_id, points, reason=reason, user_id=user_id)
    return db.session.get(PointEntry, spent.entry_id)


def reverse(entry: PointEntry, *, reason: str, user_id: int | None = None) -> PointEntry:
    """Undo an entry by a compensating one that names it (a redemption's comes back as "void").

    A credit can be reversed only while the balance still holds its points.
    """
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    if entry.reverses_id is not None:
        raise DomainError(_("A correction cannot itself be reversed."), code="cannot_reverse")
    student = db.session.get(Student, entry.student_id)
    lock_account(student)  # two reversals of one entry queue here; the unique index backs it
    done = db.session.scalar(select(func.count()).where(PointEntry.reverses_id == entry.id))
    if done:
        raise DomainError(_("This entry has already been reversed."), code="already_reversed")
    delta = -entry.points
    balance = _change_balance(student, delta)
    if balance is None:
        raise InsufficientPoints(
            _("The points have already been spent; the credit cannot be taken back in full.")
        )
    kind = "void" if entry.kind == "redemption" else "adjustment"
    return _entry(
        student,
        kind,
        delta,
        balance,
        reason=reason,
        user_id=user_id,
        reverses_id=entry.id,
        source="correction",
        source_id=entry.id,
    )


def adjust(student: Student, delta: int, *, reason: str, user_id: int | None) -> PointEntry:
    """A correction by an officer, with a reason."""
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    _check_points(abs(delta) if isinstance(delta, int) and not isinstance(delta, bool) else delta)
    balance = _change_balance(student, delta)
    if balance is None:
        raise InsufficientPoints(_("Not enough points."))
    return _entry(
        student, "adjustment", delta, balance, reason=reason, user_id=user_id, source="correction"
    )


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
    """A teacher credits points (volunteer, gratitude, award) by hand, within the rule's cap
    on manual awards per teacher per day (credits posted by a rule — verified hours, gratitude
    participation — do not count against it)."""
    from app.auth.models import User

    if kind not in ("volunteer", "gratitude", "award"):
        raise ValidationFailed(_("Choose volunteer, gratitude or award."), field="kind")
    if not reason or not reason.strip():
        raise ValidationFailed(_("Give a reason."), field="reason")
    _check_points(points)
    school = student.school
    rule = rule_in_force(school.id, school.district_id)
    # One teacher's awards queue on their user row (PostgreSQL; SQLite has one writer anyway),
    # so two awards sent at once cannot both fit under the cap.
    db.session.execute(select(User.id).where(User.id == teacher_id).with_for_update())
    start, end = _local_day_bounds(local_today())
    given_today = db.session.scalar(
        select(func.coalesce(func.sum(PointEntry.points), 0)).where(
            PointEntry.created_by_id == teacher_id,
            PointEntry.source == "manual",
            PointEntry.created_at >= start,
            PointEntry.created_at < end,
        )
    )
    cap = rule.max_award_points_per_teacher_day
    if given_today + points > cap:
        raise RuleRefused(
            _(
                "Rule “manual awards per teacher per day”: at most %(max)d points a day "
                "(%(left)d left today).",
                max=cap,
                left=max(cap - given_today, 0),
            ),
            field="points",
        )
    return credit(
        student,
        points,
        kind=kind,
        reason=reason,
        user_id=teacher_id,
        rule_id=rule.id,
        source="manual",
    )


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
    posting_id = _insert_ignore(
        AllowancePosting,
        {"student_id": student.id, "month": month, "created_at": utcnow()},
        ["student_id", "month"],
    )
    if posting_id is None:
        return None
    # The reason reads like any other monthly credit: no aid wording (DOMAIN.md §4.1). Pages
    # and the API show the kind's neutral label instead of the stored text anyway.
    entry = credit(
        student,
        points,
        kind="allowance",
        reason=MONTHLY_POINTS_REASON,
        user_id=user_id,
        rule_id=rule_id,
        source="allowance",
        source_id=posting_id,
    )
    db.session.execute(
        update(AllowancePosting)
        .where(AllowancePosting.id == posting_id)
        .values(entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )
    return entry


# ---------------------------------------------------------------- the school-year reset


def expire_balance(
    student: Student, school_year: int, *, user_id: int | None = None
) -> PointEntry | None:
    """Zero the student's balance once for ``school_year`` (the optional reset at the start of
    the school year) with an "expiry" entry. The claim is made even for a zero balance, so a
    second run never takes points earned after the first. Yearly totals stay reportable: they
    are sums of the year's entries, which the reset does not touch."""
    balance = lock_account(student)
    posting_id = _insert_ignore(
        ExpiryPosting,
        {
            "student_id": student.id,
            "school_year": school_year,
            "points": balance,
            "created_at": utcnow(),
        },
        ["student_id", "school_year"],
    )
    if posting_id is None or balance == 0:
        return None
    new_balance = _change_balance(student, -balance)
    assert new_balance == 0  # the row is ours until commit
    entry = _entry(
        student,
        "expiry",
        -balance,
        0,
        reason=_("School-year reset"),
        user_id=user_id,
        source="expiry",
        source_id=posting_id,
    )
    db.session.execute(
        update(ExpiryPosting)
        .where(ExpiryPosting.id == posting_id)
        .values(entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )
    return entry


def reset_school_year(school, school_year: int, *, user_id: int | None = None) -> int | None:
    """The year-start reset of one school, if the rule in force on 1 September asks for it:
    every enrolled student's balance expires once for the year. How many balances were
    reset (None: the school's rule has no reset)."""
    start = date(school_year, 9, 1)
    if start > local_today():
        raise DomainError(
            _("The %(year)d school year has not begun yet.", year=school_year),
            code="year_not_begun",
        )
    rule = rule_in_force(school.id, school.district_id, start)
    if not rule.yearly_reset:
        return None
    students = db.session.scalars(
        select(Student)
        .where(Student.school_id == school.id, Student.status == "enrolled")
        .order_by(Student.id)
    ).all()
    done = 0
    for student in students:
        if expire_balance(student, school_year, user_id=user_id) is not None:
            done += 1
    return done


# ---------------------------------------------------------------- setting rules

RULE_BOUNDS = {
    "points_per_hour": (0, 1000),
    "points_per_gratitude": (0, 1000),
    "max_hours_per_day": (1, 24),
    "max_award_points_per_teacher_day": (0, MAX_POINTS),
    "allowance_severe": (0, 10_000),
    "allowance_moderate": (0, 10_000),
    "allowance_general": (0, 10_000),
}


def create_rule(
    *,
    district_id: int,
    school_id: int | None,
    effective_from: date,
    values: dict,
    yearly_reset: bool,
    user_id: int | None = None,
) -> PointRule:
    """A new rule from a date on: the district's default (no school) or a school's override,
    which replaces the district's rule for that school entirely. Rules already in force are
    never edited, so every past credit stays explained by the rule it names."""
    if not isinstance(effective_from, date) or effective_from < local_today():
        raise ValidationFailed(
            _("A new rule starts today or later; past rules stay as they were."),
            field="effective_from",
        )
    clean = {}
    for key, (low, high) in RULE_BOUNDS.items():
        value = values.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(
                _("Enter a whole number from %(low)d to %(high)d.", low=low, high=high),
                field=key,
            )
        clean[key] = value
    taken = db.session.scalar(
        select(PointRule.id).where(
            PointRule.district_id == district_id,
            PointRule.school_id.is_(None)
            if school_id is None
            else PointRule.school_id == school_id,
            PointRule.effective_from == effective_from,
        )
    )
    if taken:
        raise ValidationFailed(
            _("A rule already starts on that day. Delete it first if it has not started yet."),
            field="effective_from",
        )
    rule = PointRule(
        district_id=district_id,
        school_id=school_id,
        effective_from=effective_from,
        yearly_reset=bool(yearly_reset),
        created_by_id=user_id,
        created_at=utcnow(),
        **clean,
    )
    db.session.add(rule)
    db.session.flush()
    return rule


def delete_rule(rule: PointRule) -> None:
    """Withdraw a rule that has not started yet (nothing can have been credited by it)."""
    if rule.effective_from <= local_today():
        raise DomainError(
            _("This rule is already in force or past: it stays, so history stays explained."),
            code="rule_in_force",
        )
    db.session.delete(rule)
    db.session.flush()
