"""Activities under concurrency (threads with their own sessions, SQLite or PostgreSQL): the
daily hours cap holds when two verifiers post for one student at once; one student gets one
live log per activity and one gratitude credit per activity however many try."""

from __future__ import annotations

from datetime import date, timedelta

from app.activities import operations as ops
from app.activities.models import ActivityParticipant, HoursLog
from app.auth.models import User
from app.common import local_today
from app.extensions import db
from tests.points import support as s
from tests.points.test_concurrency import race


def _user(user_id):
    return db.session.get(User, user_id)


def test_two_verifications_at_once_respect_the_daily_cap(app, world):
    teacher, officer = world.user("teacher_a1"), world.user("officer_a1")
    from app.auth.operations import create_user

    second = create_user(
        username="teacher2_a1",
        display_name="二老师",
        role="teacher",
        password="correct-horse-battery",
        district_id=world.district.id,
        school_id=world.school_a1.id,
    )
    s.rule(world.district, effective_from=date(2025, 1, 1), points_per_hour=10, max_hours_per_day=4)
    day = local_today() - timedelta(days=1)
    kid = s.student(world.school_a1)
    logs = []
    for title in ("上午", "下午", "晚上"):
        activity = s.volunteer_activity(world.school_a1, teacher, held_on=day, title=title)
        logs.append(ops.log_hours(activity, [kid.id], 180, user=teacher).logs[0].id)
    db.session.commit()
    verifiers = [officer.id, second.id, officer.id]
    kid_id = kid.id

    def verify(log_id, user_id):
        return lambda: ops.verify_log(
            db.session.get(HoursLog, log_id), approved_minutes=180, user=_user(user_id)
        )

    outcomes = race(app, [verify(log_id, u) for log_id, u in zip(logs, verifiers, strict=True)])
    assert outcomes == ["ok"] * 3
    credited = db.session.scalars(db.select(HoursLog.credited_minutes)).all()
    assert sum(credited) == 240  # 4 hours, however the three were interleaved
    assert s.balance(kid_id) == 40
    assert s.ledger_problems() == []


def test_one_live_log_per_student_and_activity(app, world):
    teacher = world.user("teacher_a1")
    activity = s.volunteer_activity(world.school_a1, teacher)
    kid = s.student(world.school_a1)
    activity_id, kid_id, teacher_id = activity.id, kid.id, teacher.id
    from app.activities.models import Activity

    def log():
        ops.log_hours(db.session.get(Activity, activity_id), [kid_id], 60, user=_user(teacher_id))

    outcomes = race(app, [log] * 6)
    assert outcomes == ["ok"] * 6  # the others were skipped as "already logged"
    assert s.count(HoursLog) == 1


def test_one_gratitude_credit_per_student_and_activity(app, world):
    teacher = world.user("teacher_a1")
    activity = s.gratitude_activity(world.school_a1, teacher)
    kid = s.student(world.school_a1)
    activity_id, kid_id, teacher_id = activity.id, kid.id, teacher.id
    from app.activities.models import Activity

    def record():
        ops.record_participants(
            db.session.get(Activity, activity_id), [kid_id], user=_user(teacher_id)
        )

    outcomes = race(app, [record] * 6)
    assert outcomes == ["ok"] * 6
    assert s.count(ActivityParticipant) == 1
    assert s.balance(kid_id) == 5
