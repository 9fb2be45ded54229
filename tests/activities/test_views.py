"""The activity pages: creating activities, logging hours for a class on one page, the
verification queue, a teacher's own logs, corrections, teams, letters, evidence photos — and
access (other school 404, lower roles 403) and bad input (4xx, never 500)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from app.activities import operations as ops
from app.activities.models import Activity, GratitudeLetter, HoursLog, VolunteerTeamMember
from app.common import local_today
from app.extensions import db
from tests.conftest import csrf_token, login, post_form
from tests.points import support as s


@pytest.fixture
def teacher(world):
    return world.user("teacher_a1")


@pytest.fixture
def officer(world):
    return world.user("officer_a1")


@pytest.fixture
def kids(world):
    return [
        s.student(world.school_a1, world.class_a1, name=n)
        for n in ("王小明", "李华", "赵敏", "钱多多", "孙悟空", "周杰")
    ]


def main_of(response) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r"<main.*?</main>", html, re.S)
    return match.group(0) if match else html


def _post_multipart(client, path, data, page):
    token = csrf_token(client, page)
    return client.post(path, data={**data, "csrf_token": token}, content_type="multipart/form-data")


# ---------------------------------------------------------------- activities


def test_a_teacher_creates_an_activity(client, login_as, world, teacher):
    login_as(teacher)
    assert client.get("/activities/new?kind=volunteer").status_code == 200
    response = post_form(
        client,
        "/activities/new",
        {
            "kind": "volunteer",
            "type": "red_scarf",
            "title": "红领巾爱心岗值勤",
            "held_on": local_today().isoformat(),
            "place": "校门口",
            "organiser": "少先队大队部",
            "team_id": "",
        },
        page="/activities/new",
    )
    assert response.status_code == 302
    activity = db.session.scalars(db.select(Activity)).one()
    assert (activity.school_id, activity.type, activity.organiser) == (
        world.school_a1.id,
        "red_scarf",
        "少先队大队部",
    )
    page = main_of(client.get(response.headers["Location"]))
    assert "红领巾爱心岗值勤" in page and 'data-testid="log-hours"' in page


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "nope"},
        {"type": "thank_letter"},
        {"title": ""},
        {"title": "x" * 101},
        {"held_on": "2026-02-30"},
        {"held_on": "1999-01-01"},
        {"team_id": "999999"},
        {"team_id": "abc"},
        {"held_on": (local_today() + timedelta(days=400)).isoformat()},
    ],
)
def test_bad_activity_input_is_422(client, login_as, teacher, bad):
    login_as(teacher)
    data = {"kind": "volunteer", "type": "campus", "title": "护绿", "held_on": "2026-10-01"}
    data.update(bad)
    response = post_form(client, "/activities/new", data, page="/activities/new")
    assert response.status_code == 422
    assert s.count(Activity) == 0


def test_the_list_filters_and_never_breaks_on_odd_queries(client, login_as, world, teacher):
    s.volunteer_activity(world.school_a1, teacher, title="护绿行动")
    s.gratitude_activity(world.school_a1, teacher, title="感恩信")
    s.volunteer_activity(world.school_a2, world.user("teacher_a2"), title="外校活动")
    login_as(teacher)
    page = main_of(client.get("/activities/"))
    assert "护绿行动" in page and "感恩信" in page and "外校活动" not in page
    only = main_of(client.get("/activities/?kind=gratitude"))
    assert "感恩信" in only and "护绿行动" not in only
    for query in ("?kind=evil", "?q=%25_%27", "?page=abc", "?page=99999999999"):
        assert client.get("/activities/" + query).status_code == 200


# ---------------------------------------------------------------- logging hours


def test_logging_hours_for_five_of_a_class(client, login_as, world, teacher, kids):
    activity = s.volunteer_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/log?class_id={world.class_a1.id}"
    page = main_of(client.get(url))
    for kid in kids:
        assert f'data-testid="pick-{kid.id}"' in page
    data = {"hours": "1.5", "note": "打扫操场", "student_id": [str(k.id) for k in kids[:5]]}
    response = post_form(client, url, data, page=url)
    assert response.status_code == 302
    logs = db.session.scalars(db.select(HoursLog).order_by(HoursLog.student_id)).all()
    assert [log.minutes for log in logs] == [90] * 5
    assert {log.logged_by_id for log in logs} == {teacher.id}
    assert all(s.balance(k.id) == 0 for k in kids)
    # The page now shows them as logged (disabled).
    again = main_of(client.get(url))
    assert re.search(rf'value="{kids[0].id}"[^>]*\bdisabled', again)


@pytest.mark.parametrize(
    "hours", ["", "abc", "0", "0.3", "25", "1e3", "NaN", "Infinity", "-1", "9" * 50]
)
def test_bad_hours_are_422(client, login_as, world, teacher, kids, hours):
    activity = s.volunteer_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/log?class_id={world.class_a1.id}"
    response = post_form(client, url, {"hours": hours, "student_id": str(kids[0].id)}, page=url)
    assert response.status_code == 422, hours
    assert s.count(HoursLog) == 0


def test_full_width_and_comma_hours_are_understood(client, login_as, world, teacher, kids):
    activity = s.volunteer_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/log"
    assert (
        post_form(
            client, url, {"hours": "１,５", "student_id": str(kids[0].id)}, page=url
        ).status_code
        == 302
    )
    assert db.session.scalar(db.select(HoursLog.minutes)) == 90


def test_ticks_outside_the_school_or_none_are_refused(client, login_as, world, teacher, kids):
    activity = s.volunteer_activity(world.school_a1, teacher)
    other = s.student(world.school_a2)
    login_as(teacher)
    url = f"/activities/{activity.id}/log"
    for ticks in (
        [str(other.id)],
        [],
        ["abc", "-1", "99999999999999"],
        [str(kids[0].id), str(other.id)],
    ):
        response = post_form(client, url, {"hours": "1", "student_id": ticks}, page=url)
        assert response.status_code == 422, ticks
    assert s.count(HoursLog) == 0


def test_an_evidence_photo_is_reencoded_and_served_only_in_scope(
    app, client, login_as, world, teacher, kids
):
    activity = s.volunteer_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/log"
    data = {
        "hours": "2",
        "student_id": [str(kids[0].id), str(kids[1].id)],
        "photo": (io.BytesIO(s.png_bytes(3000, 2000)), "evidence.png"),
    }
    assert _post_multipart(client, url, data, url).status_code == 302
    logs = db.session.scalars(db.select(HoursLog)).all()
    assert logs[0].photo and logs[0].photo == logs[1].photo
    served = client.get(f"/activities/logs/{logs[0].id}/photo")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    from PIL import Image

    image = Image.open(io.BytesIO(served.data))
    assert image.format == "JPEG" and max(image.size) <= 1600
    outsider = app.test_client()
    login(outsider, world.user("teacher_a2"))
    assert outsider.get(f"/activities/logs/{logs[0].id}/photo").status_code == 404


@pytest.mark.parametrize(
    "upload",
    [
        (b"not an image at all", "fake.jpg"),
        (b"", "empty.png"),
        (b"GIF89a" + b"\x00" * 20, "x.gif"),
    ],
)
def test_a_bad_photo_is_422_and_logs_nothing(client, login_as, world, teacher, kids, upload):
    activity = s.volunteer_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/log"
    content, name = upload
    data = {"hours": "1", "student_id": str(kids[0].id), "photo": (io.BytesIO(content), name)}
    assert _post_multipart(client, url, data, url).status_code == 422
    assert s.count(HoursLog) == 0


def test_a_photo_with_too_many_pixels_is_refused(app, client, login_as, world, teacher, kids):
    activity = s.volunteer_activity(world.school_a1, teacher)
    app.config["MAX_ACTIVITY_PHOTO_PIXELS"] = 100 * 100
    try:
        login_as(teacher)
        url = f"/activities/{activity.id}/log"
        data = {
            "hours": "1",
            "student_id": str(kids[0].id),
            "photo": (io.BytesIO(s.png_bytes(200, 200)), "big.png"),
        }
        assert _post_multipart(client, url, data, url).status_code == 422
    finally:
        app.config.pop("MAX_ACTIVITY_PHOTO_PIXELS")
    assert s.count(HoursLog) == 0


# ---------------------------------------------------------------- verification


def _logged(world, teacher, kids, minutes=120, activity=None):
    activity = activity or s.volunteer_activity(world.school_a1, teacher)
    result = ops.log_hours(activity, [k.id for k in kids], minutes, user=teacher)
    db.session.commit()
    return result.logs


def test_the_queue_shows_colleagues_logs_never_ones_own(
    client, login_as, world, teacher, officer, kids
):
    mine = _logged(world, teacher, kids[:2])
    theirs = _logged(world, officer, kids[2:3])
    login_as(teacher)
    page = main_of(client.get("/activities/logs/queue"))
    assert f'queue-pick-{theirs[0].id}"' in page
    assert f'queue-pick-{mine[0].id}"' not in page
    # Verifying one's own log through the form is refused.
    refused = post_form(client, f"/activities/logs/{mine[0].id}/verify", {"decision": "approve"})
    assert refused.status_code == 403
    bulk = post_form(client, "/activities/logs/queue", {"log_id": [str(mine[0].id)]})
    assert bulk.status_code == 302
    assert db.session.get(HoursLog, mine[0].id).status == "pending"


def test_an_officer_verifies_the_ticked_logs(client, login_as, world, teacher, officer, kids):
    s.rule(world.district, points_per_hour=10)
    logs = _logged(world, teacher, kids[:5], minutes=90)
    login_as(officer)
    response = post_form(
        client,
        "/activities/logs/queue",
        {"log_id": [str(log.id) for log in logs[:4]]},
        page="/activities/logs/queue",
    )
    assert response.status_code == 302
    assert [s.balance(k.id) for k in kids[:5]] == [15, 15, 15, 15, 0]
    statuses = db.session.scalars(db.select(HoursLog.status).order_by(HoursLog.id)).all()
    assert statuses == ["approved"] * 4 + ["pending"]


def test_partial_reject_and_correct_through_the_log_page(
    client, login_as, world, teacher, officer, kids
):
    logs = _logged(world, teacher, kids[:2], minutes=120)
    login_as(officer)
    url = f"/activities/logs/{logs[0].id}"
    assert 'data-testid="verify-form"' in main_of(client.get(url))
    no_reason = post_form(
        client, f"{url}/verify", {"decision": "partial", "approved_hours": "1"}, page=url
    )
    assert no_reason.status_code == 422
    more = post_form(
        client,
        f"{url}/verify",
        {"decision": "partial", "approved_hours": "3", "note": "x"},
        page=url,
    )
    assert more.status_code == 422
    ok = post_form(
        client,
        f"{url}/verify",
        {"decision": "partial", "approved_hours": "1", "note": "迟到"},
        page=url,
    )
    assert ok.status_code == 302 and s.balance(kids[0].id) == 10
    rejected = post_form(
        client,
        f"/activities/logs/{logs[1].id}/verify",
        {"decision": "reject", "note": "未到场"},
        page=url,
    )
    assert rejected.status_code == 302 and s.balance(kids[1].id) == 0
    fixed = post_form(client, f"{url}/correct", {"approved_hours": "2", "reason": "补记"}, page=url)
    assert fixed.status_code == 302 and s.balance(kids[0].id) == 20
    bad = post_form(client, f"{url}/correct", {"approved_hours": "x", "reason": "补记"}, page=url)
    assert bad.status_code == 422
    same = post_form(client, f"{url}/correct", {"approved_hours": "2", "reason": "再来"}, page=url)
    assert same.status_code == 422


def test_my_logs_show_their_statuses(client, login_as, world, teacher, officer, kids):
    logs = _logged(world, teacher, kids[:3])
    ops.verify_log(logs[0], approved_minutes=120, user=officer)
    ops.verify_log(logs[1], approved_minutes=0, note="请假", user=officer)
    db.session.commit()
    login_as(teacher)
    page = main_of(client.get("/activities/logs/mine"))
    assert f'data-testid="log-{logs[0].id}" data-status="approved"' in page
    assert f'data-testid="log-{logs[1].id}" data-status="rejected"' in page
    assert f'data-testid="log-{logs[2].id}" data-status="pending"' in page
    assert "请假" in page
    pending = main_of(client.get("/activities/logs/mine?status=pending"))
    assert f"log-{logs[0].id}" not in pending and f"log-{logs[2].id}" in pending
    assert client.get("/activities/logs/mine?status=bogus").status_code == 200


def test_the_activity_page_lists_participants_and_hours(
    client, login_as, world, teacher, officer, kids
):
    logs = _logged(world, teacher, kids[:2], minutes=60)
    ops.verify_log(logs[0], approved_minutes=60, user=officer)
    db.session.commit()
    login_as(world.user("admin"))
    page = main_of(client.get(f"/activities/{logs[0].activity_id}"))
    assert "王小明" in page and "李华" in page
    assert 'data-testid="hours-credited">1 ' in page
    assert 'data-testid="log-hours"' not in page  # the district reads, schools log


# ---------------------------------------------------------------- teams


def test_teams_and_members(client, login_as, world, teacher, kids):
    login_as(teacher)
    response = post_form(
        client,
        "/activities/teams/new",
        {"name": "爱心志愿者服务队", "leader_id": str(teacher.id)},
        page="/activities/teams/new",
    )
    assert response.status_code == 302
    team_url = response.headers["Location"]
    add = post_form(
        client,
        f"{team_url}?class_id={world.class_a1.id}",
        {"student_id": [str(k.id) for k in kids[:3]]},
        page=team_url,
    )
    assert add.status_code == 302
    assert s.count(VolunteerTeamMember) == 3
    team_id = int(team_url.rstrip("/").split("/")[-1])
    removed = post_form(
        client, f"/activities/teams/{team_id}/members/{kids[0].id}/remove", page=team_url
    )
    assert removed.status_code == 302 and s.count(VolunteerTeamMember) == 2
    missing = post_form(
        client, f"/activities/teams/{team_id}/members/{kids[0].id}/remove", page=team_url
    )
    assert missing.status_code == 404
    # The team's roster on the log page.
    activity = s.volunteer_activity(world.school_a1, teacher)
    page = main_of(client.get(f"/activities/{activity.id}/log?team_id={team_id}"))
    assert f"pick-{kids[1].id}" in page and f"pick-{kids[0].id}" not in page


# ---------------------------------------------------------------- letters


def test_a_letter_from_entry_to_approval(client, login_as, world, teacher, officer, kids):
    receipt_id = s.donation_receipt(world, "图书")
    activity = s.gratitude_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/letters/new"
    form_page = main_of(client.get(url))
    assert "图书捐赠人" in form_page
    data = {
        "student_id": str(kids[0].id),
        "receipt_id": str(receipt_id),
        "donor_id": "",
        "body": "谢谢您送的书，我会好好读。",
    }
    response = _post_multipart(client, url, data, url)
    assert response.status_code == 302
    letter = db.session.scalars(db.select(GratitudeLetter)).one()
    preview = main_of(client.get(f"/activities/letters/{letter.id}"))
    assert 'data-testid="letter-signature">— 小明' in preview
    approve = post_form(
        client, f"/activities/letters/{letter.id}", {"decision": "approve"}, page=url
    )
    assert approve.status_code == 302
    assert db.session.get(GratitudeLetter, letter.id).status == "approved"
    assert s.balance(kids[0].id) == 5


def test_a_handwritten_letter_photo_is_staff_only(app, client, login_as, world, teacher, kids):
    receipt_id = s.donation_receipt(world, "书包")
    activity = s.gratitude_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/letters/new"
    data = {
        "student_id": str(kids[1].id),
        "receipt_id": str(receipt_id),
        "donor_id": "",
        "body": "",
        "photo": (io.BytesIO(s.png_bytes(800, 1200, "JPEG")), "letter.jpg"),
    }
    assert _post_multipart(client, url, data, url).status_code == 302
    letter = db.session.scalars(db.select(GratitudeLetter)).one()
    assert letter.body is None and letter.photo
    assert client.get(f"/activities/letters/{letter.id}/photo").status_code == 200
    outsider = app.test_client()
    login(outsider, world.user("officer_a2"))
    assert outsider.get(f"/activities/letters/{letter.id}/photo").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/activities/letters/{letter.id}/photo").status_code == 302


@pytest.mark.parametrize(
    "bad",
    [
        {"student_id": ""},
        {"student_id": "abc"},
        {"receipt_id": "", "donor_id": ""},
        {"receipt_id": "999999"},
        {"body": ""},
        {"body": "x" * 2001},
    ],
)
def test_bad_letters_are_422(client, login_as, world, teacher, kids, bad):
    receipt_id = s.donation_receipt(world, "坏信")
    activity = s.gratitude_activity(world.school_a1, teacher)
    login_as(teacher)
    url = f"/activities/{activity.id}/letters/new"
    data = {
        "student_id": str(kids[0].id),
        "receipt_id": str(receipt_id),
        "donor_id": "",
        "body": "谢谢",
    }
    data.update(bad)
    assert _post_multipart(client, url, data, url).status_code == 422
    assert s.count(GratitudeLetter) == 0


# ---------------------------------------------------------------- access


def test_other_schools_get_404_and_lower_roles_403(app, world, teacher, officer, kids):
    logs = _logged(world, teacher, kids[:1])
    activity_id, log_id = logs[0].activity_id, logs[0].id
    team = ops.create_team(world.school_a1, name="甲队", user=teacher)
    db.session.commit()
    urls = [
        f"/activities/{activity_id}",
        f"/activities/{activity_id}/log",
        f"/activities/logs/{log_id}",
        f"/activities/teams/{team.id}",
    ]
    for key in ("teacher_a2", "officer_b1", "admin_other"):
        client = app.test_client()
        login(client, world.user(key))
        for url in urls:
            # A district admin of another district: 404, or 403 where the role never logs.
            expected = {403, 404} if key == "admin_other" and url.endswith("/log") else {404}
            assert client.get(url).status_code in expected, (key, url)
        verify = post_form(client, f"/activities/logs/{log_id}/verify", {"decision": "approve"})
        assert verify.status_code in (403, 404)
    for key in ("clerk_a1", "lead_a"):
        client = app.test_client()
        login(client, world.user(key))
        for url in ["/activities/", "/activities/logs/queue", *urls]:
            assert client.get(url).status_code == 403, (key, url)
    assert db.session.get(HoursLog, log_id).status == "pending"
    assert s.balance(kids[0].id) == 0
