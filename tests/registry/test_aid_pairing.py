"""结对帮扶: the four kinds, who manages them, and the log a helping teacher keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.common import ValidationFailed, local_today
from app.registry import pairing
from app.registry.models import Pairing, PairingLog
from tests.conftest import login, post_form
from tests.registry.aid_support import AID_WORDS, draft, drive, make_student


def as_user(app, world, key, lang="en"):
    client = app.test_client()
    client.set_cookie("aixin_lang", lang)
    assert login(client, world.user(key)).status_code == 302
    return client


@pytest.fixture
def students(world):
    return [make_student(world.school_a1, world.class_a1, name=n) for n in ("受助生", "帮扶生")]


def _start(world, kind, student, **kw):
    return pairing.create_pairing(
        world.school_a1,
        pairing.PairingInput(kind=kind, student_id=student.id, started_on=local_today(), **kw),
        user=world.user("officer_a1"),
    )


def test_the_four_kinds(world, db, students):
    helped, helper = students
    teacher = _start(world, "teacher_student", helped, helper_user_id=world.user("teacher_a1").id)
    peer = _start(world, "student_student", helped, helper_student_id=helper.id)
    school = _start(world, "school_family", helped)
    family = _start(world, "family_family", helped, helper_name="王建华家庭")
    db.session.commit()
    helpers = pairing.helpers_of([teacher, peer, school, family])
    assert helpers == {
        teacher.id: world.user("teacher_a1").display_name,
        peer.id: "帮扶生",
        school.id: "甲一小学",  # the school itself when no one is named
        family.id: "王建华家庭",
    }
    # Only the helping side of each kind is kept.
    assert (teacher.helper_student_id, teacher.helper_name) == (None, None)


@pytest.mark.parametrize(
    "kind, extra, field",
    [
        ("teacher_student", {}, "helper_user_id"),
        ("teacher_student", {"helper_user_id": "CLERK"}, "helper_user_id"),
        ("teacher_student", {"helper_user_id": "OTHER_SCHOOL"}, "helper_user_id"),
        ("student_student", {}, "helper_student_id"),
        ("student_student", {"helper_student_id": "SELF"}, "helper_student_id"),
        ("student_student", {"helper_student_id": "STRANGER"}, "helper_student_id"),
        ("family_family", {}, "helper_name"),
        ("neighbour", {}, "kind"),
    ],
)
def test_each_kind_needs_its_helper(world, db, students, kind, extra, field):
    stranger = make_student(world.school_a2, world.class_a2)
    values = {
        "CLERK": world.user("clerk_a1").id,
        "OTHER_SCHOOL": world.user("teacher_a2").id,
        "SELF": students[0].id,
        "STRANGER": stranger.id,
    }
    extra = {k: values.get(v, v) for k, v in extra.items()}
    with pytest.raises(ValidationFailed) as refused:
        _start(world, kind, students[0], **extra)
    assert refused.value.field == field


def test_dates_and_the_helped_student_are_checked(world, db, students):
    stranger = make_student(world.school_a2, world.class_a2)
    with pytest.raises(ValidationFailed) as refused:
        _start(world, "school_family", stranger)
    assert refused.value.field == "student_id"
    with pytest.raises(ValidationFailed):
        pairing.create_pairing(
            world.school_a1,
            pairing.PairingInput(
                kind="school_family",
                student_id=students[0].id,
                started_on=local_today() + timedelta(days=1),
            ),
            user=world.user("officer_a1"),
        )


def test_only_the_officer_manages_pairings(world, db, students):
    data = pairing.PairingInput(
        kind="school_family", student_id=students[0].id, started_on=local_today()
    )
    for key in ("teacher_a1", "admin", "officer_a2", "clerk_a1"):
        with pytest.raises(pairing.NotAllowed):
            pairing.create_pairing(world.school_a1, data, user=world.user(key))


def test_the_helping_teacher_sees_and_logs_their_pairing(app, world, db, students, make_user):
    mine = _start(world, "teacher_student", students[0], helper_user_id=world.user("teacher_a1").id)
    other = _start(world, "school_family", students[1])
    db.session.commit()
    teacher = as_user(app, world, "teacher_a1")
    page = teacher.get("/aid/mine").get_data(as_text=True)
    assert f"/aid/pairings/{mine.id}" in page and f"/aid/pairings/{other.id}" not in page
    assert teacher.get(f"/aid/pairings/{mine.id}").status_code == 200
    assert teacher.get(f"/aid/pairings/{other.id}").status_code == 404
    bad = post_form(
        teacher,
        f"/aid/pairings/{mine.id}/logs",
        {"happened_on": local_today().isoformat(), "kind": "visit"},
    )
    assert bad.status_code == 422
    future = (local_today() + timedelta(days=1)).isoformat()
    assert (
        post_form(
            teacher,
            f"/aid/pairings/{mine.id}/logs",
            {"happened_on": future, "kind": "visit", "content": "x"},
        ).status_code
        == 422
    )
    ok = post_form(
        teacher,
        f"/aid/pairings/{mine.id}/logs",
        {
            "happened_on": local_today().isoformat(),
            "kind": "visit",
            "content": "家访，送去学习用品",
        },
    )
    assert ok.status_code == 302
    log = db.session.scalar(select(PairingLog))
    assert (log.pairing_id, log.kind, log.created_by_id) == (
        mine.id,
        "visit",
        world.user("teacher_a1").id,
    )
    assert "家访，送去学习用品" in teacher.get(f"/aid/pairings/{mine.id}").get_data(as_text=True)
    # The teacher cannot manage it, and another teacher of the school cannot see it.
    assert teacher.get(f"/aid/pairings/{mine.id}/edit").status_code == 404
    assert (
        post_form(
            teacher, f"/aid/pairings/{mine.id}/end", {"ended_on": local_today().isoformat()}
        ).status_code
        == 404
    )
    stranger = make_user("teacher", school=world.school_a1, username="not_helping")
    client = app.test_client()
    login(client, stranger)
    assert client.get(f"/aid/pairings/{mine.id}").status_code == 404
    assert (
        post_form(
            client,
            f"/aid/pairings/{mine.id}/logs",
            {"happened_on": local_today().isoformat(), "kind": "visit", "content": "x"},
        ).status_code
        == 404
    )
    assert (
        db.session.scalar(select(PairingLog).where(PairingLog.created_by_id == stranger.id)) is None
    )


def test_the_teachers_pairing_page_shows_no_aid_status(app, world, db, students):
    drive(
        draft(students[0], world.user("officer_a1"), categories=["dibao"]),
        "confirmed",
        world,
        level="severe",
    )
    mine = _start(world, "teacher_student", students[0], helper_user_id=world.user("teacher_a1").id)
    db.session.commit()
    for lang in ("zh_CN", "en"):
        teacher = as_user(app, world, "teacher_a1", lang)
        for path in (f"/aid/pairings/{mine.id}", "/aid/mine"):
            html = teacher.get(path).get_data(as_text=True)
            for word in [*AID_WORDS, "Severe hardship", "Minimum living allowance"]:
                assert word not in html, (path, word)


def test_the_officer_over_http(app, world, db, students):
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/pairings/new",
        {
            "kind": "student_student",
            "student_id": students[0].id,
            "helper_student_id": students[1].id,
            "started_on": local_today().isoformat(),
        },
    )
    assert response.status_code == 302
    item = db.session.scalar(select(Pairing))
    assert item.helper_student_id == students[1].id
    listing = officer.get(f"/aid/schools/{world.school_a1.id}/pairings").get_data(as_text=True)
    assert "受助生" in listing and "帮扶生" in listing
    edit = post_form(
        officer,
        f"/aid/pairings/{item.id}/edit",
        {
            "kind": "family_family",
            "student_id": students[0].id,
            "helper_name": "李家",
            "started_on": local_today().isoformat(),
        },
    )
    assert edit.status_code == 302
    db.session.expire_all()
    item = db.session.get(Pairing, item.id)
    assert (item.kind, item.helper_name, item.helper_student_id) == ("family_family", "李家", None)
    assert (
        post_form(
            officer,
            f"/aid/pairings/{item.id}/end",
            {"ended_on": (local_today() + timedelta(days=1)).isoformat()},
        ).status_code
        == 422
    )
    assert (
        post_form(
            officer, f"/aid/pairings/{item.id}/end", {"ended_on": local_today().isoformat()}
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Pairing, item.id).ended_on == local_today()
    ended = officer.get(f"/aid/schools/{world.school_a1.id}/pairings?state=ended").get_data(
        as_text=True
    )
    assert "受助生" in ended
    assert "受助生" not in officer.get(f"/aid/schools/{world.school_a1.id}/pairings").get_data(
        as_text=True
    )
    # An ended pairing takes no more log entries.
    with pytest.raises(ValidationFailed):
        pairing.add_log(
            item,
            user=world.user("officer_a1"),
            happened_on=local_today() + timedelta(days=1),
            kind="visit",
            content="x",
        )
    assert as_user(app, world, "officer_a2").get(f"/aid/pairings/{item.id}").status_code == 404
    assert as_user(app, world, "admin").get(f"/aid/pairings/{item.id}").status_code == 200
