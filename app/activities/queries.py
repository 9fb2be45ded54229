"""Read helpers of the activity pages, and the one public read: approved thank-you letters for
a donor's status page (:func:`approved_letters_for_pledge`).

Everything staff-facing starts from the user's scope (``scoped`` / ``get_scoped_or_404``);
lists are paginated and load their related rows in the same few queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import selectinload

from app.activities.models import (
    Activity,
    ActivityParticipant,
    GratitudeLetter,
    HoursLog,
    VolunteerTeam,
    VolunteerTeamMember,
)
from app.auth.scope import scoped
from app.common import to_local
from app.extensions import db
from app.org.models import SchoolClass, grade_label
from app.registry.models import Student

if TYPE_CHECKING:
    from app.auth.models import User
    from app.donations.models import Pledge


# ---------------------------------------------------------------- activities


def activities_stmt(
    user: User, *, kind: str | None = None, q: str | None = None, school_id: int | None = None
) -> Select:
    stmt = scoped(select(Activity), user).options(
        selectinload(Activity.team), selectinload(Activity.school)
    )
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    if q:
        stmt = stmt.where(Activity.title.contains(q, autoescape=True))
    if school_id:
        stmt = stmt.where(Activity.school_id == school_id)
    return stmt.order_by(Activity.held_on.desc(), Activity.id.desc())


@dataclass
class ActivityCounts:
    students: int = 0
    minutes: int = 0  # verified and credited
    pending: int = 0


def activity_counts(activity_ids: list[int]) -> dict[int, ActivityCounts]:
    """Students, credited minutes and pending logs per activity, in two grouped queries."""
    out = {i: ActivityCounts() for i in activity_ids}
    if not activity_ids:
        return out
    for activity_id, status, n, minutes in db.session.execute(
        select(
            HoursLog.activity_id,
            HoursLog.status,
            func.count(),
            func.coalesce(func.sum(HoursLog.credited_minutes), 0),
        )
        .where(HoursLog.activity_id.in_(activity_ids))
        .group_by(HoursLog.activity_id, HoursLog.status)
    ):
        counts = out[activity_id]
        if status == "pending":
            counts.pending += n
        if status != "rejected":
            counts.students += n
        counts.minutes += int(minutes or 0)
    for activity_id, n in db.session.execute(
        select(ActivityParticipant.activity_id, func.count())
        .where(ActivityParticipant.activity_id.in_(activity_ids))
        .group_by(ActivityParticipant.activity_id)
    ):
        out[activity_id].students += n
    return out


def _student_order():
    return (SchoolClass.grade, SchoolClass.number, Student.name, Student.id)


def activity_logs(activity: Activity) -> list[HoursLog]:
    return list(
        db.session.scalars(
            select(HoursLog)
            .join(Student, Student.id == HoursLog.student_id)
            .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
            .where(HoursLog.activity_id == activity.id)
            .options(
                selectinload(HoursLog.student).selectinload(Student.school_class),
                selectinload(HoursLog.logged_by),
                selectinload(HoursLog.verified_by),
            )
            .order_by(*_student_order())
        )
    )


def activity_participants(activity: Activity) -> list[ActivityParticipant]:
    return list(
        db.session.scalars(
            select(ActivityParticipant)
            .join(Student, Student.id == ActivityParticipant.student_id)
            .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
            .where(ActivityParticipant.activity_id == activity.id)
            .options(selectinload(ActivityParticipant.student).selectinload(Student.school_class))
            .order_by(*_student_order())
        )
    )


def activity_letters(activity: Activity) -> list[GratitudeLetter]:
    return list(
        db.session.scalars(
            select(GratitudeLetter)
            .where(GratitudeLetter.activity_id == activity.id)
            .options(*_letter_loads())
            .order_by(GratitudeLetter.id.desc())
        )
    )


# ---------------------------------------------------------------- hours logs


def _log_loads():
    return (
        selectinload(HoursLog.student).selectinload(Student.school_class),
        selectinload(HoursLog.activity),
        selectinload(HoursLog.logged_by),
        selectinload(HoursLog.verified_by),
    )


def my_logs_stmt(user: User, status: str | None = None) -> Select:
    """The logs ``user`` logged, newest first."""
    stmt = (
        scoped(select(HoursLog), user)
        .where(HoursLog.logged_by_id == user.id)
        .options(*_log_loads())
        .order_by(HoursLog.id.desc())
    )
    if status:
        stmt = stmt.where(HoursLog.status == status)
    return stmt


def queue_stmt(user: User) -> Select:
    """Pending logs of the school that ``user`` may verify: everyone's but their own."""
    return (
        scoped(select(HoursLog), user)
        .join(Activity, Activity.id == HoursLog.activity_id)
        .where(HoursLog.status == "pending", HoursLog.logged_by_id != user.id)
        .options(*_log_loads())
        .order_by(Activity.held_on, HoursLog.activity_id, HoursLog.id)
    )


