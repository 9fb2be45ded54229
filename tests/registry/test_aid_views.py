"""The aid pages over HTTP: the workflow forms, who reaches which page, lazy confirmation, the
CLI command, filing, exports of the certification list."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.common import local_today
from app.registry import certification as cert
from app.registry.models import AidApplication
from tests.conftest import login, post_form
from tests.registry.aid_support import draft, drive, make_student


def reload(db, application_id: int) -> AidApplication:
    db.session.expire_all()
    return db.session.get(AidApplication, application_id)


def as_user(app, world, key):
    """A logged-in client with the English UI: assertions then hold whether or not the Chinese
    catalog has this area's strings yet."""
    client = app.test_client()
    client.set_cookie("aixin_lang", "en")
    assert login(client, world.user(key)).status_code == 302
    return client


def live_now(db, application, *, days_before=1, days_after=3):
    """Put an application on a notice whose window contains the real today."""
    today = local_today()
    application.status = "publicity"
    application.level = application.level or "moderate"
    application.publicity_start = today - timedelta(days=days_before)
    application.publicity_end = today + timedelta(days=days_after)
    db.session.commit()
    return application


def test_officer_and_head_teacher_take_an_application_to_the_notice(app, world, db):
    student = make_student(world.school_a1, world.class_a1, name="王小丫")
    officer = as_user(app, world, "officer_a1")
    page = officer.get(f"/aid/schools/{world.school_a1.id}/applications/new")
    assert page.status_code == 200 and "王小丫" in page.get_data(as_text=True)
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/applications/new",
        {
            "student_id": student.id,
            "categories": ["dibao", "disabled"],
            "situation": "母亲残疾，无固定收入。",
            "written_pledge": "y",
            "pledge_signed_on": local_today().isoformat(),
            "then": "submit",
        },
    )
    assert response.status_code == 302
    application = db.session.scalar(
        select(AidApplication).where(AidApplication.student_id == student.id)
    )
    assert application.status == "class_review"
    assert application.categories == ["dibao", "disabled"]

    # The head teacher of the class sees it, with the class review form.
    teacher = as_user(app, world, "teacher_a1")
    mine = teacher.get("/aid/mine").get_data(as_text=True)
    assert "王小丫" in mine
    page = teacher.get(f"/aid/applications/{application.id}")
    assert page.status_code == 200 and 'data-testid="class-review"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    invalid = post_form(teacher, f"/aid/applications/{application.id}/class-review", {"note": "x"})
    assert invalid.status_code == 422 and "Choose a level." in invalid.get_data(as_text=True)
    done = post_form(
        teacher,
        f"/aid/applications/{application.id}/class-review",
        {"recommended_level": "moderate", "note": "评议通过"},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/aid/mine"
    # Out of class review, the head teacher no longer sees it.
    assert teacher.get(f"/aid/applications/{application.id}").status_code == 404
    assert "王小丫" not in teacher.get("/aid/mine").get_data(as_text=True)

    # The officer decides; the notice opens today (or on the next working day).
    response = post_form(
        officer, f"/aid/applications/{application.id}/decide", {"outcome": "moderate"}
    )
    assert response.status_code == 302
    application = reload(db, application.id)
    assert application.status == "publicity" and application.level == "moderate"
    assert (application.publicity_start, application.publicity_end) == cert.publicity_window(
        local_today(), 5
    )
    history = officer.get(f"/aid/applications/{application.id}").get_data(as_text=True)
    for words in (
        "Application started",
        "Draft → Class review",
        "Class review → School review",
        "School review → Public notice",
    ):
        assert words in history
    # Categories are shown by their names, not codes (the audit log keeps codes).
    assert "Minimum living allowance (dibao)" in history and "[&#39;dibao" not in history


@pytest.mark.parametrize(
    "key", ["teacher_a2", "clerk_a1", "lead_a", "officer_a2", "officer_b1", "admin_other"]
)
def test_others_get_404_for_an_application(app, world, db, key):
    application = draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1"))
    client = as_user(app, world, key)
    assert client.get(f"/aid/applications/{application.id}").status_code == 404
    for action in ("submit", "withdraw", "class-review", "decide", "level", "copy"):
        response = post_form(client, f"/aid/applications/{application.id}/{action}", {})
        assert response.status_code == 404, action
    assert reload(db, application.id).status == "draft"


def test_a_teacher_who_is_not_head_of_the_class_sees_nothing(app, world, db, make_user):
    other = make_user("teacher", school=world.school_a1, username="other_teacher")
    application = draft(make_student(world.school_a1, world.class_a1), world.user("teacher_a1"))
    client = app.test_client()
    login(client, other)
    assert client.get(f"/aid/applications/{application.id}").status_code == 404
    assert client.get("/aid/mine").status_code == 200
    # No class of theirs: no new application page either.
    assert client.get(f"/aid/schools/{world.school_a1.id}/applications/new").status_code == 404


def test_a_head_teacher_fills_in_only_for_their_class(app, world, db, make_class):
    own = make_student(world.school_a1, world.class_a1, name="本班学生")
    other_class = make_class(world.school_a1, grade=5, number=4)
    stranger = make_student(world.school_a1, other_class, name="别班学生")
    teacher = as_user(app, world, "teacher_a1")
    page = teacher.get(f"/aid/schools/{world.school_a1.id}/applications/new").get_data(as_text=True)
    assert "本班学生" in page and "别班学生" not in page
    response = post_form(
        teacher,
        f"/aid/schools/{world.school_a1.id}/applications/new",
        {"student_id": stranger.id, "categories": ["dibao"], "then": "save"},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AidApplication)) == 0
    response = post_form(
        teacher,
        f"/aid/schools/{world.school_a1.id}/applications/new",
        {"student_id": own.id, "categories": ["dibao"], "then": "save"},
    )
    assert response.status_code == 302
    # Withdrawing their own draft sends them back to their list.
    application = db.session.scalar(select(AidApplication))
    response = post_form(teacher, f"/aid/applications/{application.id}/withdraw")
    assert (
        response.headers["Location"] == "/aid/" and reload(db, application.id).status == "withdrawn"
    )


