"""Changes to activities, teams, hours logs, gratitude participation and letters.

Points move only through :mod:`app.points.operations`, by the rule in force on the activity's
date (``rule_in_force(..., on=activity.held_on)``), so a later change of the rules never
changes what an old activity was worth. Checks that read and then write for one student (one
log per activity, the daily hours cap) first take the student's points account row
(:func:`app.points.operations.lock_account`), which queues concurrent transactions for the same
student on PostgreSQL; SQLite has one writer at a time anyway.

Operations flush and raise :class:`DomainError` / :class:`ValidationFailed`; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.activities.models import (
    ACTIVITY_KINDS,
    GRATITUDE_TYPES,
    MAX_LOG_MINUTES,
    VOLUNTEER_TYPES,
    Activity,
    ActivityParticipant,
    GratitudeLetter,
    HoursLog,
    VolunteerTeam,
    VolunteerTeamMember,
)
from app.auth.roles import Role
from app.common import (
    DomainError,
    ValidationFailed,
    has_control_chars,
    local_today,
    normalise_name,
    utcnow,
)
from app.extensions import db
from app.points import operations as points
from app.registry.models import Student

if TYPE_CHECKING:
    from app.auth.models import User
    from app.org.models import School

TEXT_MAX = 100
NOTE_MAX = 200
BODY_MAX = 2000
EARLIEST = date(2000, 1, 1)


class NotAllowed(DomainError):
    """The rule of who may do this said no (e.g. verifying one's own log)."""

    code = "not_allowed"
    status = 403


# ---------------------------------------------------------------- small checks


def _text(
    value: str | None, field_name: str, limit: int, *, required: bool = False, fold: bool = False
) -> str | None:
    """One line of text, trimmed. ``fold``: NFKC-fold too (names that must match as typed in
    full or half width); titles and notes keep their Chinese punctuation (，：)."""
    text = normalise_name(value or "") if fold else (value or "").strip()
    if not text:
        if required:
            raise ValidationFailed(_("This field is required."), field=field_name)
        return None
    if len(text) > limit:
        raise ValidationFailed(_("At most %(max)d characters.", max=limit), field=field_name)
    if has_control_chars(text):
        raise ValidationFailed(_("Control characters are not allowed."), field=field_name)
    return text


def _long_text(value: str | None, field_name: str, limit: int = BODY_MAX) -> str | None:
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        return None
    if len(text) > limit:
        raise ValidationFailed(_("At most %(max)d characters.", max=limit), field=field_name)
    if has_control_chars(text):
        raise ValidationFailed(_("Control characters are not allowed."), field=field_name)
    return text


def _minutes(value: object, field_name: str = "hours", *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("Enter the hours as a number."), field=field_name)
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_LOG_MINUTES:
        raise ValidationFailed(_("Hours must be between 0.5 and 24."), field=field_name)
    return value


def hours_text(minutes: int | None) -> str:
    """2 / 1.5 / 0.25: hours without trailing zeros."""
    if minutes is None:
        return ""
    return f"{minutes / 60:.2f}".rstrip("0").rstrip(".")


def hours_label(minutes: int | None) -> str:
    """ "1.5 h" / "1.5 小时"."""
    return _("%(hours)s h", hours=hours_text(minutes or 0))


def _check_school_user(user: User, school_id: int) -> None:
    if user.role not in (Role.SCHOOL_OFFICER, Role.TEACHER) or user.school_id != school_id:
        raise NotAllowed(_("Only the school's teachers and aid officer can do this."))


def _students_of_school(school_id: int, student_ids: list[int]) -> list[Student]:
    ids = sorted({int(i) for i in student_ids})
    if not ids:
        raise ValidationFailed(_("Tick at least one student."), field="student_ids")
    students = list(
        db.session.scalars(
            select(Student).where(
                Student.id.in_(ids), Student.school_id == school_id, Student.status == "enrolled"
            )
        )
    )
    if len(students) != len(ids):
        raise ValidationFailed(
            _("Some of the ticked students are not enrolled at this school."),
            field="student_ids",
        )
    return sorted(students, key=lambda s: s.id)  # a fixed lock order: no deadlocks


# ---------------------------------------------------------------- activities


@dataclass
class ActivityInput:
    kind: str
    type: str
    title: str
    held_on: date
    place: str | None = None
    organiser: str | None = None
    team_id: int | None = None
    description: str | None = None


def _clean_activity(data: ActivityInput, school_id: int) -> dict:
    if data.kind not in ACTIVITY_KINDS:
        raise ValidationFailed(_("Choose volunteer service or gratitude."), field="kind")
    types = VOLUNTEER_TYPES if data.kind == "volunteer" else GRATITUDE_TYPES
    if data.type not in types:
        raise ValidationFailed(_("Choose a type of this kind of activity."), field="type")
    if not isinstance(data.held_on, date) or not data.held_on >= EARLIEST:
        raise ValidationFailed(_("Enter the date of the activity."), field="held_on")
    if (data.held_on - local_today()).days > 366:
        raise ValidationFailed(_("The date is more than a year ahead."), field="held_on")
    team_id = data.team_id if data.kind == "volunteer" else None
    if team_id is not None:
        team = db.session.get(VolunteerTeam, team_id)
        if team is None or team.school_id != school_id:
            raise ValidationFailed(_("Choose one of the school's teams."), field="team_id")
    return {
        "kind": data.kind,
        "type": data.type,
        "title": _text(data.title, "title", TEXT_MAX, required=True),
        "held_on": data.held_on,
        "place": _text(data.place, "place", TEXT_MAX),
        "organiser": _text(data.organiser, "organiser", TEXT_MAX),
        "team_id": team_id,
        "description": _long_text(data.description, "description"),
    }


def create_activity(school: School, data: ActivityInput, *, user: User) -> Activity:
    """A new volunteer or gratitude activity of the school."""
    _check_school_user(user, school.id)
    activity = Activity(
        school_id=school.id, created_by_id=user.id, **_clean_activity(data, school.id)
    )
    db.session.add(activity)
    db.session.flush()
    return activity


def has_records(activity: Activity) -> bool:
    """Whether hours, participants or letters hang on the activity (its kind and date are then
    fixed: points were or will be worked out from them)."""
    for model in (HoursLog, ActivityParticipant, GratitudeLetter):
        if db.session.scalar(
            select(func.count()).select_from(model).where(model.activity_id == activity.id)
        ):
            return True
    return False


def update_activity(activity: Activity, data: ActivityInput, *, user: User) -> Activity:
    """Change an activity; its kind, type and date only while nothing is recorded on it."""
    _check_school_user(user, activity.school_id)
    values = _clean_activity(data, activity.school_id)
    if has_records(activity) and (
        values["kind"] != activity.kind or values["held_on"] != activity.held_on
    ):
        raise DomainError(
            _(
                "Hours, participants or letters are already recorded for this activity: its "
                "kind and date can no longer change."
            ),
            code="activity_has_records",
            field="held_on",
        )
    for key, value in values.items():
        setattr(activity, key, value)
    db.session.flush()
    return activity


def _happened(activity: Activity) -> None:
    if activity.held_on > local_today():
        raise DomainError(
            _("The activity has not taken place yet (it is on %(day)s).", day=activity.held_on),
            code="activity_in_future",
        )


# ---------------------------------------------------------------- volunteer teams


def create_team(
    school: School,
    *,
    name: str,
    leader_id: int | None = None,
    description: str | None = None,
    user: User,
) -> VolunteerTeam:
    _check_school_user(user, school.id)
    clean = _text(name, "name", TEXT_MAX, required=True, fold=True)
    if db.session.scalar(
        select(VolunteerTeam.id).where(
            VolunteerTeam.school_id == school.id, VolunteerTeam.name == clean
        )
    ):
        raise ValidationFailed(_("The school already has a team of this name."), field="name")
    _check_leader(leader_id, school.id)
    team = VolunteerTeam(
        school_id=school.id,
        name=clean,
        leader_id=leader_id,
        description=_long_text(description, "description"),
    )
    db.session.add(team)
    db.session.flush()
    return team


def _check_leader(leader_id: int | None, school_id: int) -> None:
    if leader_id is None:
        return
    from app.auth.models import User

    leader = db.session.get(User, leader_id)
    if leader is None or leader.school_id != school_id or not leader.active:
        raise ValidationFailed(_("Choose a member of the school's staff."), field="leader_id")


def update_team(
    team: VolunteerTeam,
    *,
    name: str,
    leader_id: int | None,
    description: str | None,
    active: bool,
    user: User,
) -> VolunteerTeam:
    _check_school_user(user, team.school_id)
    clean = _text(name, "name", TEXT_MAX, required=True, fold=True)
    if db.session.scalar(
        select(VolunteerTeam.id).where(
            VolunteerTeam.school_id == team.school_id,
            VolunteerTeam.name == clean,
            VolunteerTeam.id != team.id,
        )
    ):
        raise ValidationFailed(_("The school already has a team of this name."), field="name")
    _check_leader(leader_id, team.school_id)
    team.name = clean
    team.leader_id = leader_id
    team.description = _long_text(description, "description")
    team.active = bool(active)
    db.session.flush()
    return team


def add_members(team: VolunteerTeam, student_ids: list[int], *, user: User) -> int:
    """Add students to the team; those already in it are left as they are. How many joined."""
    _check_school_user(user, team.school_id)
    students = _students_of_school(team.school_id, student_ids)
    present = set(
        db.session.scalars(
            select(VolunteerTeamMember.student_id).where(VolunteerTeamMember.team_id == team.id)
        )
    )
    added = 0
    for student in students:
        if student.id in present:
            continue
        db.session.add(
            VolunteerTeamMember(team_id=team.id, student_id=student.id, joined_on=local_today())
        )
        added += 1
    db.session.flush()
    return added


def remove_member(team: VolunteerTeam, student_id: int, *, user: User) -> None:
    _check_school_user(user, team.school_id)
    member = db.session.scalar(
        select(VolunteerTeamMember).where(
            VolunteerTeamMember.team_id == team.id, VolunteerTeamMember.student_id == student_id
        )
    )
    if member is None:
        raise ValidationFailed(_("This student is not in the team."), field="student_id")
    db.session.delete(member)
    db.session.flush()


# ---------------------------------------------------------------- volunteer hours


@dataclass
class LogResult:
    logs: list[HoursLog] = field(default_factory=list)
    already: list[Student] = field(default_factory=list)  # skipped: a live log exists


def log_hours(
    activity: Activity,
    student_ids: list[int],
    minutes: int,
    *,
    user: User,
    note: str | None = None,
    photo: str | None = None,
) -> LogResult:
    """Log the same hours for one or many students of the school (a class or team ticked on
    one page). A student who already has a pending or verified log for this activity is
    skipped and named. Nothing is credited until someone else verifies."""
    _check_school_user(user, activity.school_id)
    if activity.kind != "volunteer":
        raise DomainError(_("Hours are logged for volunteer service only."), code="not_volunteer")
    _happened(activity)
    minutes = _minutes(minutes)
    note = _text(note, "note", NOTE_MAX)
    result = LogResult()
    for student in _students_of_school(activity.school_id, student_ids):
        points.lock_account(student)
        live = db.session.scalar(
            select(HoursLog.id).where(
                HoursLog.activity_id == activity.id,
                HoursLog.student_id == student.id,
                HoursLog.status != "rejected",
            )
        )
        if live:
            result.already.append(student)
            continue
        log = HoursLog(
            school_id=activity.school_id,
            activity_id=activity.id,
            student_id=student.id,
            minutes=minutes,
            note=note,
            photo=photo,
            status="pending",
            logged_by_id=user.id,
            logged_at=utcnow(),
            points=0,
        )
        db.session.add(log)
        result.logs.append(log)
    db.session.flush()
    return result


@dataclass
class Posting:
    """What a verification or correction credited, and why it may be less than approved."""

    approved_minutes: int
    credited_minutes: int
    points: int
    cap_minutes: int
    earlier_minutes: int  # already credited to the student on the activity's day
    points_per_hour: int

    @property
    def capped(self) -> bool:
        return self.credited_minutes < self.approved_minutes

    def explain(self) -> str | None:
        if not self.capped:
            return None
        return cap_message(
            self.cap_minutes, self.earlier_minutes, self.credited_minutes, self.approved_minutes
        )


def cap_message(cap: int, earlier: int, credited: int, approved: int) -> str:
    return _(
        "Rule “volunteer hours per student per day”: at most %(max)s hours a day are credited; "
        "%(earlier)s were already credited that day, so %(credited)s of the %(approved)s "
        "approved hours earn points.",
        max=hours_text(cap),
        earlier=hours_text(earlier),
        credited=hours_text(credited),
        approved=hours_text(approved),
    )


def _credited_that_day(log: HoursLog) -> int:
    """Minutes already credited to the student for activities on the same day (other logs)."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(HoursLog.credited_minutes), 0))
            .join(Activity, Activity.id == HoursLog.activity_id)
            .where(
                HoursLog.student_id == log.student_id,
                HoursLog.id != log.id,
                HoursLog.status.in_(("approved", "partial")),
                Activity.held_on == log.activity.held_on,
            )
        )
        or 0
    )


def _post(log: HoursLog, approved: int, user: User) -> Posting:
    """Credit ``approved`` minutes of the log by the rule of the activity's day, capped."""
    activity = log.activity
    student = db.session.get(Student, log.student_id)
    school = activity.school
    rule = points.rule_in_force(school.id, school.district_id, activity.held_on)
    points.lock_account(student)
    earlier = _credited_that_day(log)
    cap = rule.max_hours_per_day * 60
    credited = max(0, min(approved, cap - earlier))
    earned = credited * rule.points_per_hour // 60
    entry = None
    if earned > 0:
        entry = points.credit(
            student,
            earned,
            kind="volunteer",
            reason=f"{activity.title} · {hours_text(credited)} h"[:200],
            user_id=user.id,
            rule_id=rule.id,
            source="hours",
            source_id=log.id,
        )
    log.approved_minutes = approved
    log.credited_minutes = credited
    log.points = earned
    log.rule_id = rule.id
    log.entry_id = entry.id if entry is not None else None
    return Posting(approved, credited, earned, cap, earlier, rule.points_per_hour)


def _check_verifier(log: HoursLog, user: User) -> None:
    _check_school_user(user, log.school_id)
    if user.id == log.logged_by_id:
        raise NotAllowed(
            _("Hours are verified by a second person: someone other than who logged them.")
        )


def verify_log(
    log: HoursLog, *, approved_minutes: int, note: str | None = None, user: User
) -> Posting | None:
    """Approve (all hours), partly approve (fewer, with a reason) or reject (0, with a reason)
    a pending log; approved hours post points. None for a rejection."""
    _check_verifier(log, user)
    if log.status != "pending":
        raise DomainError(_("This log has already been verified."), code="already_verified")
    approved = _minutes(approved_minutes, "approved_hours", allow_zero=True)
    if approved > log.minutes:
        raise ValidationFailed(
            _("At most the %(hours)s hours that were logged.", hours=hours_text(log.minutes)),
            field="approved_hours",
        )
    note = _text(note, "note", NOTE_MAX)
    if approved < log.minutes and not note:
        raise ValidationFailed(
            _("Say why fewer hours are approved, or why the log is rejected."), field="note"
        )
    log.verified_by_id = user.id
    log.verified_at = utcnow()
    log.decision_note = note
    if approved == 0:
        log.status = "rejected"
        log.approved_minutes = 0
        log.credited_minutes = 0
        log.points = 0
        db.session.flush()
        return None
    log.status = "approved" if approved == log.minutes else "partial"
    posting = _post(log, approved, user)
    db.session.flush()
    return posting


def correct_log(log: HoursLog, *, approved_minutes: int, reason: str, user: User) -> Posting | None:
    """Change the approved hours of a verified (or rejected) log: the points posted before are
    reversed by a compensating entry and the new hours posted again. None if now rejected."""
    _check_verifier(log, user)
    if log.status == "pending":
        raise DomainError(_("Verify the log first."), code="not_verified")
    approved = _minutes(approved_minutes, "approved_hours", allow_zero=True)
    reason = _text(reason, "reason", NOTE_MAX, required=True)
    if approved == (log.approved_minutes or 0):
        raise ValidationFailed(_("These are the hours already approved."), field="approved_hours")
    if log.entry_id is not None:
        old = db.session.get(points.PointEntry, log.entry_id)
        points.reverse(old, reason=reason, user_id=user.id)
        log.entry_id = None
    log.corrected_by_id = user.id
    log.corrected_at = utcnow()
    log.correction_reason = reason
    if approved == 0:
        log.status = "rejected"
        log.approved_minutes = 0
        log.credited_minutes = 0
        log.points = 0
        db.session.flush()
        return None
    log.status = "approved" if approved >= log.minutes else "partial"
    posting = _post(log, approved, user)
    db.session.flush()
    return posting


# ---------------------------------------------------------------- gratitude


@dataclass
class ParticipationResult:
    added: list[ActivityParticipant] = field(default_factory=list)
    already: list[Student] = field(default_factory=list)
    points_each: int = 0


def record_participants(
    activity: Activity, student_ids: list[int], *, user: User
) -> ParticipationResult:
    """Students took part in a gratitude activity: each is credited once, by the rule of the
    activity's day (points per gratitude activity); those already recorded are skipped."""
    _check_school_user(user, activity.school_id)
    if activity.kind != "gratitude":
        raise DomainError(
            _("Participants are recorded for gratitude activities."), code="not_gratitude"
        )
    _happened(activity)
    school = activity.school
    rule = points.rule_in_force(school.id, school.district_id, activity.held_on)
    result = ParticipationResult(points_each=rule.points_per_gratitude)
    for student in _students_of_school(activity.school_id, student_ids):
        points.lock_account(student)
        if db.session.scalar(
            select(ActivityParticipant.id).where(
                ActivityParticipant.activity_id == activity.id,
                ActivityParticipant.student_id == student.id,
            )
        ):
            result.already.append(student)
            continue
        participant = ActivityParticipant(
            school_id=activity.school_id,
            activity_id=activity.id,
            student_id=student.id,
            points=0,
            rule_id=rule.id,
            recorded_by_id=user.id,
            recorded_at=utcnow(),
        )
        db.session.add(participant)
        db.session.flush()
        if rule.points_per_gratitude > 0:
            entry = points.credit(
                student,
                rule.points_per_gratitude,
                kind="gratitude",
                reason=activity.title[:200],
                user_id=user.id,
                rule_id=rule.id,
                source="participation",
                source_id=participant.id,
            )
            participant.points = rule.points_per_gratitude
            participant.entry_id = entry.id
        result.added.append(participant)
    db.session.flush()
    return result


def _check_addressee(school_id: int, receipt_id: int | None, donor_id: int | None):
    """The receipt must be a donation the school received; the donor one who gave to it."""
    from app.donations.models import Pledge, Receipt

    if receipt_id is None and donor_id is None:
        raise ValidationFailed(
            _("Choose the donation or the donor the letter thanks."), field="receipt_id"
        )
    if receipt_id is not None:
        receipt = db.session.get(Receipt, receipt_id)
        if receipt is None or receipt.school_id != school_id or receipt.donor_id is None:
            raise ValidationFailed(_("Choose a donation the school received."), field="receipt_id")
        if donor_id is None:
            donor_id = receipt.donor_id
        elif donor_id != receipt.donor_id:
            raise ValidationFailed(_("This donation came from another donor."), field="donor_id")
    else:
        gave = db.session.scalar(
            select(func.count())
            .select_from(Receipt)
            .where(Receipt.school_id == school_id, Receipt.donor_id == donor_id)
        ) or db.session.scalar(
            select(func.count())
            .select_from(Pledge)
            .where(Pledge.school_id == school_id, Pledge.donor_id == donor_id)
        )
        if not gave:
            raise ValidationFailed(_("Choose a donor of the school."), field="donor_id")
    return receipt_id, donor_id


def create_letter(
    activity: Activity,
    student_id: int,
    *,
    receipt_id: int | None,
    donor_id: int | None,
    body: str | None,
    photo: str | None,
    user: User,
) -> GratitudeLetter:
    """Enter a student's thank-you letter (typed text and/or a photo of the handwritten page);
    it waits for a teacher's approval before the donor sees it."""
    _check_school_user(user, activity.school_id)
    if activity.kind != "gratitude":
        raise DomainError(_("Letters belong to a gratitude activity."), code="not_gratitude")
    _happened(activity)
    (student,) = _students_of_school(activity.school_id, [student_id])
    body = _long_text(body, "body")
    if body is None and photo is None:
        raise ValidationFailed(
            _("Type the letter, or add a photo of the handwritten letter."), field="body"
        )
    receipt_id, donor_id = _check_addressee(activity.school_id, receipt_id, donor_id)
    letter = GratitudeLetter(
        school_id=activity.school_id,
        activity_id=activity.id,
        student_id=student.id,
        receipt_id=receipt_id,
        donor_id=donor_id,
        grade=student.school_class.grade if student.school_class else None,
        body=body,
        photo=photo,
        status="pending",
        created_by_id=user.id,
        created_at=utcnow(),
    )
    db.session.add(letter)
    db.session.flush()
    return letter


def review_letter(
    letter: GratitudeLetter, *, approve: bool, note: str | None = None, user: User
) -> ParticipationResult | None:
    """A teacher approves a letter (the donor's page then shows it, and the student counts as
    a participant of the activity, credited once) or rejects it with a reason. An approved
    letter can later be withdrawn from the donor's page the same way."""
    _check_school_user(user, letter.school_id)
    note = _text(note, "note", NOTE_MAX)
    if approve:
        if letter.status != "pending":
            raise DomainError(_("This letter has already been reviewed."), code="already_reviewed")
        letter.status = "approved"
    else:
        if letter.status == "rejected":
            raise DomainError(_("This letter has already been reviewed."), code="already_reviewed")
        if not note:
            raise ValidationFailed(_("Give a reason."), field="note")
        letter.status = "rejected"
    letter.reviewed_by_id = user.id
    letter.reviewed_at = utcnow()
    letter.review_note = note
    db.session.flush()
    if approve:
        student = db.session.get(Student, letter.student_id)
        if student.status == "enrolled" and letter.activity.held_on <= local_today():
            return record_participants(letter.activity, [student.id], user=user)
    return None
