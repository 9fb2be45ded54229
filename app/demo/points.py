"""Demo points and activities at 陇西小学 and 幸福路小学: the district's points rule (and one
school's override), volunteer teams, six weeks of volunteer service with hours logged by the
teachers and verified, partly approved or rejected by the aid officers (some still waiting, so
the queue and "my logs" have something to show), gratitude activities with participants and
thank-you letters to real donations of the donations demo (approved and waiting), a few
teachers' awards and this month's monthly points for the certified students of the aid demo.

Runs after the donations, roster and aid loaders, and takes the schools' enrolled students
from the database in id order (a few are put on the roster if a class is still empty). Dates
are relative to today and every event runs in time order (``frozen_time``), so each history
reads naturally. Deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.activities import operations as ops
from app.common import frozen_time, local_today
from app.demo import data
from app.donations.models import Receipt
from app.extensions import db
from app.org.models import School, SchoolClass
from app.points import operations as points
from app.points.allowance import current_month, post_monthly_allowance
from app.points.models import PointRule
from app.registry import operations as roster
from app.registry.models import Student

Event = tuple[datetime, int, Callable[[], None]]


def _moment(day: date, hour_local: int) -> datetime:
    """``hour_local`` o'clock in Beijing on ``day``, as naive UTC."""
    return datetime(day.year, day.month, day.day) + timedelta(hours=hour_local - 8)


def _class(school: School, grade: int, number: int) -> SchoolClass | None:
    return next((c for c in school.classes if (c.grade, c.number) == (grade, number)), None)


def _class_students(school: School, school_class: SchoolClass | None, need: int, offset: int):
    """The class's enrolled students (by id); made up from the demo lists if fewer than ``need``."""
    stmt = select(Student).where(Student.school_id == school.id, Student.status == "enrolled")
    if school_class is not None:
        stmt = stmt.where(Student.class_id == school_class.id)
    found = list(db.session.scalars(stmt.order_by(Student.id)).all())
    k = offset
    while len(found) < need:
        k += 1
        name = (
            data.SURNAMES[(k * 13) % len(data.SURNAMES)] + data.GIVEN[(k * 5 + 1) % len(data.GIVEN)]
        )
        found.append(
            roster.add_student(
                school,
                roster.StudentInput(
                    name=name,
                    gender="F" if k % 2 else "M",
                    class_id=school_class.id if school_class else None,
                ),
            )
        )
    db.session.flush()
    return found