def test_submit_without_the_pledge_keeps_the_draft_and_says_why(app, world, db):
    student = make_student(world.school_a1, world.class_a1)
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/applications/new",
        {"student_id": student.id, "categories": ["dibao"], "then": "submit"},
    )
    assert response.status_code == 302
    application = db.session.scalar(select(AidApplication))
    assert application.status == "draft"
    page = officer.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed written pledge is required" in page


def test_a_step_out_of_order_is_a_409(app, world, db):
    application = draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1"))
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer, f"/aid/applications/{application.id}/decide", {"outcome": "general"}
    )
    assert response.status_code == 409
    assert reload(db, application.id).status == "draft"


def test_the_officer_cannot_class_review_when_the_class_has_a_head_teacher(app, world, db):
    application = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "class_review",
        world,
    )
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer,
        f"/aid/applications/{application.id}/class-review",
        {"recommended_level": "general"},
    )
    assert response.status_code == 403
    assert reload(db, application.id).status == "class_review"


def test_objection_and_resolution_over_http(app, world, db):
    application = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "school_review",
        world,
    )
    live_now(db, application)
    officer = as_user(app, world, "officer_a1")
    bad = post_form(
        officer,
        f"/aid/applications/{application.id}/objections",
        {"received_on": (local_today() + timedelta(days=1)).isoformat(), "content": "x"},
    )
    assert bad.status_code == 422
    ok = post_form(
        officer,
        f"/aid/applications/{application.id}/objections",
        {"received_on": local_today().isoformat(), "content": "邻居反映家中新购住房"},
    )
    assert ok.status_code == 302
    objection = reload(db, application.id).objections[0]
    assert (
        post_form(officer, f"/aid/objections/{objection.id}/resolve", {"upheld": "yes"}).status_code
        == 422
    )
    response = post_form(
        officer,
        f"/aid/objections/{objection.id}/resolve",
        {"upheld": "yes", "resolution": "经核实属实"},
    )
    assert response.status_code == 302
    assert reload(db, application.id).status == "rejected"
    # Someone from another school cannot reach the objection at all.
    other = as_user(app, world, "officer_a2")
    assert (
        post_form(
            other, f"/aid/objections/{objection.id}/resolve", {"upheld": "no", "resolution": "x"}
        ).status_code
        == 404
    )


