"""The public 公示 notice of aid certification results (blueprint ``publicity``, no login).

What it shows is fixed by 教财厅函〔2017〕28号 and DOMAIN.md §4.2: a masked name (张*明), the
school, grade and class, and the level — nothing else: no ID number, address, phone, birth date,
bank card, special-group category or family situation. The query selects only those columns, and
names are masked before they reach the template.

A notice shows only while today lies inside its window [publicity_start, publicity_end]: the
query filters by date, so the notice disappears by itself the day after, with no job to run.
There is no search (least of all by full name); each school's page lists its own notices with
the window and the school's phone for objections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import groupby

from flask import Blueprint, abort, render_template
from sqlalchemy import func, select

from app.auth.access import public
from app.common import local_today
from app.extensions import db
from app.org.models import District, School, SchoolClass, class_label
from app.registry.access import mask_name
from app.registry.certification import LEVEL_LABELS
from app.registry.models import AidApplication, Student

bp = Blueprint("publicity", __name__, url_prefix="/publicity")


@dataclass(frozen=True)
class Notice:
    masked_name: str
    class_name: str
    grade: int
    number: int
    level: str
    start: date
    end: date

    @property
    def level_label(self) -> str:
        return str(LEVEL_LABELS[self.level])


def _live(today: date):
    return (
        AidApplication.status == "publicity",
        AidApplication.publicity_start <= today,
        AidApplication.publicity_end >= today,
    )


def notices_for(school_id: int, today: date) -> list[Notice]:
    """The school's live notices: only the columns the 公示 may show."""
    rows = db.session.execute(
        select(
            Student.name,
            SchoolClass.grade,
            SchoolClass.number,
            AidApplication.level,
            AidApplication.publicity_start,
            AidApplication.publicity_end,
        )
        .join(Student, Student.id == AidApplication.student_id)
        .outerjoin(SchoolClass, SchoolClass.id == AidApplication.class_id)
        .where(AidApplication.school_id == school_id, *_live(today))
    ).all()
    notices = [
        Notice(
            masked_name=mask_name(name),
            class_name=class_label(grade, number) if grade else "",
            grade=grade or 0,
            number=number or 0,
            level=level,
            start=start,
            end=end,
        )
        for name, grade, number, level, start, end in rows
    ]
    # Ordered by window, class and masked name: never by anything that hints at more.
    return sorted(notices, key=lambda n: (n.start, n.end, n.grade, n.number, n.masked_name))


def schools_with_notices(today: date) -> list[tuple[District, School, int, date, date]]:
    rows = db.session.execute(
        select(
            School,
            func.count(AidApplication.id),
            func.min(AidApplication.publicity_start),
            func.max(AidApplication.publicity_end),
        )
        .join(AidApplication, AidApplication.school_id == School.id)
        .where(*_live(today))
        .group_by(School.id)
        .order_by(School.district_id, School.id)
    ).all()
    districts = {
        d.id: d
        for d in db.session.scalars(
            select(District).where(District.id.in_({school.district_id for school, *_ in rows}))
        )
    }
    return [(districts[s.district_id], s, n, start, end) for s, n, start, end in rows]


def _no_store(response):
    # Notices must vanish when their window ends: no browser or proxy keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


bp.after_request(_no_store)


@bp.route("/")
@public
def index():
    today = local_today()
    rows = schools_with_notices(today)
    groups = [(district, list(items)) for district, items in groupby(rows, key=lambda r: r[0])]
    return render_template("publicity/index.html", groups=groups, today=today)


@bp.route("/schools/<int(max=2147483647):school_id>")
@public
def school(school_id: int):
    school = db.session.get(School, school_id)
    if school is None:
        abort(404)
    today = local_today()
    notices = notices_for(school.id, today)
    windows = [
        ((start, end), list(items))
        for (start, end), items in groupby(notices, key=lambda n: (n.start, n.end))
    ]
    return render_template(
        "publicity/school.html", school=school, windows=windows, count=len(notices), today=today
    )
