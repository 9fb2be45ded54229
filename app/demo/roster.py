"""Demo roster: every class of 陇西小学 and 幸福路小学 full (25–40 students each), and a few
students in the other schools.

Names, ID numbers, phones and addresses are invented; the ID numbers are well-formed (a real
district code, a birth date that fits the grade in the current school year, the GB 11643 check
character) so every page and the import behave as with real data. 学籍号 = "G" + ID number.
Care groups are a realistic minority. The same seed gives the same roster every time (within a
school year: ages follow the calendar). Runs before the aid demo, which picks its students here.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from app.common import local_today
from app.extensions import db
from app.org.models import School, SchoolClass
from app.registry import operations
from app.registry.validation import id_check_char

FULL_SCHOOLS = ("陇西小学", "幸福路小学")
PER_OTHER_SCHOOL = 6

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
)
GIVEN_BOYS = (
    "子轩", "浩宇", "宇航", "梓豪", "俊熙", "思远", "博文", "一鸣", "天佑", "皓轩", "明哲", "子墨",
    "嘉懿", "煜城", "奕辰", "铭泽", "瑞霖", "景行", "承宇", "泽楷", "昊然", "晨阳", "睿", "浩",
)  # fmt: skip
GIVEN_GIRLS = (
    "欣怡", "梓涵", "雨桐", "一诺", "佳琪", "诗涵", "若曦", "语嫣", "思彤", "可馨", "梦瑶", "紫萱",
    "婉清", "芷若", "安琪", "雅静", "沐晴", "依诺", "心悦", "楚楚", "悦", "琳", "萌", "雪",
)  # fmt: skip
PARENT_GIVEN = (
    "建国", "建华", "志强", "国庆", "卫东", "海涛", "红梅", "秀英", "丽娟", "春燕", "玉兰", "桂芳",
    "永刚", "德明", "文静", "晓燕", "振华", "金凤", "军", "敏", "伟", "霞", "刚", "芳",
)  # fmt: skip
# 二七区 and its neighbours; migrant workers' children mostly have IDs from other counties.
LOCAL_REGIONS = ("410103", "410103", "410103", "410102", "410104", "410105")
HOME_REGIONS = ("411522", "411321", "412726", "411424", "410522", "411628", "342101", "130434")
STREETS = (
    "大学路", "陇西路", "幸福路", "京广路", "长江路", "汝河路", "淮河路", "嵩山路", "政通路",
    "兴华街", "建新街", "庆丰街", "勤劳街", "民主路", "铭功路", "工人路", "福华街", "航海路",
)  # fmt: skip
ETHNIC = (("汉族", 0.94), ("回族", 0.04), ("满族", 0.01), ("蒙古族", 0.01))


class _Ids:
    """Unique, well-formed ID numbers: region + birth date + sequence (odd: boy) + check."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, rng: random.Random, born: date, boy: bool, migrant: bool) -> str:
        regions = HOME_REGIONS if migrant else LOCAL_REGIONS
        while True:
            order = rng.randrange(0, 499) * 2 + (1 if boy else 0)
            first17 = f"{rng.choice(regions)}{born:%Y%m%d}{order:03d}"
            number = first17 + id_check_char(first17)
            if number not in self.used:
                self.used.add(number)
                return number


def _school_year_start(today: date) -> int:
    return today.year if today.month >= 9 else today.year - 1


def _birth_date(rng: random.Random, grade: int, year: int) -> date:
    """Six by 31 August of the year they entered grade 1 (grades 7–9 count on from primary)."""
    start = date(year - grade - 6, 9, 1)
    return start + timedelta(days=rng.randrange(0, 365))


def _ethnicity(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for name, share in ETHNIC:
        total += share
        if roll < total:
            return name
    return "汉族"


def _student(rng: random.Random, ids: _Ids, school_class: SchoolClass, stage: str, year: int):
    boy = rng.random() < 0.52
    surname = rng.choice(SURNAMES)
    name = surname + rng.choice(GIVEN_BOYS if boy else GIVEN_GIRLS)
    migrant = rng.random() < 0.12
    left_behind = not migrant and rng.random() < 0.06
    single_parent = rng.random() < 0.05
    orphan = rng.random() < 0.004
    disabled = rng.random() < 0.01
    born = _birth_date(rng, school_class.grade, year)
    id_number = ids.make(rng, born, boy, migrant)
    if orphan:
        guardian = rng.choice(SURNAMES) + rng.choice(PARENT_GIVEN)  # a relative or carer
    elif single_parent or rng.random() < 0.6:
        guardian = surname + rng.choice(PARENT_GIVEN)
    else:
        guardian = rng.choice(SURNAMES) + rng.choice(PARENT_GIVEN)
    street = rng.choice(STREETS)
    return operations.StudentInput(
        name=name,
        gender="M" if boy else "F",
        class_id=school_class.id,
        student_no="G" + id_number,
        id_number=id_number,
        birth_date=born,
        ethnicity=_ethnicity(rng),
        guardian_name=guardian,
        guardian_phone=f"1{rng.choice('3589')}{rng.randrange(0, 10)}{rng.randrange(0, 10**8):08d}",
        address=(
            f"郑州市二七区{street}{rng.randrange(1, 300)}号院"
            f"{rng.randrange(1, 20)}号楼{rng.randrange(1, 6)}单元"
        ),
        boarding=rng.random() < (0.15 if stage == "middle" else 0.02),
        left_behind=left_behind,
        migrant=migrant,
        orphan=orphan,
        disabled=disabled,
        single_parent=single_parent,
    )


def load_roster(ctx: dict) -> None:
    """Put the demo students on the rosters (through the roster operations, so audited)."""
    rng = random.Random(2026)  # noqa: S311 - demo data, not secrets
    ids = _Ids()
    year = _school_year_start(local_today())
    schools: dict[str, School] = ctx["schools"]
    count = 0
    for name, school in schools.items():
        classes = list(
            db.session.scalars(
                select(SchoolClass)
                .where(SchoolClass.school_id == school.id, SchoolClass.active.is_(True))
                .order_by(SchoolClass.grade, SchoolClass.number)
            )
        )
        if not classes:
            continue
        if name in FULL_SCHOOLS:
            plan = [(c, rng.randint(25, 40)) for c in classes]
        else:
            plan = [(classes[i % len(classes)], 1) for i in range(PER_OTHER_SCHOOL)]
        for school_class, size in plan:
            for _ in range(size):
                operations.add_student(school, _student(rng, ids, school_class, school.stage, year))
                count += 1
    db.session.flush()
    ctx["students"] = count