def queue_count(user: User) -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(
                scoped(select(HoursLog.id), user, HoursLog)
                .where(HoursLog.status == "pending", HoursLog.logged_by_id != user.id)
                .subquery()
            )
        )
        or 0
    )


def status_counts(user: User) -> dict[str, int]:
    """The user's own logs by status."""
    rows = db.session.execute(
        scoped(select(HoursLog.status, func.count()), user, HoursLog)
        .where(HoursLog.logged_by_id == user.id)
        .group_by(HoursLog.status)
    ).all()
    return {status: int(n) for status, n in rows}


def logs_by_id(ids: list[int], user: User) -> list[HoursLog]:
    if not ids:
        return []
    return list(
        db.session.scalars(
            scoped(select(HoursLog), user)
            .where(HoursLog.id.in_(ids))
            .options(*_log_loads())
            .order_by(HoursLog.id)
        )
    )


# ---------------------------------------------------------------- picking students


def class_students(school_id: int, class_id: int) -> list[Student]:
    return list(
        db.session.scalars(
            select(Student)
            .where(
                Student.school_id == school_id,
                Student.class_id == class_id,
                Student.status == "enrolled",
            )
            .order_by(Student.name, Student.id)
        )
    )


def team_students(team: VolunteerTeam) -> list[Student]:
    return list(
        db.session.scalars(
            select(Student)
            .join(VolunteerTeamMember, VolunteerTeamMember.student_id == Student.id)
            .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
            .where(VolunteerTeamMember.team_id == team.id, Student.status == "enrolled")
            .options(selectinload(Student.school_class))
            .order_by(*_student_order())
        )
    )


def already_logged(activity: Activity) -> set[int]:
    """Students with a live (pending or verified) log for the activity."""
    return set(
        db.session.scalars(
            select(HoursLog.student_id).where(
                HoursLog.activity_id == activity.id, HoursLog.status != "rejected"
            )
        )
    )


def participant_ids(activity: Activity) -> set[int]:
    return set(
        db.session.scalars(
            select(ActivityParticipant.student_id).where(
                ActivityParticipant.activity_id == activity.id
            )
        )
    )


def school_students(school_id: int) -> list[Student]:
    return list(
        db.session.scalars(
            select(Student)
            .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
            .where(Student.school_id == school_id, Student.status == "enrolled")
            .options(selectinload(Student.school_class))
            .order_by(*_student_order())
        )
    )


def teams_of(school_id: int, *, active_only: bool = True) -> list[VolunteerTeam]:
    stmt = select(VolunteerTeam).where(VolunteerTeam.school_id == school_id)
    if active_only:
        stmt = stmt.where(VolunteerTeam.active.is_(True))
    return list(db.session.scalars(stmt.order_by(VolunteerTeam.name)))


def teams_stmt(user: User) -> Select:
    return (
        scoped(select(VolunteerTeam), user)
        .options(selectinload(VolunteerTeam.leader), selectinload(VolunteerTeam.school))
        .order_by(VolunteerTeam.active.desc(), VolunteerTeam.name, VolunteerTeam.id)
    )


def member_counts(team_ids: list[int]) -> dict[int, int]:
    if not team_ids:
        return {}
    return dict(
        db.session.execute(
            select(VolunteerTeamMember.team_id, func.count())
            .join(Student, Student.id == VolunteerTeamMember.student_id)
            .where(VolunteerTeamMember.team_id.in_(team_ids), Student.status == "enrolled")
            .group_by(VolunteerTeamMember.team_id)
        ).all()
    )


def staff_of(school_id: int) -> list[Any]:
    from app.auth.models import User
    from app.auth.roles import Role

    return list(
        db.session.scalars(
            select(User)
            .where(
                User.school_id == school_id,
                User.active.is_(True),
                User.role.in_((Role.SCHOOL_OFFICER.value, Role.TEACHER.value)),
            )
            .order_by(User.display_name, User.id)
        )
    )


# ---------------------------------------------------------------- letters


def _letter_loads():
    return (
        selectinload(GratitudeLetter.student).selectinload(Student.school_class),
        selectinload(GratitudeLetter.activity),
        selectinload(GratitudeLetter.receipt),
        selectinload(GratitudeLetter.donor),
        selectinload(GratitudeLetter.created_by),
        selectinload(GratitudeLetter.reviewed_by),
    )


