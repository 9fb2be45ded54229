"""The audit log browser (/audit/): district admins only, their district only, filters, diffs."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.conftest import post_form


@pytest.fixture(autouse=True)
def _english(client):
    """Labels are checked in English (the UI defaults to Chinese)."""
    client.set_cookie("aixin_lang", "en")


def _rows(response) -> list[str]:
    """The table rows of the log, as text without tags."""
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    rows = re.findall(r'<tr data-testid="audit-row">(.*?)</tr>', html, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def _event(db, **values):
    from app.audit.models import AuditEvent

    defaults = {
        "created_at": datetime(2026, 3, 1, 2, 0),
        "actor_label": "someone",
        "action": "update",
        "object_type": "school",
        "object_id": 1,
        "ip": "10.0.0.9",
        "changes": None,
    }
    event = AuditEvent(**{**defaults, **values})
    db.session.add(event)
    db.session.commit()
    return event


@pytest.mark.parametrize("key", ["officer_a1", "lead_a", "teacher_a1", "clerk_a1"])
def test_only_district_admins_may_read_the_log(client, world, login_as, key):
    login_as(world.user(key))
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/?action=login").status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_log_shows_org_and_user_operations_of_the_district(client, world, login_as, db):
    from app.org.operations import update_school

    update_school(world.school_a2, name="甲二实验小学", phone="0371-1234567")
    db.session.commit()
    login_as(world.user("admin"))
    response = post_form(
        client,
        "/users/new",
        {
            "username": "audit_me",
            "display_name": "审计 测试",
            "role": "clerk",
            "school_id": str(world.school_b1.id),
            "password": "plum-blossom-river-7",
        },
        page="/users/new",
    )
    assert response.status_code == 302
    rows = _rows(client.get("/audit/"))
    newest = rows[0]
    assert newest.startswith(tuple("0123456789")) or "admin1" in newest
    assert "admin1" in newest and "created" in newest and "User" in newest
    assert "audit_me" in newest and "***" in newest  # the password hash is masked
    assert "$argon2" not in client.get("/audit/").get_data(as_text=True)
    school_update = next(r for r in rows if "甲二实验小学" in r)
    assert "甲二小学" in school_update and "→" in school_update  # old → new
    assert "changed" in school_update and "system" in school_update
    assert any("logged in" in r and "admin1" in r for r in rows)


def test_filters(client, world, login_as, db):
    from app.org.operations import update_school

    update_school(world.school_a1, name="甲一中心小学")
    db.session.commit()
    _event(
        db,
        actor_label="officer_a1",
        action="login",
        object_type="user",
        object_id=99999,
        district_id=world.district.id,
    )
    login_as(world.user("admin"))

    rows = _rows(client.get("/audit/?actor=OFFICER_A"))
    assert rows and all("officer_a1" in r for r in rows)

    rows = _rows(client.get("/audit/?action=login"))
    assert rows and all("logged in" in r for r in rows)
    assert {r.split()[-1] for r in rows} >= {"10.0.0.9"}

    rows = _rows(client.get("/audit/?object_type=school&action=update"))
    assert len(rows) == 1 and "甲一中心小学" in rows[0]

    rows = _rows(client.get(f"/audit/?object_type=school&object_id={world.school_a1.id}"))
    assert rows and all(f"#{world.school_a1.id}" in r for r in rows)
    assert all("School" in r for r in rows)

    rows = _rows(client.get("/audit/?object_type=user&object_id=99999"))
    assert len(rows) == 1 and "officer_a1" in rows[0]

    assert _rows(client.get("/audit/?actor=nobody-like-this")) == []


def test_date_range_uses_local_dates(client, world, login_as, db):
    # 2026-01-10 23:30 UTC is 2026-01-11 07:30 in Asia/Shanghai.
    _event(
        db,
        created_at=datetime(2026, 1, 10, 23, 30),
        actor_label="night_owl",
        district_id=world.district.id,
    )
    login_as(world.user("admin"))
    on_the_11th = _rows(client.get("/audit/?date_from=2026-01-11&date_to=2026-01-11"))
    assert len(on_the_11th) == 1 and "night_owl" in on_the_11th[0]
    assert _rows(client.get("/audit/?date_from=2026-01-10&date_to=2026-01-10")) == []
    assert _rows(client.get("/audit/?date_to=2026-01-10")) == []
    assert len(_rows(client.get("/audit/?date_from=2026-01-01&date_to=2026-01-31"))) == 1
    today = _rows(client.get(f"/audit/?date_from={_local_today()}"))
    assert today and not any("night_owl" in r for r in today)


def _local_today() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_another_districts_events_never_show(client, app, world, login_as, db):
    from app.audit.models import AuditEvent
    from app.org.operations import update_school
    from tests.conftest import login

    update_school(world.school_x, name="外区实验小学")
    db.session.commit()
    login(app.test_client(), world.user("admin_other"))  # a login in district 2
    _event(
        db, actor_label="spy_x", object_id=world.school_x.id, district_id=world.other_district.id
    )
    theirs = db.session.scalars(
        select(AuditEvent).where(AuditEvent.district_id == world.other_district.id)
    ).all()
    assert len(theirs) > 3  # district 2 does have events

    login_as(world.user("admin"))
    html = client.get("/audit/").get_data(as_text=True)
    assert "外区" not in html and "spy_x" not in html and "admin2" not in html
    for query in (
        "actor=admin2",
        "actor=spy",
        f"object_type=school&object_id={world.school_x.id}",
        f"object_type=user&object_id={world.user('admin_other').id}",
    ):
        assert _rows(client.get(f"/audit/?{query}")) == [], query
    ours = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.district_id == world.district.id)
    )
    shown = client.get("/audit/").get_data(as_text=True)
    assert f"{ours} entries" in shown


def test_reset_password_and_disable_are_readable_in_the_log(client, world, login_as):
    teacher = world.user("teacher_a1")
    login_as(world.user("admin"))
    post_form(client, f"/users/{teacher.id}/password", {"new_password": "plum-blossom-river-7"})
    post_form(client, f"/users/{teacher.id}/disable")
    rows = _rows(client.get(f"/audit/?object_type=user&object_id={teacher.id}"))
    assert any("password reset" in r for r in rows)
    disabled = next(r for r in rows if "Active" in r)
    assert "yes → no" in disabled
    password_change = next(r for r in rows if "Password" in r and "→" in r)
    assert "*** → ***" in password_change
    assert any("all API tokens revoked" in r for r in rows)


def test_role_and_school_changes_read_as_names(client, world, login_as):
    teacher = world.user("teacher_a1")
    login_as(world.user("admin"))
    response = post_form(
        client,
        f"/users/{teacher.id}/edit",
        {"display_name": "刘老师", "role": "clerk", "school_id": str(world.school_b1.id)},
    )
    assert response.status_code == 302
    rows = _rows(client.get(f"/audit/?object_type=user&object_id={teacher.id}&action=update"))
    change = rows[0]
    assert "Teacher → Supermarket counter clerk" in change
    assert f"甲一小学 (#{world.school_a1.id}) → 乙一小学 (#{world.school_b1.id})" in change


def test_fifty_entries_a_page_newest_first(client, world, login_as, db):
    from app.audit.models import AuditEvent

    for n in range(60):
        db.session.add(
            AuditEvent(
                created_at=datetime(2025, 6, 1, 0, n),
                actor_label=f"bulk{n:02d}",
                action="update",
                object_type="school",
                object_id=n + 1,
                district_id=world.district.id,
            )
        )
    db.session.commit()
    login_as(world.user("admin"))
    first = _rows(client.get("/audit/?date_to=2025-12-31"))
    second = _rows(client.get("/audit/?date_to=2025-12-31&page=2"))
    assert len(first) == 50 and len(second) == 10
    assert "bulk59" in first[0] and "bulk10" in first[-1]
    assert "bulk09" in second[0] and "bulk00" in second[-1]


def test_secret_looking_fields_are_masked_even_when_stored_plainly(client, world, login_as, db):
    _event(
        db,
        action="import",
        object_type="user",
        changes={"password": "hunter2-plain", "note": "x" * 500, "list": [1, 2]},
        district_id=world.district.id,
    )
    login_as(world.user("admin"))
    html = client.get("/audit/?action=import").get_data(as_text=True)
    assert "hunter2-plain" not in html and "***" in html
    assert "x" * 500 not in html and "x" * 150 in html  # long values are cut short


@pytest.mark.parametrize(
    "query",
    [
        "object_id=abc",
        "object_id=0",
        "object_id=99999999999999999999",
        "date_from=2026-13-01",
        "date_from=0001-01-01",
        "date_to=9999-12-31",
        "date_from=2026-02-01&date_to=2026-01-01",
        "action=DROP%20TABLE",
        "object_type=" + "a" * 41,
        "actor=" + "a" * 101,
    ],
)
def test_bad_filters_are_a_400_not_a_500(client, world, login_as, query):
    login_as(world.user("admin"))
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 400
    assert "is-invalid" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999", "500"])
def test_odd_page_numbers_still_answer(client, world, login_as, page):
    login_as(world.user("admin"))
    assert client.get(f"/audit/?page={page}").status_code == 200


def test_reading_the_log_writes_nothing(client, world, login_as, db):
    from app.audit.models import AuditEvent

    login_as(world.user("admin"))
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    client.get("/audit/")
    client.get("/audit/?action=login")
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
