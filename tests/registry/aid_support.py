"""Helpers for the aid tests (certification, publicity, grants, pairing, the access matrix).

Students are put on the roster directly (the roster has its own tests); applications are
driven through the real workflow operations, acting as the users the rules require.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.common import frozen_time
from app.extensions import db
from app.registry import certification as cert
from app.registry.models import AidApplication, AidObjection, Student

# A Monday in the 2026–2027 school year; 10:00 in Beijing is 02:00 UTC.
MONDAY = date(2026, 11, 16)
CATEGORY_LABELS_ZH = [
    "脱贫家庭",
    "防止返贫监测对象",
    "最低生活保障",
    "低保边缘",
    "特困供养",
    "事实无人抚养儿童",
    "残疾学生或残疾人子女",
    "烈士子女",
]
LEVEL_LABELS_ZH = ["特别困难", "比较困难", "一般困难"]
# 孤儿 and 其他 are left out on purpose: 孤儿 is also an ordinary roster care flag.
AID_WORDS = LEVEL_LABELS_ZH + CATEGORY_LABELS_ZH


def at(day: date, hour: int = 2) -> datetime:
    """``day`` at ``hour`` UTC (10:00 in Beijing by default), for frozen_time()."""
    return datetime(day.year, day.month, day.day, hour)


_n = {"n": 0}


def make_student(school, school_class=None, *, name="张小明", boarding=False, **kw) -> Student:
    _n["n"] += 1
    student = Student(
        school_id=school.id,
        class_id=school_class.id if school_class is not None else None,
        name=name,
        gender=kw.pop("gender", "M"),
        id_number=kw.pop("id_number", None),
        guardian_phone=kw.pop("guardian_phone", None),
        address=kw.pop("address", None),
        boarding=boarding,
        status="enrolled",
        **kw,
    )
    db.session.add(student)
    db.session.commit()
    return student


def draft(student, user, *, year=2026, categories=("dibao",), pledge=True, situation=None):
    with frozen_time(at(MONDAY)):
        application = cert.create_application(
            student,
            cert.ApplicationInput(
                categories=list(categories),
                situation=situation,
                written_pledge=pledge,
                pledge_signed_on=MONDAY if pledge else None,
            ),
            user=user,
            school_year=year,
        )
    db.session.commit()
    return application


def drive(application: AidApplication, to: str, world, *, level="moderate", day=MONDAY):
    """Move an application along the workflow up to status ``to`` with the right people.
    The school decision is made on ``day`` (the notice starts then)."""
    officer = _officer(world, application.school_id)
    head = _head_teacher(world, application)
    order = ["draft", "class_review", "school_review", "publicity", "confirmed", "filed"]
    with frozen_time(at(day)):
        if order.index(to) >= 1 and application.status == "draft":
            cert.submit_application(application, user=officer)
        if order.index(to) >= 2 and application.status == "class_review":
            cert.class_review(
                application, user=head or officer, recommended_level=level, note="班级评议通过"
            )
        if order.index(to) >= 3 and application.status == "school_review":
            cert.decide(application, user=officer, level=level, note=None)
    if order.index(to) >= 4 and application.status == "publicity":
        after = application.publicity_end + timedelta(days=1)
        with frozen_time(at(after)):
            cert.close_publicity(after)
    if order.index(to) >= 5 and application.status == "confirmed":
        cert.file_applications([application], user=world.user("admin"))
    db.session.commit()
    return application


def object_to(application, world, *, content="有群众反映家庭情况不实", day=None):
    officer = _officer(world, application.school_id)
    day = day or application.publicity_start
    with frozen_time(at(day)):
        objection = cert.record_objection(
            application, user=officer, content=content, received_on=day
        )
    db.session.commit()
    return objection


def _officer(world, school_id):
    for user in world.users.values():
        if user.role == "school_officer" and user.school_id == school_id:
            return user
    raise LookupError(school_id)


def _head_teacher(world, application):
    if application.school_class is None or application.school_class.head_teacher_id is None:
        return None
    return next(u for u in world.users.values() if u.id == application.school_class.head_teacher_id)


# ---------------------------------------------------------------- the access walk's objects


def walk_application_id(world, _db=None, _app=None) -> int:
    """An application of school A1 in class A1, at class review (its head teacher sees it)."""
    student = make_student(world.school_a1, world.class_a1, name="走查学生")
    application = draft(student, world.user("officer_a1"))
    with frozen_time(at(MONDAY)):
        cert.submit_application(application, user=world.user("officer_a1"))
    db.session.commit()
    return application.id


def walk_objection_id(world, _db=None, _app=None) -> int:
    student = make_student(world.school_a1, world.class_a1, name="走查异议")
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    return object_to(application, world).id


def walk_programme_id(world, _db=None, _app=None, *, name="走查项目") -> int:
    from sqlalchemy import select

    from app.registry.grants import ProgrammeInput, create_programme
    from app.registry.models import AidProgramme

    existing = db.session.scalar(select(AidProgramme.id).where(AidProgramme.name == name))
    if existing:
        return existing
    programme = create_programme(
        world.district.id,
        ProgrammeInput(name=name, aid_mode="government", amounts_fen={"primary_day": 62500}),
        user=world.user("admin"),
    )
    db.session.commit()
    return programme.id


def walk_grant_id(world, _db=None, _app=None) -> int:
    from app.registry.grants import GrantInput, record_grant
    from app.registry.models import AidProgramme

    programme = db.session.get(AidProgramme, walk_programme_id(world))
    student = make_student(world.school_a1, world.class_a1, name="走查资助")
    with frozen_time(at(MONDAY)):
        grant = record_grant(
            world.school_a1,
            student.id,
            GrantInput(programme_id=programme.id, amount_fen=62500, paid_on=MONDAY),
            user=world.user("officer_a1"),
        )
    db.session.commit()
    return grant.id


def walk_pairing_id(world, _db=None, _app=None) -> int:
    """A teacher–student pairing of school A1 in which teacher_a1 helps."""
    from app.registry.pairing import PairingInput, create_pairing

    student = make_student(world.school_a1, world.class_a1, name="走查结对")
    with frozen_time(at(MONDAY)):
        pairing = create_pairing(
            world.school_a1,
            PairingInput(
                kind="teacher_student",
                student_id=student.id,
                started_on=MONDAY,
                helper_user_id=world.user("teacher_a1").id,
            ),
            user=world.user("officer_a1"),
        )
    db.session.commit()
    return pairing.id


def open_objections(application_id: int) -> int:
    from sqlalchemy import func, select

    return db.session.scalar(
        select(func.count())
        .select_from(AidObjection)
        .where(AidObjection.application_id == application_id, AidObjection.resolved_at.is_(None))
    )