def letters_stmt(user: User, status: str | None = None) -> Select:
    stmt = (
        scoped(select(GratitudeLetter), user)
        .options(*_letter_loads())
        .order_by(GratitudeLetter.id.desc())
    )
    if status:
        stmt = stmt.where(GratitudeLetter.status == status)
    return stmt


def donation_receipts(school_id: int, limit: int = 200) -> list[Any]:
    """Donations the school received (newest first), for addressing a letter."""
    from app.donations.models import Receipt

    return list(
        db.session.scalars(
            select(Receipt)
            .where(Receipt.school_id == school_id, Receipt.donor_id.is_not(None))
            .options(selectinload(Receipt.donor))
            .order_by(Receipt.received_at.desc(), Receipt.id.desc())
            .limit(limit)
        )
    )


def school_donors(school_id: int) -> list[Any]:
    """Donors who gave to the school and did not ask to stay anonymous."""
    from app.donations.models import Donor, Pledge, Receipt

    gave = or_(
        Donor.id.in_(
            select(Receipt.donor_id).where(
                Receipt.school_id == school_id, Receipt.anonymous.is_(False)
            )
        ),
        Donor.id.in_(
            select(Pledge.donor_id).where(
                Pledge.school_id == school_id, Pledge.anonymous.is_(False)
            )
        ),
    )
    return list(db.session.scalars(select(Donor).where(gave).order_by(Donor.name, Donor.id)))


def receipt_label(receipt: Any) -> str:
    """How staff see a donation in the letter form: anonymous donors as 爱心人士."""
    donor = (
        _("Anonymous donor") if receipt.anonymous or receipt.donor is None else receipt.donor.name
    )
    day = to_local(receipt.received_at).date().isoformat() if receipt.received_at else ""
    number = f" · {receipt.certificate_no}" if receipt.certificate_no else ""
    return f"{donor} · {day}{number}"


# ---------------------------------------------------------------- the donor's view

COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "太叔",
        "申屠",
        "钟离",
        "闻人",
        "赫连",
        "拓跋",
        "完颜",
        "第五",
    }
)
_NAME_DOTS = "·•・.．"


def given_name(name: str) -> str:
    """The given name only: 王小明 → 小明, 欧阳娜娜 → 娜娜, 阿依古丽·买买提 → 阿依古丽."""
    name = (name or "").strip()
    for dot in _NAME_DOTS:
        if dot in name:
            return name.split(dot, 1)[0].strip()
    if " " in name:  # a name written the Western way: the first word
        return name.split()[0]
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[2:]
    if len(name) >= 2:
        return name[1:]
    return name


@dataclass
class PublicLetter:
    """An approved letter as the donor sees it: given name and grade, never more."""

    given_name: str
    grade: int | None
    school_name: str
    body: str | None
    handwritten: bool
    approved_on: date | None

    @property
    def signature(self) -> str:
        if self.grade:
            return _("%(name)s, %(grade)s", name=self.given_name, grade=grade_label(self.grade))
        return self.given_name


def approved_letters_for_pledge(pledge: Pledge) -> list[PublicLetter]:
    """Approved thank-you letters for the donor's status page of ``pledge``: letters to a
    donation received against this pledge, and letters to the pledge's donor in general.
    Shows the student's given name and grade only; a handwritten letter's photo is not
    published (it may carry a full name): the page can say the school passes it on."""
    from app.donations.models import Receipt

    letters = db.session.scalars(
        select(GratitudeLetter)
        .outerjoin(Receipt, Receipt.id == GratitudeLetter.receipt_id)
        .where(
            GratitudeLetter.status == "approved",
            or_(
                Receipt.pledge_id == pledge.id,
                and_(
                    GratitudeLetter.receipt_id.is_(None),
                    GratitudeLetter.donor_id == pledge.donor_id,
                ),
            ),
        )
        .options(selectinload(GratitudeLetter.student), selectinload(GratitudeLetter.activity))
        .order_by(GratitudeLetter.reviewed_at, GratitudeLetter.id)
    ).all()
    from app.org.models import School

    names = dict(
        db.session.execute(
            select(School.id, School.name).where(School.id.in_({ltr.school_id for ltr in letters}))
        ).all()
    )
    return [
        PublicLetter(
            given_name=given_name(letter.student.name),
            grade=letter.grade,
            school_name=names.get(letter.school_id, ""),
            body=letter.body,
            handwritten=letter.photo is not None,
            approved_on=to_local(letter.reviewed_at).date() if letter.reviewed_at else None,
        )
        for letter in letters
    ]
