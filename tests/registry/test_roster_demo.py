"""The demo roster: full classes at the two lead schools, valid numbers, a realistic minority
in care groups, the same every time."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from app.audit.operations import acting_as
from app.registry.models import CARE_FLAGS, Student
from app.registry.validation import id_number_problem


def _load(db) -> dict:
    from app.demo import wipe_all_data
    from app.demo.org import load_org
    from app.demo.roster import load_roster

    db.session.commit()
    db.session.expunge_all()  # the second load restarts the ids
    with acting_as("demo"):
        wipe_all_data()
        ctx: dict = {}
        load_org(ctx)
        load_roster(ctx)
        db.session.commit()
    return ctx


def test_the_demo_roster_is_full_valid_and_repeatable(db):
    ctx = _load(db)
    students = list(db.session.scalars(select(Student).order_by(Student.id)))
    assert ctx["students"] == len(students) > 900
    per_class = Counter(s.class_id for s in students)
    for name in ("陇西小学", "幸福路小学"):
        school = ctx["schools"][name]
        sizes = [per_class[c.id] for c in school.classes]
        assert len(sizes) == 18 and all(25 <= n <= 40 for n in sizes), (name, sizes)
    others = Counter(s.school_id for s in students)
    assert others[ctx["schools"]["七十四中"].id] == 6
    assert len({s.id_number for s in students}) == len(students)
    year = 2026 if students[0].created_at.month >= 9 else 2025
    for s in students:
        assert id_number_problem(s.id_number) is None
        assert s.student_no == "G" + s.id_number
        assert s.gender == ("M" if int(s.id_number[16]) % 2 else "F")
        grade = s.school_class.grade
        assert s.birth_date.year in (year - grade - 6, year - grade - 5)
        assert s.guardian_phone.isdigit() and len(s.guardian_phone) == 11
    for flag in CARE_FLAGS:
        share = sum(getattr(s, flag) for s in students) / len(students)
        assert share < 0.2, flag
    assert sum(s.migrant for s in students) > 50 and sum(s.left_behind for s in students) > 20
    first = [(s.name, s.id_number) for s in students[:50]]
    _load(db)
    again = [
        (s.name, s.id_number) for s in db.session.scalars(select(Student).order_by(Student.id))
    ]
    assert again[:50] == first
