"""Demo aid work at 陇西小学 and 幸福路小学: certification in every workflow state (with a live
公示 notice, an objection and level changes), last year's filed certifications for the
re-certification, aid programmes and grants, and pairings of all four kinds with their logs.

Runs after the roster loader and takes the schools' enrolled students from the database, in id
order. Should the roster demo be missing, it puts a few students on the roster itself, so the
aid pages always have something to show. Dates are relative to today (``frozen_time``): the live
notice's window always contains the day the demo is loaded. Deterministic.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.common import frozen_time, local_today
from app.demo import data
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry import certification as cert
from app.registry import grants, pairing
from app.registry.models import AidApplication, Student


def _moment(day: date, hour: int = 2) -> datetime:
    """10 o'clock in Beijing (02:00 UTC) on ``day``."""
    return datetime(day.year, day.month, day.day, hour)


def _last_working_day(day: date) -> date:
    while not cert.is_working_day(day):
        day -= timedelta(days=1)
    return day


def _fallback_students(school: School, count: int, offset: int) -> list[Student]:
    """A few roster entries when the roster demo has not run (names from the demo lists)."""
    classes = [c for c in school.classes if c.active]
    made = []
    for i in range(count):
        k = offset + i
        name = (
            data.SURNAMES[(k * 11) % len(data.SURNAMES)] + data.GIVEN[(k * 7 + 3) % len(data.GIVEN)]
        )
        school_class = classes[(k * 5) % len(classes)] if classes else None
        student = Student(
            school_id=school.id,
            class_id=school_class.id if school_class else None,
            name=name,
            gender="M" if k % 2 else "F",
            boarding=k % 3 == 0,
            status="enrolled",
        )
        db.session.add(student)
        made.append(student)
    db.session.flush()
    return made


def _students(
    school: School,
    need: int,
    offset: int,
    *,
    class_id: int | None = None,
    exclude_class_id: int | None = None,
) -> list[Student]:
    """The first ``need`` enrolled students (by id) of the school, or of one class, or outside
    one class; made up from the demo name lists when the roster has fewer."""
    stmt = select(Student).where(Student.school_id == school.id, Student.status == "enrolled")
    if class_id is not None:
        stmt = stmt.where(Student.class_id == class_id)
    if exclude_class_id is not None:
        stmt = stmt.where((Student.class_id != exclude_class_id) | Student.class_id.is_(None))
    found = list(db.session.scalars(stmt.order_by(Student.id).limit(need)).all())
    if len(found) < need:
        extra = _fallback_students(school, need - len(found), offset)
        for student in extra:
            if class_id is not None:
                student.class_id = class_id
            elif exclude_class_id is not None and student.class_id == exclude_class_id:
                student.class_id = None
        db.session.flush()
        found += extra
    return found


def _class(school: School, grade: int, number: int) -> SchoolClass | None:
    return next((c for c in school.classes if (c.grade, c.number) == (grade, number)), None)


class _Aid:
    """Drives applications through the real workflow on chosen days."""

    def __init__(self, officer, admin, today: date):
        self.officer, self.admin, self.today = officer, admin, today

    def head(self, student: Student):
        from app.auth.models import User

        school_class = student.school_class
        if school_class is None or school_class.head_teacher_id is None:
            return self.officer
        return db.session.get(User, school_class.head_teacher_id)

    def start(self, student, days_ago, *, categories, situation=None, pledge=True, by=None):
        day = self.today - timedelta(days=days_ago)
        with frozen_time(_moment(day)):
            return cert.create_application(
                student,
                cert.ApplicationInput(
                    categories=categories,
                    situation=situation,
                    written_pledge=pledge,
                    pledge_signed_on=day if pledge else None,
                ),
                user=by or self.officer,
                school_year=cert.current_school_year(),
            )

    def submit(self, application, days_ago):
        with frozen_time(_moment(self.today - timedelta(days=days_ago), 3)):
            cert.submit_application(application, user=self.officer)

    def review(self, application, days_ago, level, note):
        with frozen_time(_moment(self.today - timedelta(days=days_ago), 6)):
            cert.class_review(
                application,
                user=self.head(application.student),
                recommended_level=level,
                note=note,
            )

    def decide(self, application, day: date, level, note=None):
        with frozen_time(_moment(day, 7)):
            cert.decide(application, user=self.officer, level=level, note=note, today=day)

    def through(self, student, *, start_ago, decided_on, level, categories, situation=None):
        """From draft to the school's decision (公示 opens on ``decided_on``)."""
        application = self.start(student, start_ago, categories=categories, situation=situation)
        self.submit(application, start_ago - 1)
        self.review(application, start_ago - 2, level, "班级评议小组一致同意推荐。")
        self.decide(application, decided_on, level)
        return application

    def confirm(self, application):
        after = application.publicity_end + timedelta(days=1)
        with frozen_time(_moment(after, 0)):
            cert.close_publicity(after, application_ids=[application.id])

    def file(self, applications, day: date):
        with frozen_time(_moment(day, 8)):
            cert.file_applications(applications, user=self.admin)


