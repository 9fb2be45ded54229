"""The certification workflow (教财〔2018〕16号): every transition, who may make it, and the
queries the points domain reads (confirmed levels, is_certified)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.common import DomainError, ValidationFailed, frozen_time
from app.registry import aid_queries
from app.registry import certification as cert
from app.registry.models import AidApplication
from tests.registry.aid_support import MONDAY, at, draft, drive, make_student, object_to


@pytest.fixture
def student(world):
    return make_student(world.school_a1, world.class_a1, name="张小明")


def users(world, *keys):
    return [world.user(k) for k in keys]


# ---------------------------------------------------------------- school years, working days


def test_school_year_starts_on_the_first_of_september():
    assert cert.school_year_of(date(2026, 8, 31)) == 2025
    assert cert.school_year_of(date(2026, 9, 1)) == 2026
    assert cert.school_year_of(date(2027, 3, 1)) == 2026


def test_publicity_window_counts_working_days_from_the_decision_day():
    # Monday + 5 working days: Monday to Friday, the last day included.
    assert cert.publicity_window(date(2026, 11, 16), 5) == (date(2026, 11, 16), date(2026, 11, 20))
    # Thursday: Thu, Fri, Mon, Tue, Wed.
    assert cert.publicity_window(date(2026, 11, 19), 5) == (date(2026, 11, 19), date(2026, 11, 25))
    # Saturday: starts on the next Monday.
    assert cert.publicity_window(date(2026, 11, 21), 5) == (date(2026, 11, 23), date(2026, 11, 27))
    assert cert.publicity_window(date(2026, 11, 16), 7) == (date(2026, 11, 16), date(2026, 11, 24))


# ---------------------------------------------------------------- creating


def test_head_teacher_of_the_class_and_the_officer_may_start_an_application(world, student, db):
    by_teacher = draft(student, world.user("teacher_a1"))
    assert by_teacher.status == "draft" and by_teacher.class_id == world.class_a1.id
    assert by_teacher.school_year == 2026 and by_teacher.categories == ["dibao"]
    other = make_student(world.school_a1, world.class_a1, name="李小红")
    assert draft(other, world.user("officer_a1")).created_by_id == world.user("officer_a1").id


@pytest.mark.parametrize(
    "key", ["teacher_b1", "clerk_a1", "officer_a2", "officer_b1", "admin", "lead_a", "officer_x"]
)
def test_nobody_else_may_start_one(world, student, key, db):
    with pytest.raises(cert.NotAllowed), frozen_time(at(MONDAY)):
        cert.create_application(
            student,
            cert.ApplicationInput(categories=["dibao"]),
            user=world.user(key),
            school_year=2026,
        )


def test_a_teacher_who_is_not_head_of_the_class_may_not(world, db, make_user):
    other_teacher = make_user("teacher", school=world.school_a1)
    student = make_student(world.school_a1, world.class_a1)
    with pytest.raises(cert.NotAllowed), frozen_time(at(MONDAY)):
        cert.create_application(
            student, cert.ApplicationInput(), user=other_teacher, school_year=2026
        )


def test_head_teacher_of_another_class_may_not(world, db, make_class):
    # teacher_a1 heads class A1; a student of another class of the same school is not theirs.
    other_class = make_class(world.school_a1, grade=4, number=3)
    student = make_student(world.school_a1, other_class)
    with pytest.raises(cert.NotAllowed), frozen_time(at(MONDAY)):
        cert.create_application(
            student, cert.ApplicationInput(), user=world.user("teacher_a1"), school_year=2026
        )


def test_one_open_application_per_student_and_year(world, student, db):
    first = draft(student, world.user("officer_a1"))
    with pytest.raises(DomainError) as refused:
        draft(student, world.user("officer_a1"))
    assert refused.value.code == "application_exists"
    db.session.rollback()
    # Another school year is a fresh start.
    assert draft(student, world.user("officer_a1"), year=2027).school_year == 2027
    # After a withdrawal the year is open again.
    cert.withdraw_application(
        db.session.get(AidApplication, first.id), user=world.user("officer_a1")
    )
    db.session.commit()
    assert draft(student, world.user("officer_a1")).status == "draft"


def test_only_this_or_next_school_year(world, student, db):
    with pytest.raises(ValidationFailed) as refused:
        draft(student, world.user("officer_a1"), year=2025)
    assert refused.value.field == "school_year"


def test_unknown_categories_and_a_left_student_are_refused(world, student, db):
    with pytest.raises(ValidationFailed), frozen_time(at(MONDAY)):
        cert.create_application(
            student,
            cert.ApplicationInput(categories=["rich"]),
            user=world.user("officer_a1"),
            school_year=2026,
        )
    student.status = "graduated"
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        draft(student, world.user("officer_a1"))
    assert refused.value.code == "student_left"


# ---------------------------------------------------------------- submit, withdraw, review


def test_submit_needs_the_written_pledge_and_a_category(world, student, db):
    application = draft(student, world.user("teacher_a1"), pledge=False)
    with pytest.raises(ValidationFailed) as refused:
        cert.submit_application(application, user=world.user("teacher_a1"))
    assert refused.value.field == "written_pledge"
    cert.update_application(
        application,
        cert.ApplicationInput(categories=["other"], written_pledge=True),
        user=world.user("teacher_a1"),
    )
    with pytest.raises(ValidationFailed) as refused:
        cert.submit_application(application, user=world.user("teacher_a1"))
    assert refused.value.field == "situation"  # "other" needs the family's account
    application.situation = "父亲因病失去劳动能力。"
    cert.submit_application(application, user=world.user("teacher_a1"))
    assert application.status == "class_review" and application.submitted_at is not None
    assert application.pledge_signed_on is not None  # defaulted to the day it was ticked


def test_withdraw_only_a_draft(world, student, db):
    application = draft(student, world.user("officer_a1"))
    with pytest.raises(cert.NotAllowed):
        cert.withdraw_application(application, user=world.user("clerk_a1"))
    cert.submit_application(application, user=world.user("officer_a1"))
    with pytest.raises(cert.WrongStatus):
        cert.withdraw_application(application, user=world.user("officer_a1"))


def test_class_review_by_the_head_teacher_only(world, student, db, make_user):
    application = drive(draft(student, world.user("officer_a1")), "class_review", world)
    other_teacher = make_user("teacher", school=world.school_a1)
    for user in [other_teacher, *users(world, "officer_a1", "clerk_a1", "admin", "teacher_a2")]:
        with pytest.raises(cert.NotAllowed):
            cert.class_review(application, user=user, recommended_level="general", note=None)
    cert.class_review(
        application, user=world.user("teacher_a1"), recommended_level="moderate", note="同意"
    )
    assert application.status == "school_review"
    assert application.recommended_level == "moderate"
    assert application.class_reviewed_by_id == world.user("teacher_a1").id


def test_the_officer_reviews_for_a_class_without_a_head_teacher(world, db):
    student = make_student(world.school_b1, world.class_b1)  # class B1 has no head teacher
    application = drive(draft(student, world.user("officer_b1")), "class_review", world)
    cert.class_review(
        application, user=world.user("officer_b1"), recommended_level="general", note=None
    )
    assert application.status == "school_review"


def test_class_review_needs_a_level_and_the_right_step(world, student, db):
    application = draft(student, world.user("officer_a1"))
    with pytest.raises(cert.WrongStatus):
        cert.class_review(
            application, user=world.user("teacher_a1"), recommended_level="general", note=None
        )
    cert.submit_application(application, user=world.user("officer_a1"))
    with pytest.raises(ValidationFailed):
        cert.class_review(
            application, user=world.user("teacher_a1"), recommended_level="rich", note=None
        )


# ---------------------------------------------------------------- decision and 公示


def test_the_officer_decides_and_the_notice_window_opens(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "school_review", world)
    for user in users(world, "teacher_a1", "admin", "officer_a2", "clerk_a1"):
        with pytest.raises(cert.NotAllowed):
            cert.decide(application, user=user, level="general")
    with frozen_time(at(date(2026, 11, 19))):  # a Thursday
        cert.decide(application, user=world.user("officer_a1"), level="severe")
    assert application.status == "publicity" and application.level == "severe"
    assert (application.publicity_start, application.publicity_end) == (
        date(2026, 11, 19),
        date(2026, 11, 25),
    )


def test_the_school_sets_the_number_of_working_days(world, student, db):
    world.school_a1.publicity_days = 7
    db.session.commit()
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    assert application.publicity_end == date(2026, 11, 24)


def test_a_refusal_needs_a_reason(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "school_review", world)
    with pytest.raises(ValidationFailed) as refused:
        cert.decide(application, user=world.user("officer_a1"), level=None, note="  ")
    assert refused.value.field == "note"
    cert.decide(application, user=world.user("officer_a1"), level=None, note="收入高于标准")
    assert application.status == "rejected" and application.publicity_start is None


def test_objections_only_inside_the_window(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    with frozen_time(at(MONDAY + timedelta(days=2))):
        with pytest.raises(cert.NotAllowed):
            cert.record_objection(application, user=world.user("teacher_a1"), content="x")
        for bad in (MONDAY - timedelta(days=1), MONDAY + timedelta(days=3)):  # before / future
            with pytest.raises(ValidationFailed):
                cert.record_objection(
                    application, user=world.user("officer_a1"), content="x", received_on=bad
                )
        with pytest.raises(ValidationFailed):
            cert.record_objection(application, user=world.user("officer_a1"), content=" ")
        objection = cert.record_objection(
            application, user=world.user("officer_a1"), content="家庭情况不实"
        )
    assert objection.received_on == MONDAY + timedelta(days=2) and objection.resolved_at is None


def test_an_open_objection_holds_the_confirmation(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    objection = object_to(application, world)
    after = application.publicity_end + timedelta(days=1)
    assert cert.close_publicity(after) == 0
    assert application.status == "publicity"
    # Not upheld after the window: confirmed at once.
    with frozen_time(at(after)):
        cert.resolve_objection(
            objection, user=world.user("officer_a1"), upheld=False, resolution="经核实不属实"
        )
    assert application.status == "confirmed" and objection.upheld is False
    with pytest.raises(DomainError):
        cert.resolve_objection(
            objection, user=world.user("officer_a1"), upheld=True, resolution="x"
        )


def test_an_upheld_objection_means_no_certification(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    objection = object_to(application, world)
    with pytest.raises(cert.NotAllowed):
        cert.resolve_objection(objection, user=world.user("admin"), upheld=True, resolution="x")
    with pytest.raises(ValidationFailed):
        cert.resolve_objection(objection, user=world.user("officer_a1"), upheld=True, resolution="")
    with frozen_time(at(MONDAY + timedelta(days=1))):
        cert.resolve_objection(
            objection, user=world.user("officer_a1"), upheld=True, resolution="情况属实"
        )
    assert application.status == "rejected"
    assert cert.close_publicity(application.publicity_end + timedelta(days=1)) == 0


def test_close_publicity_confirms_after_the_window_once(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    assert cert.close_publicity(application.publicity_end) == 0  # the last day is still public
    day_after = application.publicity_end + timedelta(days=1)
    assert cert.close_publicity(day_after) == 1
    db.session.commit()
    assert cert.close_publicity(day_after) == 0  # idempotent
    db.session.refresh(application)
    assert application.status == "confirmed" and application.confirmed_at is not None
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "aid_application", AuditEvent.object_id == application.id
        )
    ).all()
    confirmations = [
        e for e in events if (e.changes or {}).get("status") == ["publicity", "confirmed"]
    ]
    assert len(confirmations) == 1
    assert confirmations[0].district_id == world.district.id


def test_close_publicity_can_be_limited_to_a_scope(world, db):
    a = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "publicity",
        world,
    )
    b = drive(
        draft(make_student(world.school_b1, world.class_b1), world.user("officer_b1")),
        "publicity",
        world,
    )
    after = a.publicity_end + timedelta(days=1)
    assert cert.publicity_due(after, [world.school_b1.id])
    assert cert.close_publicity(after, school_ids=[world.school_b1.id]) == 1
    db.session.commit()
    db.session.refresh(a)
    db.session.refresh(b)
    assert (a.status, b.status) == ("publicity", "confirmed")


# ---------------------------------------------------------------- filing, level changes


def test_district_filing_single_and_bulk(world, db):
    apps = [
        drive(
            draft(
                make_student(world.school_a1, world.class_a1, name=f"学生{i}"),
                world.user("officer_a1"),
            ),
            "confirmed",
            world,
        )
        for i in range(3)
    ]
    for user in users(world, "officer_a1", "lead_a", "admin_other"):
        with pytest.raises(cert.NotAllowed):
            cert.file_applications([apps[0]], user=user)
    assert cert.file_applications(apps[:1], user=world.user("admin")) == 1
    db.session.commit()
    # All or none: one of them is filed already.
    with pytest.raises(cert.WrongStatus):
        cert.file_applications(apps, user=world.user("admin"))
    db.session.rollback()
    apps = [db.session.get(AidApplication, a.id) for a in apps]
    assert [a.status for a in apps] == ["filed", "confirmed", "confirmed"]
    assert cert.file_applications(apps[1:], user=world.user("admin")) == 2
    assert all(a.status == "filed" and a.filed_by_id == world.user("admin").id for a in apps)


def test_level_change_needs_a_reason_and_can_revoke(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "filed", world, level="general")
    with pytest.raises(cert.NotAllowed):
        cert.change_level(application, user=world.user("admin"), new_level="severe", reason="x")
    with pytest.raises(ValidationFailed):
        cert.change_level(
            application, user=world.user("officer_a1"), new_level="severe", reason=" "
        )
    with pytest.raises(ValidationFailed):
        cert.change_level(
            application, user=world.user("officer_a1"), new_level="general", reason="x"
        )
    change = cert.change_level(
        application, user=world.user("officer_a1"), new_level="severe", reason="家长重病"
    )
    assert (change.old_level, change.new_level, application.level) == (
        "general",
        "severe",
        "severe",
    )
    cert.change_level(application, user=world.user("officer_a1"), new_level=None, reason="已就业")
    assert application.level is None and application.status == "filed"
    with pytest.raises(DomainError) as refused:
        cert.change_level(
            application, user=world.user("officer_a1"), new_level="general", reason="x"
        )
    assert refused.value.code == "revoked"
    db.session.commit()
    # A revoked certification no longer blocks a new application that year.
    assert draft(student, world.user("officer_a1")).status == "draft"


def test_level_change_only_when_certified(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "publicity", world)
    with pytest.raises(cert.WrongStatus):
        cert.change_level(
            application, user=world.user("officer_a1"), new_level="severe", reason="x"
        )


# ---------------------------------------------------------------- re-certification


def test_copy_last_year_starts_a_fresh_draft(world, student, db):
    last = drive(
        draft(
            student, world.user("officer_a1"), categories=["dibao", "orphan"], situation="祖母抚养"
        ),
        "filed",
        world,
    )
    with frozen_time(at(date(2027, 9, 7))):
        with pytest.raises(cert.NotAllowed):
            cert.copy_last_year(student, user=world.user("teacher_a1"), school_year=2027)
        new = cert.copy_last_year(student, user=world.user("officer_a1"), school_year=2027)
    assert new.id != last.id and new.status == "draft" and new.school_year == 2027
    assert new.categories == ["dibao", "orphan"] and new.situation == "祖母抚养"
    assert new.written_pledge is False  # signed again every year
    with frozen_time(at(date(2027, 9, 7))), pytest.raises(DomainError):
        cert.copy_last_year(student, user=world.user("officer_a1"), school_year=2027)


def test_copy_last_year_for_the_whole_school(world, db):
    certified = [make_student(world.school_a1, world.class_a1, name=f"甲{i}") for i in range(3)]
    for s in certified:
        drive(draft(s, world.user("officer_a1")), "confirmed", world)
    rejected = make_student(world.school_a1, world.class_a1, name="乙")
    app = drive(draft(rejected, world.user("officer_a1")), "school_review", world)
    cert.decide(app, user=world.user("officer_a1"), level=None, note="不符合")
    db.session.commit()
    certified[2].status = "graduated"
    db.session.commit()
    with frozen_time(at(date(2027, 9, 7))):
        made = cert.copy_last_year_all(
            world.school_a1, user=world.user("officer_a1"), school_year=2027
        )
        db.session.commit()
        assert made == 2
        assert (
            cert.copy_last_year_all(
                world.school_a1, user=world.user("officer_a1"), school_year=2027
            )
            == 0
        )
        with pytest.raises(cert.NotAllowed):
            cert.copy_last_year_all(
                world.school_a1, user=world.user("officer_a2"), school_year=2027
            )


def test_allowed_actions_follow_status_and_role(world, student, db):
    application = draft(student, world.user("officer_a1"))
    assert cert.allowed_actions(world.user("teacher_a1"), application) == {
        "edit",
        "submit",
        "withdraw",
    }
    assert cert.allowed_actions(world.user("admin"), application) == set()
    drive(application, "class_review", world)
    assert cert.allowed_actions(world.user("teacher_a1"), application) == {"class_review"}
    assert cert.allowed_actions(world.user("officer_a1"), application) == set()
    drive(application, "school_review", world)
    assert cert.allowed_actions(world.user("officer_a1"), application) == {"decide"}
    drive(application, "publicity", world)
    assert cert.allowed_actions(world.user("officer_a1"), application) == {"objection"}
    drive(application, "confirmed", world)
    assert cert.allowed_actions(world.user("admin"), application) == {"file"}
    assert "level" in cert.allowed_actions(world.user("officer_a1"), application)


# ---------------------------------------------------------------- what other domains read


def test_confirmed_levels_and_is_certified(world, db):
    a = make_student(world.school_a1, world.class_a1, name="甲")
    b = make_student(world.school_a1, world.class_a1, name="乙")
    c = make_student(world.school_a1, world.class_a1, name="丙")
    d = make_student(world.school_a1, world.class_a1, name="丁")
    app_a = drive(draft(a, world.user("officer_a1")), "confirmed", world, level="severe")
    drive(draft(b, world.user("officer_a1")), "filed", world, level="general")
    app_d = drive(draft(d, world.user("officer_a1")), "confirmed", world)
    # Still on its notice (decided a week later): not certified yet.
    drive(draft(c, world.user("officer_a1")), "publicity", world, day=MONDAY + timedelta(days=7))
    with frozen_time(at(date(2026, 12, 10))):
        cert.change_level(app_d, user=world.user("officer_a1"), new_level=None, reason="退出")
    db.session.commit()
    assert aid_queries.confirmed_levels(world.school_a1.id, 2026) == {
        a.id: "severe",
        b.id: "general",
    }
    assert aid_queries.confirmed_levels(world.school_a1.id, 2025) == {}
    assert aid_queries.confirmed_levels(world.school_a2.id, 2026) == {}
    confirmed_on = app_a.publicity_end + timedelta(days=1)
    assert aid_queries.is_certified(a.id, confirmed_on)
    assert not aid_queries.is_certified(a.id, confirmed_on - timedelta(days=1))
    assert not aid_queries.is_certified(a.id, date(2027, 9, 1))  # the next school year
    assert not aid_queries.is_certified(c.id, date(2026, 12, 1))
    # Revoked on 10 December: certified before that day, not after.
    assert aid_queries.is_certified(d.id, date(2026, 12, 9))
    assert not aid_queries.is_certified(d.id, date(2026, 12, 11))


def test_a_student_who_moves_brings_the_certification(world, db):
    student = make_student(world.school_a1, world.class_a1)
    drive(draft(student, world.user("officer_a1")), "confirmed", world, level="moderate")
    student.school_id, student.class_id = world.school_a2.id, None
    db.session.commit()
    assert aid_queries.confirmed_levels(world.school_a2.id, 2026) == {student.id: "moderate"}
    assert aid_queries.confirmed_levels(world.school_a1.id, 2026) == {}


def test_a_revoked_certification_is_not_filed(world, student, db):
    application = drive(draft(student, world.user("officer_a1")), "confirmed", world)
    cert.change_level(application, user=world.user("officer_a1"), new_level=None, reason="退出")
    db.session.commit()
    assert aid_queries.filing_queue(world.user("admin")) == []
    with pytest.raises(DomainError) as refused:
        cert.file_applications([application], user=world.user("admin"))
    assert refused.value.code == "revoked"
