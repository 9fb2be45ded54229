"""Plain helpers for the points and activities tests (no fixtures: no conftest clash).

Students go on the roster through the registry's own operation; activities, logs and letters
through app.activities.operations; rules are inserted as rows with any date (the operation
that sets rules refuses past dates, which is the point of effective dates).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.common import frozen_time, local_today
from app.extensions import db

_n = {"n": 0}

LEVEL_WORDS = ["特别困难", "比较困难", "一般困难", "Severe hardship", "Moderate hardship",
               "General hardship"]  # fmt: skip
AID_WORDS_ZH = [
    *LEVEL_WORDS,
    "脱贫家庭",
    "防止返贫监测对象",
    "最低生活保障",
    "低保",
    "特困供养",
    "事实无人抚养儿童",
    "残疾学生或残疾人子女",
    "烈士子女",
    "资助",
    "困难",
    "补助",
]


def student(school, school_class=None, *, name: str | None = None, gender: str = "M"):
    """A student on the school's roster (committed)."""
    from app.registry import operations

    _n["n"] += 1
    data = operations.StudentInput(
        name=name or f"学生{_n['n']}",
        gender=gender,
        class_id=school_class.id if school_class is not None else None,
    )
    made = operations.add_student(school, data)
    db.session.commit()
    return made


def volunteer_activity(school, user, *, held_on: date | None = None, title="校园清洁", **kw):
    from app.activities import operations as ops

    activity = ops.create_activity(
        school,
        ops.ActivityInput(
            kind="volunteer",
            type=kw.pop("type", "campus"),
            title=title,
            held_on=held_on or local_today() - timedelta(days=1),
            **kw,
        ),
        user=user,
    )
    db.session.commit()
    return activity


def gratitude_activity(school, user, *, held_on: date | None = None, title="给爱心人士写感恩信"):
    from app.activities import operations as ops

    activity = ops.create_activity(
        school,
        ops.ActivityInput(
            kind="gratitude",
            type="thank_letter",
            title=title,
            held_on=held_on or local_today() - timedelta(days=1),
        ),
        user=user,
    )
    db.session.commit()
    return activity


def rule(district, school=None, *, effective_from: date = date(2020, 1, 1), **values):
    """A rule row with any date (history), committed."""
    from app.points.models import PointRule

    row = PointRule(
        district_id=district.id,
        school_id=school.id if school is not None else None,
        effective_from=effective_from,
        **values,
    )
    db.session.add(row)
    db.session.commit()
    return row


def balance(student_id: int) -> int:
    from app.points.operations import balance_of

    db.session.expire_all()
    return balance_of(student_id)


def entries(student_id: int, kind: str | None = None) -> list:
    from app.points.models import PointEntry

    stmt = select(PointEntry).where(PointEntry.student_id == student_id)
    if kind:
        stmt = stmt.where(PointEntry.kind == kind)
    return list(db.session.scalars(stmt.order_by(PointEntry.id)))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def ledger_problems() -> list[str]:
    from app.ledgers import run_checks

    return [p for result in run_checks() for p in result.problems]


def at(day: date, hour: int = 2) -> datetime:
    """10:00 in Beijing on ``day`` (naive UTC), for frozen_time()."""
    return datetime(day.year, day.month, day.day, hour)


def on(day: date):
    return frozen_time(at(day))


def png_bytes(width: int = 40, height: int = 30, fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 80)).save(out, format=fmt)
    return out.getvalue()


# ---------------------------------------------------------------- the access walk's objects


def _a1_people(world):
    return world.school_a1, world.class_a1, world.user("teacher_a1"), world.user("officer_a1")


def walk_activity_id(world, _db=None, _app=None) -> int:
    """A volunteer activity of school A1 held yesterday."""
    school, _cls, teacher, _officer = _a1_people(world)
    return volunteer_activity(school, teacher, title="走查志愿活动").id


def walk_log_id(world, _db=None, _app=None) -> int:
    """A pending hours log of A1, logged by teacher_a1."""
    from app.activities import operations as ops

    school, cls, teacher, _officer = _a1_people(world)
    activity = volunteer_activity(school, teacher, title="走查登记")
    kid = student(school, cls, name="走查志愿者")
    result = ops.log_hours(activity, [kid.id], 60, user=teacher)
    db.session.commit()
    return result.logs[0].id


def walk_team_id(world, _db=None, _app=None) -> int:
    from app.activities import operations as ops

    school, _cls, teacher, _officer = _a1_people(world)
    team = ops.create_team(school, name="走查服务队", user=teacher)
    db.session.commit()
    return team.id


def walk_letter_id(world, _db=None, _app=None) -> int:
    """A pending thank-you letter of A1 to a walk-in donation received by A1."""
    from app.activities import operations as ops

    school, cls, teacher, _officer = _a1_people(world)
    receipt_id = donation_receipt(world, "走查感谢")
    activity = gratitude_activity(school, teacher, title="走查感恩信")
    kid = student(school, cls, name="走查写信")
    letter = ops.create_letter(
        activity,
        kid.id,
        receipt_id=receipt_id,
        donor_id=None,
        body="谢谢您！",
        photo=None,
        user=teacher,
    )
    db.session.commit()
    return letter.id


def walk_rule_id(world, _db=None, _app=None) -> int:
    """A rule override of A1 that starts in a month (so it could still be withdrawn)."""
    return rule(
        world.district, world.school_a1, effective_from=local_today() + timedelta(days=30)
    ).id


def walk_entry_id(world, _db=None, _app=None) -> int:
    """An award to a student of A1."""
    from app.points.operations import credit

    kid = student(world.school_a1, world.class_a1, name="走查积分")
    entry = credit(kid, 5, kind="award", reason="走查")
    db.session.commit()
    return entry.id


def donation_receipt(world, tag: str, *, school=None, pledge=False) -> int:
    """A donation (walk-in, or against a new pledge) received by A1; the receipt's id."""
    from app.donations.operations import (
        DonorInput,
        PledgeLineInput,
        ReceiptLineInput,
        create_pledge,
        receive_goods,
    )
    from app.inventory.operations import create_item

    school = school or world.school_a1
    _n["n"] += 1
    item = create_item(
        district_id=world.district.id,
        name=f"{tag}{_n['n']}",
        category="stationery",
        unit="本",
        points=2,
    )
    if pledge:
        made = create_pledge(
            donor=DonorInput(f"{tag}捐赠人", f"1390000{_n['n']:04d}"),
            lines=[PledgeLineInput(3, item_id=item.id)],
            school_id=school.id,
        )
        db.session.flush()
        receipt = receive_goods(
            school_id=school.id,
            pledge=made,
            lines=[ReceiptLineInput(item.id, 3)],
        )
    else:
        receipt = receive_goods(
            school_id=school.id,
            donor=DonorInput(f"{tag}捐赠人", None),
            lines=[ReceiptLineInput(item.id, 2)],
        )
    db.session.commit()
    return receipt.id