def load_aid(ctx: dict) -> None:
    schools = ctx["schools"]
    users = {u.username: u for u in ctx["users"]}
    longxi, xingfu = schools["陇西小学"], schools["幸福路小学"]
    admin = users["admin"]
    today = local_today()
    year = cert.school_year_of(today)
    live_day = _last_working_day(today)  # the live notice's window contains today

    # The demo head teacher's class (三年级(2)班) gets the applications she fills in.
    class_32 = _class(longxi, 3, 2)
    own = _students(longxi, 3, 0, class_id=class_32.id if class_32 else None)
    others = _students(longxi, 13, 20, exclude_class_id=class_32.id if class_32 else None)
    xf = _students(xingfu, 6, 40)

    a = _Aid(users["officer_longxi"], admin, today)

    # ---- last school year: four certifications, filed (the re-certification starts from them)
    last_year_day = today - timedelta(days=380)
    with frozen_time(_moment(last_year_day)):
        last = []
        for student, level, cats in (
            (others[0], "severe", ["tekun", "orphan"]),
            (others[1], "moderate", ["dibao"]),
            (others[2], "general", ["poverty_alleviated"]),
            (others[3], "moderate", ["disabled"]),
        ):
            application = cert.create_application(
                student,
                cert.ApplicationInput(
                    categories=cats,
                    situation="家庭情况见书面承诺及村（社区）证明。",
                    written_pledge=True,
                    pledge_signed_on=last_year_day,
                ),
                user=a.officer,
                school_year=cert.current_school_year(),
            )
            cert.submit_application(application, user=a.officer)
            cert.class_review(application, user=a.officer, recommended_level=level, note=None)
            cert.decide(application, user=a.officer, level=level, today=last_year_day)
            last.append(application)
    for application in last:
        a.confirm(application)
    a.file(last, last_year_day + timedelta(days=20))

    # ---- this school year at 陇西小学, one application per state
    teacher = users["teacher_longxi"]
    # draft, filled in by the head teacher; the family has not signed the pledge yet
    a.start(
        own[0],
        3,
        categories=["poverty_alleviated"],
        pledge=False,
        by=teacher,
        situation="父亲务工受伤，家中收入减少。",
    )
    # at class review (the head teacher sees it on her page)
    in_review = a.start(
        own[1], 6, categories=["dibao_edge"], by=teacher, situation="单亲家庭，母亲打零工。"
    )
    a.submit(in_review, 5)
    # at the school's review
    school_review = a.start(own[2], 9, categories=["monitored"], by=teacher)
    a.submit(school_review, 8)
    a.review(school_review, 7, "general", "家庭收入不稳定，建议一般困难。")
    # two re-certifications copied from last year, now on the live notice
    live = []
    for student, level in ((others[0], "severe"), (others[1], "moderate")):
        with frozen_time(_moment(today - timedelta(days=12))):
            application = cert.copy_last_year(student, user=a.officer, school_year=year)
            application.written_pledge = True
            application.pledge_signed_on = today - timedelta(days=12)
        a.submit(application, 11)
        a.review(application, 10, level, "继续认定。")
        a.decide(application, live_day, level)
        live.append(application)
    # a new certification on the live notice, with an objection still open
    objected = a.through(
        others[4], start_ago=14, decided_on=live_day, level="general", categories=["dibao"]
    )
    with frozen_time(_moment(live_day, 8)):
        cert.record_objection(
            objected,
            user=a.officer,
            content="有家长电话反映该生家庭近期购车，情况与申请不符，请学校核实。",
            received_on=live_day,
        )
    # certified this year (window over): one confirmed, one with a level change, one filed
    past_decision = _last_working_day(today - timedelta(days=24))
    confirmed = a.through(
        others[5],
        start_ago=30,
        decided_on=past_decision,
        level="moderate",
        categories=["de_facto_orphan"],
        situation="父母长期在外，由年迈祖父母照顾。",
    )
    # an objection during its window, checked and not upheld
    with frozen_time(_moment(confirmed.publicity_start, 9)):
        objection = cert.record_objection(
            confirmed,
            user=a.officer,
            content="匿名来信称该生家庭条件较好。",
            received_on=confirmed.publicity_start,
        )
    with frozen_time(_moment(confirmed.publicity_start + timedelta(days=1), 9)):
        cert.resolve_objection(
            objection,
            user=a.officer,
            upheld=False,
            resolution="经入户核实，祖父母无固定收入，反映情况不属实。",
        )
    changed = a.through(
        others[6],
        start_ago=31,
        decided_on=past_decision,
        level="moderate",
        categories=["disabled"],
    )
    filed = a.through(
        others[7],
        start_ago=32,
        decided_on=past_decision,
        level="severe",
        categories=["martyr", "dibao"],
    )
    also_filed = a.through(
        others[2],
        start_ago=33,
        decided_on=past_decision,
        level="general",
        categories=["poverty_alleviated"],
    )
    for application in (confirmed, changed, filed, also_filed):
        a.confirm(application)
    a.file([filed, also_filed], past_decision + timedelta(days=12))
    with frozen_time(_moment(today - timedelta(days=4), 5)):
        cert.change_level(
            changed,
            user=a.officer,
            new_level="severe",
            reason="母亲突发重病住院，家庭支出大幅增加，经学校认定小组复核调整。",
        )
    # not certified by the school, and one withdrawn because an objection was upheld
    refused = a.start(others[8], 20, categories=["other"], situation="家庭人口多，负担重。")
    a.submit(refused, 19)
    a.review(refused, 18, "general", None)
    with frozen_time(_moment(today - timedelta(days=17), 7)):
        cert.decide(
            refused,
            user=a.officer,
            level=None,
            note="经家访核实，家庭收入高于本地困难认定标准。",
            today=today - timedelta(days=17),
        )
    upheld = a.through(
        others[9],
        start_ago=28,
        decided_on=past_decision,
        level="general",
        categories=["dibao_edge"],
    )
    with frozen_time(_moment(upheld.publicity_start, 9)):
        objection = cert.record_objection(
            upheld,
            user=a.officer,
            content="有老师反映该生家长经营商铺。",
            received_on=upheld.publicity_start,
        )
    with frozen_time(_moment(upheld.publicity_start + timedelta(days=2), 9)):
        cert.resolve_objection(
            objection,
            user=a.officer,
            upheld=True,
            resolution="经核实情况属实，不予认定，已与家长沟通。",
        )
    withdrawn = a.start(others[10], 15, categories=["other"], situation="临时困难。")
    with frozen_time(_moment(today - timedelta(days=14))):
        cert.withdraw_application(withdrawn, user=a.officer)
    # a certification revoked within the year (the family's situation improved)
    revoked = a.through(
        others[3],
        start_ago=34,
        decided_on=past_decision,
        level="moderate",
        categories=["disabled"],
    )
    a.confirm(revoked)
    with frozen_time(_moment(today - timedelta(days=2), 6)):
        cert.change_level(
            revoked,
            user=a.officer,
            new_level=None,
            reason="家长已稳定就业，家庭经济状况明显改善，本人申请退出。",
        )

    # ---- 幸福路小学: a live notice, certified students and one at class review
    b = _Aid(users["officer_xingfu"], admin, today)
    xf_live = b.through(
        xf[0], start_ago=8, decided_on=live_day, level="moderate", categories=["dibao"]
    )
    xf_certified = []
    for student, level, cats in ((xf[1], "severe", ["tekun"]), (xf[2], "general", ["monitored"])):
        application = b.through(
            student, start_ago=30, decided_on=past_decision, level=level, categories=cats
        )
        b.confirm(application)
        xf_certified.append(application)
    b.file(xf_certified[:1], past_decision + timedelta(days=12))
    at_review = b.start(xf[3], 4, categories=["poverty_alleviated"])
    b.submit(at_review, 3)

    # ---- aid programmes (district) and grants
    with frozen_time(_moment(today - timedelta(days=60))):
        subsidy = grants.create_programme(
            ctx["district"].id,
            grants.ProgrammeInput(
                name="义务教育家庭经济困难学生生活补助",
                aid_mode="government",
                description="对义务教育阶段家庭经济困难学生（寄宿生和非寄宿生）给予生活补助，"
                "按学年分两学期发放。",
                amounts_fen={
                    "primary_boarding": 125000,
                    "primary_day": 62500,
                    "lower_secondary_boarding": 150000,
                    "lower_secondary_day": 75000,
                },
            ),
            user=admin,
        )
        nutrition = grants.create_programme(
            ctx["district"].id,
            grants.ProgrammeInput(
                name="农村义务教育学生营养改善计划",
                aid_mode="government",
                description="为学生提供营养膳食补助，每生每天5元，全年按200天计。",
                amounts_fen={k: 100000 for k in grants.AMOUNT_KEYS},
            ),
            user=admin,
        )
        company = grants.create_programme(
            ctx["district"].id,
            grants.ProgrammeInput(
                name="爱心企业助学金",
                aid_mode="social",
                description="郑州新航科技有限公司捐资设立，资助家庭经济困难学生。",
                amounts_fen={"primary_boarding": 50000, "primary_day": 50000},
            ),
            user=admin,
        )
        alliance_fund = grants.create_programme(
            ctx["district"].id,
            grants.ProgrammeInput(
                name="联盟互助金",
                aid_mode="alliance",
                description="陇西小学教育发展共同体成员学校教师自愿捐款，互助联盟统一管理。",
            ),
            user=admin,
        )
        grants.create_programme(
            ctx["district"].id,
            grants.ProgrammeInput(
                name="学校爱心基金", aid_mode="school", description="学校自筹，用于临时困难救助。"
            ),
            user=admin,
        )

    def pay(officer, school, student, programme, days_ago, *, amount=None, **kw):
        day = today - timedelta(days=days_ago)
        with frozen_time(_moment(day, 4)):
            return grants.record_grant(
                school,
                student.id,
                grants.GrantInput(
                    programme_id=programme.id,
                    amount_fen=amount or grants.default_amount(programme, student) or 30000,
                    paid_on=day,
                    school_year=cert.school_year_of(day),
                    **kw,
                ),
                user=officer,
            )

    certified_lx = [confirmed, changed, filed, also_filed]
    for application in certified_lx:
        pay(
            a.officer,
            longxi,
            application.student,
            subsidy,
            10,
            funding_source="中央和省级财政",
            paid_by="孙红霞",
            note="第一学期",
        )
        pay(
            a.officer,
            longxi,
            application.student,
            nutrition,
            9,
            funding_source="区财政",
            paid_by="孙红霞",
        )
    pay(
        a.officer,
        longxi,
        confirmed.student,
        company,
        6,
        funding_source="郑州新航科技有限公司",
        paid_by="孙红霞",
    )
    pay(
        a.officer,
        longxi,
        filed.student,
        alliance_fund,
        5,
        amount=20000,
        funding_source="联盟教师捐款",
        paid_by="陈文博",
    )
    for application in last:
        pay(
            a.officer,
            longxi,
            application.student,
            subsidy,
            370,
            funding_source="中央和省级财政",
            paid_by="孙红霞",
        )
    for application in xf_certified:
        pay(
            b.officer,
            xingfu,
            application.student,
            subsidy,
            8,
            funding_source="中央和省级财政",
            paid_by="郭玉兰",
        )

    # ---- pairings of the four kinds, with their logs
    def pair(officer, school, kind, student, days_ago, **kw):
        with frozen_time(_moment(today - timedelta(days=days_ago), 3)):
            return pairing.create_pairing(
                school,
                pairing.PairingInput(
                    kind=kind,
                    student_id=student.id,
                    started_on=today - timedelta(days=days_ago),
                    **kw,
                ),
                user=officer,
            )

    def log(p, by, days_ago, kind, content):
        with frozen_time(_moment(today - timedelta(days=days_ago), 9)):
            pairing.add_log(
                p, user=by, happened_on=today - timedelta(days=days_ago), kind=kind, content=content
            )

    p1 = pair(
        a.officer,
        longxi,
        "teacher_student",
        own[1],
        50,
        helper_user_id=teacher.id,
        note="每两周一次学业辅导，每学期一次家访。",
    )
    log(p1, teacher, 45, "visit", "第一次家访，了解到孩子由奶奶照顾，学习用品不足。")
    log(p1, teacher, 30, "study_help", "放学后辅导数学，重点是乘法口诀。")
    log(p1, teacher, 12, "material", "送去冬季棉服一件、练习本十本。")
    p2 = pair(a.officer, longxi, "student_student", own[2], 40, helper_student_id=others[11].id)
    log(p2, a.officer, 20, "study_help", "结对同学每周二、四课间一起读书。")
    p3 = pair(a.officer, longxi, "school_family", others[5], 35, helper_name="陇西小学德育处")
    log(p3, a.officer, 33, "visit", "德育处与班主任一同家访，送去米面油。")
    log(p3, a.officer, 8, "talk", "与祖父母交流孩子在校情况，孩子进步明显。")
    p4 = pair(a.officer, longxi, "family_family", others[6], 25, helper_name="王建华家庭")
    log(p4, a.officer, 10, "material", "王建华家庭周末接孩子一起参加社区活动，并赠送图书。")
    ended = pair(a.officer, longxi, "teacher_student", others[12], 200, helper_user_id=teacher.id)
    log(ended, teacher, 190, "visit", "家访一次。")
    with frozen_time(_moment(today - timedelta(days=100))):
        pairing.end_pairing(ended, user=a.officer, ended_on=today - timedelta(days=100))
    p5 = pair(
        b.officer, xingfu, "teacher_student", xf[1], 20, helper_user_id=users["teacher_xingfu"].id
    )
    log(p5, users["teacher_xingfu"], 7, "talk", "谈心，鼓励孩子参加学校合唱团。")

    db.session.flush()
    ctx["aid_applications"] = db.session.scalar(select(func.count()).select_from(AidApplication))
    ctx["aid_live_notice"] = [app.id for app in (*live, objected, xf_live)]