def test_level_change_over_http(app, world, db):
    application = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "confirmed",
        world,
        level="general",
    )
    officer = as_user(app, world, "officer_a1")
    assert (
        post_form(
            officer, f"/aid/applications/{application.id}/level", {"new_level": "severe"}
        ).status_code
        == 422
    )
    response = post_form(
        officer,
        f"/aid/applications/{application.id}/level",
        {"new_level": "severe", "reason": "家长住院"},
    )
    assert response.status_code == 302
    application = reload(db, application.id)
    assert application.level == "severe" and application.level_changes[0].reason == "家长住院"
    page = officer.get(f"/aid/applications/{application.id}").get_data(as_text=True)
    assert "Level changed" in page and "家长住院" in page
    response = post_form(
        officer,
        f"/aid/applications/{application.id}/level",
        {"new_level": "revoke", "reason": "已就业"},
    )
    assert reload(db, application.id).level is None


def test_viewing_aid_pages_confirms_ended_notices_of_the_viewers_schools(app, world, db):
    a1 = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "publicity",
        world,
    )
    b1 = drive(
        draft(make_student(world.school_b1, world.class_b1), world.user("officer_b1")),
        "publicity",
        world,
    )
    assert a1.publicity_end < local_today()  # decided on 16 Nov 2026: long over
    # A teacher's page and another school's officer do not touch A1's notice.
    as_user(app, world, "teacher_a1").get("/aid/mine")
    as_user(app, world, "officer_b1").get(f"/aid/schools/{world.school_b1.id}")
    assert reload(db, a1.id).status == "publicity"
    assert reload(db, b1.id).status == "confirmed"
    response = as_user(app, world, "officer_a1").get(f"/aid/schools/{world.school_a1.id}")
    assert response.status_code == 200
    assert reload(db, a1.id).status == "confirmed"


def test_cli_close_publicity(app, world, db, runner):
    application = drive(
        draft(make_student(world.school_a1, world.class_a1), world.user("officer_a1")),
        "publicity",
        world,
    )
    day = application.publicity_end.isoformat()
    result = runner.invoke(args=["registry", "close-publicity", "--date", day])
    assert result.exit_code == 0 and "0 certification" in result.output
    after = (application.publicity_end + timedelta(days=1)).isoformat()
    result = runner.invoke(args=["registry", "close-publicity", "--date", after])
    assert result.exit_code == 0 and "1 certification" in result.output
    result = runner.invoke(args=["registry", "close-publicity", "--date", after])
    assert "0 certification" in result.output
    assert reload(db, application.id).status == "confirmed"
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "aid_application", AuditEvent.actor_label == "system"
        )
    )
    assert event is not None and event.district_id == world.district.id


def test_district_filing_queue(app, world, db):
    apps = [
        drive(
            draft(
                make_student(world.school_a1, world.class_a1, name=f"生{i}"),
                world.user("officer_a1"),
            ),
            "confirmed",
            world,
        )
        for i in range(2)
    ]
    other = drive(
        draft(make_student(world.school_x, None, name="外区生"), world.user("officer_x")),
        "confirmed",
        world,
    )
    admin = as_user(app, world, "admin")
    page = admin.get("/aid/filing?year=2026").get_data(as_text=True)
    assert "生0" in page and "生1" in page and "外区生" not in page
    response = admin.post(
        "/aid/filing",
        data={"ids": [apps[0].id, apps[1].id, other.id], "year": 2026, "csrf_token": _token(admin)},
    )
    assert response.status_code == 302
    # The other district's certification is not in scope: it is not found, not filed.
    assert [reload(db, a.id).status for a in apps] == ["filed", "filed"]
    assert reload(db, other.id).status == "confirmed"
    # Filing again (a stale page) changes nothing.
    again = admin.post(
        "/aid/filing", data={"ids": [apps[0].id], "year": 2026, "csrf_token": _token(admin)}
    )
    assert again.status_code == 302 and reload(db, apps[0].id).status == "filed"
    assert as_user(app, world, "officer_a1").get("/aid/filing").status_code == 404


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/dashboard")


