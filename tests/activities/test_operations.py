"""Activities, teams, hours logs (logged by one person, verified by another, posted by the rule
of the activity's day under the daily cap, corrected by reversal and re-posting), gratitude
participation, thank-you letters and what the donor sees of them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.activities import operations as ops
from app.activities.models import ActivityParticipant, HoursLog
from app.activities.queries import approved_letters_for_pledge, given_name
from app.common import DomainError, ValidationFailed, local_today
from app.extensions import db
from app.points import operations as points
from app.points.models import PointEntry
from tests.points import support as s


@pytest.fixture
def people(world):
    return world.user("teacher_a1"), world.user("officer_a1")


@pytest.fixture
def kids(world):
    return [
        s.student(world.school_a1, world.class_a1, name=n)
        for n in ("王小明", "李华", "赵敏", "钱多多", "孙悟空")
    ]


def _log(activity, kids, minutes, user):
    result = ops.log_hours(activity, [k.id for k in kids], minutes, user=user)
    db.session.commit()
    return result


# ---------------------------------------------------------------- activities and teams


def test_an_activity_needs_a_type_of_its_kind_and_a_team_of_its_school(world, people):
    teacher, _ = people
    school = world.school_a1
    base = dict(kind="volunteer", type="campus", title="护绿", held_on=local_today())
    with pytest.raises(ValidationFailed) as wrong_type:
        ops.create_activity(
            school, ops.ActivityInput(**{**base, "type": "thank_letter"}), user=teacher
        )
    assert wrong_type.value.field == "type"
    other_team = ops.create_team(world.school_a2, name="外校队", user=world.user("teacher_a2"))
    with pytest.raises(ValidationFailed) as wrong_team:
        ops.create_activity(school, ops.ActivityInput(**base, team_id=other_team.id), user=teacher)
    assert wrong_team.value.field == "team_id"
    with pytest.raises(ValidationFailed):
        ops.create_activity(school, ops.ActivityInput(**{**base, "title": " "}), user=teacher)
    with pytest.raises(ops.NotAllowed):
        ops.create_activity(world.school_a2, ops.ActivityInput(**base), user=teacher)
    with pytest.raises(ops.NotAllowed):
        ops.create_activity(school, ops.ActivityInput(**base), user=world.user("clerk_a1"))
    made = ops.create_activity(school, ops.ActivityInput(**base, place="操场"), user=teacher)
    assert made.place == "操场" and made.created_by_id == teacher.id


def test_kind_and_date_are_fixed_once_hours_are_logged(world, people, kids):
    teacher, _ = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    data = ops.ActivityInput(
        kind="volunteer", type="community", title="社区清扫", held_on=activity.held_on
    )
    ops.update_activity(activity, data, user=teacher)  # no records yet: anything goes
    _log(activity, kids[:1], 60, teacher)
    moved = ops.ActivityInput(
        kind="volunteer",
        type="community",
        title="社区清扫",
        held_on=activity.held_on - timedelta(days=1),
    )
    with pytest.raises(DomainError) as refused:
        ops.update_activity(activity, moved, user=teacher)
    assert refused.value.code == "activity_has_records"


def test_teams_have_members_once_each(world, people, kids):
    teacher, _ = people
    team = ops.create_team(
        world.school_a1, name="红领巾志愿者服务队", leader_id=teacher.id, user=teacher
    )
    assert ops.add_members(team, [k.id for k in kids[:3]], user=teacher) == 3
    assert ops.add_members(team, [k.id for k in kids[:4]], user=teacher) == 1
    with pytest.raises(ValidationFailed):
        ops.create_team(world.school_a1, name="红领巾志愿者服务队", user=teacher)
    other = s.student(world.school_a2)
    with pytest.raises(ValidationFailed):
        ops.add_members(team, [other.id], user=teacher)
    ops.remove_member(team, kids[0].id, user=teacher)
    db.session.commit()
    from app.activities.queries import team_students

    assert [st.name for st in team_students(team)] == ["李华", "赵敏", "钱多多"]


# ---------------------------------------------------------------- logging and verifying


def test_a_teacher_logs_a_whole_group_at_once_and_nothing_is_credited_yet(world, people, kids):
    teacher, _ = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    result = _log(activity, kids, 90, teacher)
    assert len(result.logs) == 5 and result.already == []
    assert {log.status for log in result.logs} == {"pending"}
    assert all(s.balance(k.id) == 0 for k in kids)
    again = _log(activity, kids[:2] + [s.student(world.school_a1, name="新同学")], 60, teacher)
    assert len(again.logs) == 1 and [k.name for k in again.already] == ["王小明", "李华"]


@pytest.mark.parametrize("minutes", [0, -30, 24 * 60 + 1, True, 1.5, "60"])
def test_hours_are_checked(world, people, kids, minutes):
    activity = s.volunteer_activity(world.school_a1, people[0])
    with pytest.raises(ValidationFailed):
        ops.log_hours(activity, [kids[0].id], minutes, user=people[0])


def test_only_enrolled_students_of_the_school_and_only_after_the_activity(world, people, kids):
    teacher, _ = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    other = s.student(world.school_a2)
    with pytest.raises(ValidationFailed):
        ops.log_hours(activity, [kids[0].id, other.id], 60, user=teacher)
    with pytest.raises(ValidationFailed):
        ops.log_hours(activity, [], 60, user=teacher)
    future = s.volunteer_activity(
        world.school_a1, teacher, held_on=local_today() + timedelta(days=3)
    )
    with pytest.raises(DomainError) as ahead:
        ops.log_hours(future, [kids[0].id], 60, user=teacher)
    assert ahead.value.code == "activity_in_future"
    gratitude = s.gratitude_activity(world.school_a1, teacher)
    with pytest.raises(DomainError):
        ops.log_hours(gratitude, [kids[0].id], 60, user=teacher)
    assert s.count(HoursLog) == 0


def test_the_logger_may_not_verify_their_own_log(world, people, kids):
    teacher, officer = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    (log,) = _log(activity, kids[:1], 60, teacher).logs
    with pytest.raises(ops.NotAllowed):
        ops.verify_log(log, approved_minutes=60, user=teacher)
    with pytest.raises(ops.NotAllowed):
        ops.verify_log(log, approved_minutes=60, user=world.user("teacher_a2"))  # other school
    with pytest.raises(ops.NotAllowed):
        ops.verify_log(log, approved_minutes=60, user=world.user("admin"))
    db.session.rollback()
    # An officer who logs is refused too; a teacher then verifies the officer's log.
    (own,) = _log(activity, kids[1:2], 60, officer).logs
    with pytest.raises(ops.NotAllowed):
        ops.verify_log(own, approved_minutes=60, user=officer)
    assert ops.verify_log(own, approved_minutes=60, user=teacher).points == 10


def test_verified_hours_post_points_by_the_rule_of_the_activitys_day(world, people, kids):
    teacher, officer = people
    s.rule(world.district, effective_from=date(2025, 1, 1), points_per_hour=10)
    s.rule(world.district, effective_from=local_today(), points_per_hour=99)  # newer: not used
    activity = s.volunteer_activity(
        world.school_a1, teacher, held_on=local_today() - timedelta(days=3)
    )
    (log,) = _log(activity, kids[:1], 150, teacher).logs
    posting = ops.verify_log(log, approved_minutes=150, user=officer)
    db.session.commit()
    assert (posting.points, posting.credited_minutes) == (25, 150)
    assert log.status == "approved" and log.points == 25 and log.verified_by_id == officer.id
    entry = db.session.get(PointEntry, log.entry_id)
    assert (entry.kind, entry.source, entry.source_id, entry.created_by_id) == (
        "volunteer",
        "hours",
        log.id,
        officer.id,
    )
    assert s.balance(kids[0].id) == 25
    with pytest.raises(DomainError) as twice:
        ops.verify_log(log, approved_minutes=150, user=officer)
    assert twice.value.code == "already_verified"


def test_partial_approval_and_rejection_need_a_reason(world, people, kids):
    teacher, officer = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    logs = _log(activity, kids[:2], 120, teacher).logs
    with pytest.raises(ValidationFailed) as no_reason:
        ops.verify_log(logs[0], approved_minutes=60, user=officer)
    assert no_reason.value.field == "note"
    with pytest.raises(ValidationFailed):
        ops.verify_log(logs[0], approved_minutes=150, user=officer)  # more than logged
    part = ops.verify_log(logs[0], approved_minutes=60, note="提前离开", user=officer)
    assert logs[0].status == "partial" and part.points == 10
    assert ops.verify_log(logs[1], approved_minutes=0, note="当天请假", user=officer) is None
    db.session.commit()
    assert logs[1].status == "rejected" and logs[1].decision_note == "当天请假"
    assert [s.balance(k.id) for k in kids[:2]] == [10, 0]
    # A rejected log frees the student for a new one.
    assert len(_log(activity, kids[1:2], 60, teacher).logs) == 1


def test_the_daily_cap_truncates_and_explains(world, people, kids):
    teacher, officer = people
    s.rule(world.district, effective_from=date(2025, 1, 1), points_per_hour=10, max_hours_per_day=4)
    day = local_today() - timedelta(days=1)
    morning = s.volunteer_activity(world.school_a1, teacher, held_on=day, title="上午")
    afternoon = s.volunteer_activity(world.school_a1, teacher, held_on=day, title="下午")
    evening = s.volunteer_activity(world.school_a1, teacher, held_on=day, title="晚上")
    next_day = s.volunteer_activity(world.school_a1, teacher, held_on=local_today(), title="次日")
    kid = kids[0]
    first = ops.verify_log(
        _log(morning, [kid], 180, teacher).logs[0], approved_minutes=180, user=officer
    )
    second = ops.verify_log(
        _log(afternoon, [kid], 120, teacher).logs[0], approved_minutes=120, user=officer
    )
    third = ops.verify_log(
        _log(evening, [kid], 60, teacher).logs[0], approved_minutes=60, user=officer
    )
    fourth = ops.verify_log(
        _log(next_day, [kid], 60, teacher).logs[0], approved_minutes=60, user=officer
    )
    db.session.commit()
    assert (first.credited_minutes, first.points, first.capped) == (180, 30, False)
    assert (second.credited_minutes, second.points, second.capped) == (60, 10, True)
    explained = second.explain()  # the rule's name, in the UI language
    assert "4" in explained
    assert "per student per day" in explained or "每名学生每天" in explained
    assert (third.credited_minutes, third.points) == (0, 0)
    assert third.explain() is not None
    assert fourth.points == 10
    assert s.balance(kid.id) == 50
    assert len(s.entries(kid.id, "volunteer")) == 3  # no zero entry for the capped-out log


def test_a_correction_reverses_and_posts_again(world, people, kids):
    teacher, officer = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    (log,) = _log(activity, kids[:1], 120, teacher).logs
    ops.verify_log(log, approved_minutes=120, user=officer)
    db.session.commit()
    old_entry = log.entry_id
    with pytest.raises(ops.NotAllowed):
        ops.correct_log(log, approved_minutes=60, reason="记多了", user=teacher)  # the logger
    posting = ops.correct_log(log, approved_minutes=60, reason="只参加了一小时", user=officer)
    db.session.commit()
    assert posting.points == 10 and log.status == "partial" and log.entry_id != old_entry
    reversal = db.session.scalars(
        db.select(PointEntry).where(PointEntry.reverses_id == old_entry)
    ).one()
    assert reversal.points == -20 and reversal.reason == "只参加了一小时"
    assert s.balance(kids[0].id) == 10
    # Down to zero: rejected, points gone; up again: posted again.
    assert ops.correct_log(log, approved_minutes=0, reason="未参加", user=officer) is None
    assert s.balance(kids[0].id) == 0 and log.status == "rejected"
    ops.correct_log(log, approved_minutes=180, reason="补记", user=officer)
    db.session.commit()
    assert s.balance(kids[0].id) == 30 and log.status == "approved"
    assert s.ledger_problems() == []


def test_a_correction_cannot_take_back_points_already_spent(world, people, kids):
    teacher, officer = people
    activity = s.volunteer_activity(world.school_a1, teacher)
    (log,) = _log(activity, kids[:1], 120, teacher).logs
    ops.verify_log(log, approved_minutes=120, user=officer)
    points.spend(kids[0], 15, reason="文具")
    db.session.commit()
    with pytest.raises(points.InsufficientPoints):
        ops.correct_log(log, approved_minutes=60, reason="记多了", user=officer)
    db.session.rollback()
    assert s.balance(kids[0].id) == 5


# ---------------------------------------------------------------- gratitude


def test_participants_are_credited_once_by_the_rule(world, people, kids):
    teacher, _ = people
    s.rule(world.district, effective_from=date(2025, 1, 1), points_per_gratitude=7)
    activity = s.gratitude_activity(world.school_a1, teacher)
    first = ops.record_participants(activity, [k.id for k in kids[:3]], user=teacher)
    second = ops.record_participants(activity, [k.id for k in kids[2:4]], user=teacher)
    db.session.commit()
    assert (len(first.added), first.points_each) == (3, 7)
    assert (len(second.added), [k.name for k in second.already]) == (1, ["赵敏"])
    assert [s.balance(k.id) for k in kids] == [7, 7, 7, 7, 0]
    assert s.count(ActivityParticipant) == 4
    entry = s.entries(kids[0].id)[0]
    assert (entry.kind, entry.source) == ("gratitude", "participation")


def test_a_letter_is_approved_by_a_teacher_and_counts_as_participation(world, people, kids):
    teacher, officer = people
    receipt_id = s.donation_receipt(world, "感恩")
    activity = s.gratitude_activity(world.school_a1, teacher)
    letter = ops.create_letter(
        activity, kids[0].id, receipt_id=receipt_id, donor_id=None, body="谢谢您送来的书！",
        photo=None, user=teacher,
    )  # fmt: skip
    db.session.commit()
    assert letter.status == "pending" and letter.grade == 3 and letter.donor_id is not None
    assert s.balance(kids[0].id) == 0
    result = ops.review_letter(letter, approve=True, user=officer)
    db.session.commit()
    assert letter.status == "approved" and len(result.added) == 1
    assert s.balance(kids[0].id) == 5
    with pytest.raises(DomainError):
        ops.review_letter(letter, approve=True, user=officer)
    with pytest.raises(ValidationFailed):
        ops.review_letter(letter, approve=False, user=officer)  # a withdrawal needs a reason
    ops.review_letter(letter, approve=False, note="家长不同意公开", user=officer)
    db.session.commit()
    assert letter.status == "rejected" and s.balance(kids[0].id) == 5


def test_a_letter_needs_content_and_an_addressee_of_the_school(world, people, kids):
    teacher, _ = people
    activity = s.gratitude_activity(world.school_a1, teacher)
    receipt_id = s.donation_receipt(world, "地址")
    foreign = s.donation_receipt(world, "别校", school=world.school_a2)
    kwargs = dict(donor_id=None, body="谢谢", photo=None, user=teacher)
    with pytest.raises(ValidationFailed):
        ops.create_letter(activity, kids[0].id, receipt_id=None, **kwargs)
    with pytest.raises(ValidationFailed):
        ops.create_letter(activity, kids[0].id, receipt_id=foreign, **kwargs)
    with pytest.raises(ValidationFailed):
        ops.create_letter(
            activity,
            kids[0].id,
            receipt_id=receipt_id,
            donor_id=None,
            body=" ",
            photo=None,
            user=teacher,
        )
    with pytest.raises(ValidationFailed):
        ops.create_letter(activity, s.student(world.school_a2).id, receipt_id=receipt_id, **kwargs)
    volunteer = s.volunteer_activity(world.school_a1, teacher)
    with pytest.raises(DomainError):
        ops.create_letter(volunteer, kids[0].id, receipt_id=receipt_id, **kwargs)
    photo = "a" * 32 + ".jpg"
    handwritten = ops.create_letter(
        activity, kids[0].id, receipt_id=receipt_id, donor_id=None, body=None, photo=photo,
        user=teacher,
    )  # fmt: skip
    assert handwritten.body is None


def test_the_donor_sees_approved_letters_with_given_name_and_grade_only(world, people, kids):
    from app.donations.models import Pledge, Receipt

    teacher, officer = people
    receipt_id = s.donation_receipt(world, "认捐", pledge=True)
    pledge = db.session.get(Pledge, db.session.get(Receipt, receipt_id).pledge_id)
    activity = s.gratitude_activity(world.school_a1, teacher)
    approved = ops.create_letter(
        activity, kids[0].id, receipt_id=receipt_id, donor_id=None, body="谢谢叔叔阿姨！",
        photo=None, user=teacher,
    )  # fmt: skip
    to_donor = ops.create_letter(
        activity, kids[1].id, receipt_id=None, donor_id=pledge.donor_id, body=None,
        photo="b" * 32 + ".jpg", user=teacher,
    )  # fmt: skip
    ops.create_letter(
        activity, kids[2].id, receipt_id=receipt_id, donor_id=None, body="待审", photo=None,
        user=teacher,
    )  # fmt: skip
    ops.review_letter(approved, approve=True, user=officer)
    ops.review_letter(to_donor, approve=True, user=officer)
    db.session.commit()
    shown = approved_letters_for_pledge(pledge)
    assert [(p.given_name, p.grade, p.body, p.handwritten) for p in shown] == [
        ("小明", 3, "谢谢叔叔阿姨！", False),
        ("华", 3, None, True),
    ]
    text = repr(shown)
    for full in ("王小明", "李华", "赵敏", "待审"):
        assert full not in text
    # Another donor's pledge shows none of them.
    other = s.donation_receipt(world, "另一位", pledge=True)
    other_pledge = db.session.get(Pledge, db.session.get(Receipt, other).pledge_id)
    assert approved_letters_for_pledge(other_pledge) == []


@pytest.mark.parametrize(
    ("name", "given"),
    [("王小明", "小明"), ("李华", "华"), ("欧阳娜娜", "娜娜"), ("司马光", "光"),
     ("阿依古丽·买买提", "阿依古丽"), ("Anna Smith", "Anna"), ("明", "明"), (" 张三 ", "三")],
)  # fmt: skip
def test_given_name(name, given):
    assert given_name(name) == given
