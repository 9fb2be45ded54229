"""Volunteer hours end to end in a real browser: a teacher on a phone-sized screen (390×844)
creates an activity, logs hours for five students of a class on one page; the school aid
officer verifies them from the queue; the students' balances rise by the rule in force.

Runs against the live demo server (tests/browser/conftest.py). Students of 三年级(2)班 at 陇西小学
come from the demo roster; should the class have fewer than five, the officer first puts some
on the roster through the JSON API (session cookie + CSRF header), as a script would. Pages are
found by ``data-testid`` so the test does not depend on the translation catalog.
"""

from __future__ import annotations

from datetime import datetime

from tests.browser.conftest import DESKTOP, PHONE, login, shot

CLASS_NAME = "三年级(2)班"


def _csrf(page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def _api(page, method: str, path: str, base: str, body=None):
    headers = {"X-CSRFToken": _csrf(page)}
    if method == "GET":
        response = page.request.get(base + path)
    else:
        response = page.request.post(base + path, data=body, headers=headers)
    assert response.ok, (path, response.status, response.text())
    return response.json()


def _school_and_class_students(page, base):
    schools = _api(page, "GET", "/api/v1/schools?per_page=500", base)["items"]
    school = next(s for s in schools if s["name"] == "陇西小学")
    students = _api(page, "GET", f"/api/v1/schools/{school['id']}/students?per_page=500", base)
    return school, [s for s in students["items"] if s["class_name"] == CLASS_NAME]


def _balance(page, base, student_id: int) -> int:
    return _api(page, "GET", f"/api/v1/students/{student_id}/points", base)["balance"]


def test_a_teacher_logs_hours_for_five_on_a_phone_and_an_officer_verifies(
    page_factory, live_server
):
    base = live_server
    officer = page_factory(DESKTOP)
    login(officer, base, "officer_longxi")
    school, in_class = _school_and_class_students(officer, base)
    for n in range(max(0, 5 - len(in_class))):
        _api(
            officer,
            "POST",
            f"/api/v1/schools/{school['id']}/students",
            base,
            {"name": f"志愿者{n + 1}", "class_name": CLASS_NAME},
        )
    officer.goto(base + "/points/rules")
    per_hour = int(officer.get_by_test_id("in-force-per-hour").inner_text())

    # The teacher, on a phone.
    teacher = page_factory(PHONE, is_mobile=True)
    login(teacher, base, "teacher_longxi")
    title = f"校园义务劳动 {datetime.now():%H%M%S}"
    teacher.goto(base + "/activities/new?kind=volunteer")
    teacher.fill("input[name=title]", title)
    teacher.fill("input[name=place]", "操场")
    shot(teacher, "hours-new-activity-phone")
    teacher.locator('[data-testid="activity-form"] button[type=submit]').click()
    teacher.get_by_test_id("log-hours").click()
    teacher.get_by_test_id("pick-class").select_option(label=CLASS_NAME)  # reloads the roster
    teacher.wait_for_url("**class_id=*")
    boxes = teacher.locator("input[data-pick]:not([disabled])")
    assert boxes.count() >= 5
    chosen = []
    for i in range(5):
        box = boxes.nth(i)
        box.check()
        chosen.append(int(box.get_attribute("value")))
    teacher.fill("input[name=hours]", "2")
    assert teacher.locator("[data-pick-count]").inner_text() == "5"
    # Everything fits the phone's width: no sideways scrolling.
    assert teacher.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(teacher, "hours-log-phone")
    before = {sid: _balance(officer, base, sid) for sid in chosen}
    teacher.get_by_test_id("submit-log").click()
    teacher.wait_for_url("**/activities/*")
    assert teacher.get_by_test_id("activity-title").inner_text() == title
    shot(teacher, "hours-logged-phone")
    # Nothing is credited before someone else verifies.
    assert {sid: _balance(officer, base, sid) for sid in chosen} == before
    # The teacher's own logs wait; the teacher cannot verify them.
    teacher.goto(base + "/activities/logs/mine?status=pending")
    assert teacher.locator('[data-status="pending"]').count() >= 5
    teacher.goto(base + "/activities/logs/queue")
    assert teacher.locator("li", has_text=title).count() == 0

    # The officer verifies them from the queue.
    officer.goto(base + "/activities/logs/queue")
    items = officer.locator('[data-testid="queue"] > li', has_text=title)
    assert items.count() == 5
    for i in range(5):
        items.nth(i).locator("input[data-pick]").check()
    shot(officer, "hours-queue-desktop")
    officer.get_by_test_id("verify-selected").click()
    officer.wait_for_url("**/activities/logs/queue")
    assert officer.locator('[data-testid="queue"] > li', has_text=title).count() == 0
    after = {sid: _balance(officer, base, sid) for sid in chosen}
    assert after == {sid: before[sid] + 2 * per_hour for sid in chosen}

    # The teacher now sees the logs verified and the points on a student's page.
    teacher.goto(base + "/activities/logs/mine?status=approved")
    assert teacher.locator('[data-status="approved"]').count() >= 5
    teacher.goto(base + f"/points/students/{chosen[0]}")
    assert teacher.get_by_test_id("balance").inner_text().replace(",", "") == str(after[chosen[0]])
    shot(teacher, "hours-student-phone")