def test_overview_and_counts(app, world, db):
    drive(
        draft(
            make_student(world.school_a1, world.class_a1, name="计数甲"), world.user("officer_a1")
        ),
        "confirmed",
        world,
        level="severe",
    )
    drive(
        draft(
            make_student(world.school_a2, world.class_a2, name="计数乙"), world.user("officer_a2")
        ),
        "class_review",
        world,
    )
    overview = as_user(app, world, "admin").get("/aid/overview?year=2026").get_data(as_text=True)
    assert "甲一小学" in overview and "乙一小学" in overview and "外区小学" not in overview
    assert "计数甲" not in overview  # numbers, not names
    counts = as_user(app, world, "lead_a").get("/aid/counts?year=2026").get_data(as_text=True)
    assert "甲一小学" in counts and "甲二小学" in counts and "乙一小学" not in counts
    assert "计数甲" not in counts and "计数乙" not in counts


def test_copy_last_year_over_http(app, world, db):
    student = make_student(world.school_a1, world.class_a1, name="去年认定")
    last_year = cert.current_school_year() - 1
    application = AidApplication(
        student_id=student.id,
        school_id=world.school_a1.id,
        class_id=world.class_a1.id,
        school_year=last_year,
        status="filed",
        level="moderate",
        categories=["tekun"],
        written_pledge=True,
    )
    db.session.add(application)
    db.session.commit()
    officer = as_user(app, world, "officer_a1")
    page = officer.get(f"/aid/applications/{application.id}").get_data(as_text=True)
    assert f"/aid/applications/{application.id}/copy" in page
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/copy-last-year",
        {"year": cert.current_school_year()},
    )
    assert response.status_code == 302
    new = db.session.scalar(
        select(AidApplication).where(AidApplication.school_year == cert.current_school_year())
    )
    assert new.student_id == student.id and new.status == "draft" and new.categories == ["tekun"]


def test_export_of_the_certification_list_is_audited_and_escaped(app, world, db):
    student = make_student(world.school_a1, world.class_a1, name='=HYPERLINK("x")')
    drive(draft(student, world.user("officer_a1")), "confirmed", world)
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/applications/export",
        {"format": "csv", "year": 2026},
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][1] == '\'=HYPERLINK("x")' and rows[1][3] == "Moderate hardship"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.object_type == "aid_application" and event.changes["rows"] == 1
    assert event.school_id == world.school_a1.id
    for key in ("teacher_a1", "clerk_a1", "lead_a", "officer_a2"):
        client = as_user(app, world, key)
        refused = post_form(
            client, f"/aid/schools/{world.school_a1.id}/applications/export", {"format": "csv"}
        )
        assert refused.status_code == 404, key
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "export")) == 1


def test_year_parameter_is_forgiving(app, world, db):
    officer = as_user(app, world, "officer_a1")
    for value in ("abc", "1999", "99999999999"):
        assert officer.get(f"/aid/schools/{world.school_a1.id}?year={value}").status_code == 200
    assert officer.get(f"/aid/schools/{world.school_a1.id}?status=nonsense").status_code == 200


def test_school_year_label(app):
    with app.test_request_context("/", headers={"Cookie": "aixin_lang=en"}):
        assert cert.school_year_label(2026) == "2026–2027 school year"
    assert cert.school_year_of(date(2026, 9, 1)) == 2026
