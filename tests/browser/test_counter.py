"""The 爱心超市 counter in a real browser: a keyboard-wedge scanner (fast keys + Enter), a cart,
one checkout per cart even on a double click, the slip.

The demo has a roster and stock but no cards or points, so the school's aid officer first adds
a student through the API (which issues the card) and awards points, as they would by hand.
"""

from __future__ import annotations

import secrets

from tests.browser.conftest import login, shot


def _api(page, method: str, path: str, body: dict | None = None) -> dict:
    token = page.get_attribute('meta[name="csrf-token"]', "content")
    response = page.request.fetch(
        page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + path,
        method=method,
        headers={"X-CSRFToken": token, "Accept": "application/json"},
        data=body,
    )
    assert response.ok, (path, response.status, response.text())
    return response.json()


def _child_with_card(page_factory, base: str) -> tuple[str, str]:
    page = page_factory()
    login(page, base, "officer_longxi")
    sid = _api(page, "GET", "/api/v1/me")["school_id"]
    some = _api(page, "GET", f"/api/v1/schools/{sid}/students?limit=1")["items"][0]
    name = "柜台" + secrets.token_hex(2)
    child = _api(
        page,
        "POST",
        f"/api/v1/schools/{sid}/students",
        {"name": name, "class_name": some["class_name"], "gender": "F"},
    )
    _api(
        page,
        "POST",
        "/api/v1/points/awards",
        {"student_id": child["id"], "points": 20, "kind": "award", "reason": "测试奖励"},
    )
    page.context.close()
    return name, child["card_code"]


def test_clerk_scans_fills_a_cart_and_checks_out_once(page_factory, live_server):
    name, code = _child_with_card(page_factory, live_server)
    page = page_factory()
    login(page, live_server, "clerk_longxi")
    page.goto(live_server + "/counter/")
    # The scanner: no field to click first, fast keys ending in Enter.
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")
    page.get_by_test_id("counter-name").wait_for()
    assert page.get_by_test_id("counter-name").inner_text() == name
    assert page.get_by_test_id("counter-balance").inner_text() == "20"

    cheapest = page.locator(".ax-counter-item:not([disabled])").first
    cheapest.wait_for()
    cheapest.click()
    assert page.get_by_test_id("counter-cart").locator("li").count() == 1
    page.get_by_test_id("counter-confirm").dblclick()
    page.get_by_test_id("counter-slip").wait_for()
    after = int(page.get_by_test_id("slip-balance").inner_text())
    assert 0 <= after < 20
    slip = page.get_by_test_id("counter-slip").inner_text()
    for word in ("特别困难", "比较困难", "一般困难", "资助", "困难"):
        assert word not in slip
    shot(page, "counter-slip")

    # Once only: the card's balance went down by one cart, and today's list has one line.
    page.keyboard.press("Escape")
    page.get_by_test_id("counter-confirm").wait_for(state="hidden")
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")
    page.get_by_test_id("counter-name").wait_for()
    assert int(page.get_by_test_id("counter-balance").inner_text()) == after
    page.goto(live_server + "/counter/today")
    assert page.locator("tbody tr", has_text=name).count() == 1


def test_unknown_card_is_said_clearly(page_factory, live_server):
    page = page_factory()
    login(page, live_server, "clerk_longxi")
    page.goto(live_server + "/counter/")
    page.keyboard.type("AXNOTACARD2345", delay=5)
    page.keyboard.press("Enter")
    error = page.get_by_test_id("counter-error")
    error.wait_for()
    expected = page.evaluate(
        "JSON.parse(document.getElementById('counter-data').textContent).text.unknown_card"
    )
    assert error.inner_text() == expected  # 无法识别此卡… once the catalog has it