class _Timeline:
    """Events collected first, then run in time order, each at its own moment."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def at(self, moment: datetime, action: Callable[[], None]) -> None:
        self.events.append((moment, len(self.events), action))

    def run(self) -> None:
        for moment, _n, action in sorted(self.events, key=lambda e: (e[0], e[1])):
            with frozen_time(moment):
                action()
                db.session.flush()


def _rules(district_id: int, schools: dict[str, School], admin_id: int, today: date) -> None:
    start = date(today.year - 1 if today.month < 9 else today.year, 9, 1) - timedelta(days=365)
    db.session.add(
        PointRule(
            district_id=district_id,
            effective_from=start,
            points_per_hour=10,
            points_per_gratitude=5,
            max_hours_per_day=4,
            max_award_points_per_teacher_day=200,
            allowance_severe=60,
            allowance_moderate=40,
            allowance_general=20,
            yearly_reset=False,
            created_by_id=admin_id,
            created_at=_moment(start - timedelta(days=10), 9),
        )
    )
    xingfu = schools.get("幸福路小学")
    if xingfu is not None:
        override_from = today - timedelta(days=60)
        db.session.add(
            PointRule(
                district_id=district_id,
                school_id=xingfu.id,
                effective_from=override_from,
                points_per_hour=12,
                points_per_gratitude=6,
                max_hours_per_day=3,
                max_award_points_per_teacher_day=150,
                allowance_severe=60,
                allowance_moderate=40,
                allowance_general=20,
                yearly_reset=False,
                created_at=_moment(override_from - timedelta(days=3), 15),
            )
        )
    db.session.flush()


def _school_demo(
    t: _Timeline,
    school: School,
    teacher,
    officer,
    today: date,
    *,
    offset: int,
    big: bool,
) -> None:
    main_class = _class(school, 3, 2) or next((c for c in school.classes if c.active), None)
    other_class = _class(school, 5, 1) or main_class
    kids = _class_students(school, main_class, 10, offset)
    older = _class_students(school, other_class, 6, offset + 50)

    with frozen_time(_moment(today - timedelta(days=50), 16)):
        team = ops.create_team(
            school,
            name="红领巾志愿者服务队",
            leader_id=teacher.id,
            description="少先队员轮流在校门口、图书角和食堂值勤，周末参加社区服务。",
            user=teacher,
        )
        ops.add_members(team, [s.id for s in kids[:6] + older[:3]], user=teacher)
        if big:
            green = ops.create_team(
                school,
                name="绿色环保小队",
                description="垃圾分类宣传、校园绿化养护。",
                user=officer,
            )
            ops.add_members(green, [s.id for s in older], user=officer)

    def activity(days_ago, kind, type_, title, place, organiser, *, team_id=None, by=teacher):
        day = today - timedelta(days=days_ago)
        with frozen_time(_moment(day - timedelta(days=3), 9)):
            return ops.create_activity(
                school,
                ops.ActivityInput(
                    kind=kind,
                    type=type_,
                    title=title,
                    held_on=day,
                    place=place,
                    organiser=organiser,
                    team_id=team_id,
                ),
                user=by,
            )

    def log(act, students, minutes, *, by=teacher, note=None, hours_after=10):
        def run():
            result = ops.log_hours(act, [s.id for s in students], minutes, user=by, note=note)
            logs.setdefault(act.id, []).extend(result.logs)

        t.at(_moment(act.held_on, hours_after), run)

    def verify(act, days_after, decisions, *, by=officer):
        """decisions: list of (index into the activity's logs, approved minutes, note)."""

        def run():
            mine = logs[act.id]
            for index, approved, note in decisions:
                ops.verify_log(mine[index], approved_minutes=approved, note=note, user=by)

        t.at(_moment(act.held_on + timedelta(days=days_after), 11), run)

    logs: dict[int, list] = {}
    duty = activity(
        38, "volunteer", "red_scarf", "红领巾爱心岗：校门口文明值勤", "学校东门", "少先队大队部",
        team_id=team.id,
    )  # fmt: skip
    log(duty, kids[:6], 60, note="早七点二十到八点")
    verify(duty, 1, [(i, 60, None) for i in range(6)])

    books = activity(31, "volunteer", "campus", "图书角整理与借阅登记", "三楼图书角", "德育处")
    log(books, kids[2:8], 90)
    verify(books, 2, [(0, 90, None), (1, 90, None), (2, 60, "中途去上课外班，实际一小时"),
                      (3, 90, None), (4, 0, "当天请假，未参加"), (5, 90, None)])  # fmt: skip

    community = activity(
        24, "volunteer", "community", "走进敬老院：陪老人读报聊天", "幸福里社区敬老院",
        "少先队大队部", team_id=team.id,
    )  # fmt: skip
    log(community, kids[:4] + older[:2], 180, note="周六上午")
    # One student also worked in the afternoon that day: the daily cap holds back an hour.
    afternoon = activity(
        24, "volunteer", "environment", "社区垃圾分类宣传", "幸福里社区广场", "社区居委会"
    )
    log(afternoon, kids[:1], 120, hours_after=17)
    verify(community, 2, [(i, 180, None) for i in range(6)])
    verify(afternoon, 2, [(0, 120, None)])

    if big:
        green_day = activity(
            17, "volunteer", "environment", "校园绿化养护", "校园花坛", "总务处", team_id=green.id,
            by=officer,
        )  # fmt: skip
        log(green_day, older, 60, by=officer)
        verify(green_day, 1, [(i, 60, None) for i in range(len(older))], by=teacher)

    canteen = activity(9, "volunteer", "campus", "食堂文明就餐引导", "学校食堂", "德育处")
    log(canteen, kids[4:9], 30)
    verify(canteen, 1, [(0, 30, None), (1, 30, None), (2, 30, None)])  # two still waiting

    lately = activity(
        2, "volunteer", "red_scarf", "红领巾爱心岗：雨天护送低年级", "教学楼走廊", "少先队大队部",
        team_id=team.id,
    )  # fmt: skip
    log(lately, kids[:5], 60)  # waiting for the officer

    # Gratitude: a letter-writing activity and an inspirational talk.
    letters = activity(
        20, "gratitude", "thank_letter", "给爱心人士写一封感恩信", "三年级(2)班教室", "班主任"
    )
    talk = activity(
        13, "gratitude", "inspiration_talk", "励志分享会：我的成长故事", "学校报告厅", "德育处"
    )

    def participants(act, students, days_after=0):
        t.at(
            _moment(act.held_on + timedelta(days=days_after), 15),
            lambda: ops.record_participants(act, [s.id for s in students], user=teacher),
        )

    participants(talk, kids[:8] + older[:2])

    receipts = list(
        db.session.scalars(
            select(Receipt)
            .where(Receipt.school_id == school.id, Receipt.donor_id.is_not(None))
            .order_by(Receipt.id)
            .limit(3)
        )
    )
    bodies = [
        "亲爱的爱心人士：谢谢您送来的图书和文具！我每天都认真读书，还把故事讲给同桌听。"
        "我会好好学习，长大了也像您一样帮助别人。",
        "谢谢叔叔阿姨送来的新书包，背上它上学我特别开心。我会爱惜它，也会努力学习。",
        "感谢您的关爱！冬天快到了，您送的手套和围巾很暖和。祝您身体健康，万事如意！",
    ]
    written: list = []
    for i, receipt in enumerate(receipts):
        student = kids[i]

        def write(receipt=receipt, student=student, body=bodies[i % len(bodies)]):
            written.append(
                ops.create_letter(
                    letters,
                    student.id,
                    receipt_id=receipt.id,
                    donor_id=None,
                    body=body,
                    photo=None,
                    user=teacher,
                )
            )

        t.at(_moment(letters.held_on, 14 + i), write)

    def review():
        for i, letter in enumerate(written):
            if i < 2:  # the last one still waits for a teacher's approval
                ops.review_letter(letter, approve=True, user=officer)

    t.at(_moment(letters.held_on + timedelta(days=2), 10), review)

    # A few awards by hand.
    def awards():
        points.award_points(kids[1], 10, kind="award", reason="拾金不昧，主动交还失物",
                            teacher_id=teacher.id)  # fmt: skip
        points.award_points(kids[6], 8, kind="award", reason="帮助同学补习数学",
                            teacher_id=teacher.id)  # fmt: skip

    t.at(_moment(today - timedelta(days=6), 16), awards)


def load_points(ctx: dict) -> None:
    schools: dict[str, School] = ctx["schools"]
    users = {u.username: u for u in ctx["users"]}
    today = local_today()
    _rules(ctx["district"].id, schools, users["admin"].id, today)
    t = _Timeline()
    pairs = [
        ("陇西小学", "teacher_longxi", "officer_longxi", True),
        ("幸福路小学", "teacher_xingfu", "officer_xingfu", False),
    ]
    for offset, (name, teacher, officer, big) in enumerate(pairs):
        if name in schools and teacher in users and officer in users:
            _school_demo(
                t,
                schools[name],
                users[teacher],
                users[officer],
                today,
                offset=offset * 100,
                big=big,
            )

    # This month's monthly points for the certified students (the aid demo made them).
    def allowance():
        for name, _teacher, officer, _big in pairs:
            if name in schools:
                post_monthly_allowance(schools[name], current_month(), user_id=users[officer].id)

    t.at(_moment(today, 8), allowance)
    t.run()
