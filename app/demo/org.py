"""Demo organisation and accounts."""

from __future__ import annotations

from flask import current_app

from app.auth.operations import create_user
from app.demo import data
from app.org import operations as org_ops


def _person(i: int) -> str:
    return data.SURNAMES[(i * 7) % len(data.SURNAMES)] + data.GIVEN[(i * 3) % len(data.GIVEN)]


def _phone(i: int) -> str:
    return f"0371-6{(1000000 + i * 7919) % 10000000:07d}"


def _street(school_name: str) -> str:
    stem = school_name.removesuffix("小学").removesuffix("中学").removesuffix("一中")
    return stem if stem.endswith(("路", "街")) else f"{stem}路"


def load_org(ctx: dict) -> None:
    district = org_ops.create_district(**data.DISTRICT)
    for name, group_role, position in data.DISTRICT_LEADERSHIP:
        org_ops.add_leadership_member(
            tier=district, name=name, group_role=group_role, position=position
        )
    alliances, schools = {}, {}
    person = 0
    class_count = 0
    for lead_name, alliance_name, stage, members in data.ALLIANCES:
        alliance = org_ops.create_alliance(
            district_id=district.id,
            name=alliance_name,
            note=f"由{lead_name}牵头，成员学校定期交流，每年至少举办一次大型资助活动。",
        )
        alliances[alliance_name] = alliance
        for index, school_name in enumerate([lead_name, *members]):
            person += 1
            school = org_ops.create_school(
                district_id=district.id,
                name=school_name,
                alliance_id=alliance.id,
                stage=stage,
                address=f"郑州市二七区{_street(school_name)}{10 + person}号",
                phone=_phone(person),
                supermarket_manager=_person(person),
                supermarket_manager_phone=f"139{(37100000 + person * 104729) % 100000000:08d}",
            )
            schools[school_name] = school
            grades = range(1, 7) if stage == "primary" else range(7, 10)
            per_grade = 3 if index == 0 else 2
            for grade in grades:
                for number in range(1, per_grade + 1):
                    org_ops.create_class(school=school, grade=grade, number=number)
                    class_count += 1
            org_ops.add_leadership_member(
                tier=school, name=_person(person + 50), group_role="leader", position="校长"
            )
            org_ops.add_leadership_member(
                tier=school,
                name=school.supermarket_manager,
                group_role="member",
                position="爱心超市负责人",
            )
        lead = schools[lead_name]
        org_ops.update_alliance(
            alliance, name=alliance.name, note=alliance.note, lead_school_id=lead.id
        )
        org_ops.add_leadership_member(
            tier=alliance,
            name=_person(person + 100),
            group_role="leader",
            position=f"{lead_name}校长",
        )
        org_ops.add_leadership_member(
            tier=alliance,
            name=_person(person + 120),
            group_role="member",
            position="成员学校资助专干",
        )

    password = current_app.config["DEMO_PASSWORD"]
    users = []
    for username, display_name, role, where in data.USERS:
        users.append(
            create_user(
                username=username,
                display_name=display_name,
                role=role,
                password=password,
                district_id=district.id,
                alliance_id=alliances[where].id if role == "alliance_lead" else None,
                school_id=schools[where].id if where in schools else None,
            )
        )
    # The demo teacher is head teacher of 三年级(2)班 at 陇西小学.
    longxi = schools["陇西小学"]
    teacher = next(u for u in users if u.username == "teacher_longxi")
    for school_class in longxi.classes:
        if (school_class.grade, school_class.number) == (3, 2):
            org_ops.update_class(school_class, head_teacher_id=teacher.id, active=True)
    ctx.update(
        district=district,
        alliances=alliances,
        schools=schools,
        users=users,
        class_count=class_count,
    )
