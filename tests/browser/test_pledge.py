"""A donor on a phone: finds a school, pledges goods, gets a reference and looks it up."""

from __future__ import annotations

import re
import time

from tests.browser.conftest import PHONE, shot

MIN_FILL_SECONDS = 3.2  # the form refuses pledges sent sooner (anti-automation)


def test_a_donor_pledges_on_a_phone_and_looks_the_pledge_up(page_factory, live_server):
    page = page_factory(PHONE, is_mobile=True)
    page.goto(live_server + "/")
    page.get_by_test_id("donate-link").click()
    page.wait_for_url(live_server + "/donate")
    assert page.get_by_role("heading", name="捐赠物品").is_visible()

    # The search box narrows the list of schools as the donor types.
    page.fill("#school-search", "陇西路")  # its street: "陇西" alone matches the alliance too
    schools = page.locator("[data-donate-school]:visible")
    assert schools.count() == 1
    shot(page, "pledge-choose-phone")
    schools.first.click()
    page.wait_for_url(re.compile(re.escape(live_server) + r"/donate/school/\d+$"))
    opened = time.monotonic()
    assert page.get_by_test_id("drop-off-school").inner_text() == "陇西小学"

    # One item of the needs list, and "other goods" rows — one added by the page's script.
    need = page.locator("input[name^='need-']").first
    need_name = page.locator(".ax-donate-need-name .fw-semibold").first.inner_text()
    need.fill("12")
    page.fill("#other-0-description", "儿童绘本")
    page.fill("#other-0-quantity", "5")
    rows = page.locator("[data-other-row]")
    before = rows.count()
    page.get_by_role("button", name="再加一行").click()
    assert rows.count() == before + 1
    page.fill(f"#other-{before}-description", "跳绳")
    page.fill(f"#other-{before}-quantity", "8")
    page.get_by_text("企业", exact=True).click()
    page.fill("#name", "刘经理")
    page.fill("#organization", "二七区爱心企业联合会")
    page.fill("#phone", "13912340000")
    page.check("#public_consent")
    page.fill("#message", "<b>祝孩子们健康成长</b>")
    shot(page, "pledge-form-phone")
    page.wait_for_timeout(max(0, MIN_FILL_SECONDS - (time.monotonic() - opened)) * 1000)
    page.get_by_test_id("pledge-submit").click()

    page.wait_for_url(live_server + "/donate/thanks")
    reference = page.get_by_test_id("pledge-reference").inner_text().strip()
    assert re.fullmatch(r"AX[0-9A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{2}", reference), reference
    assert page.get_by_text("郑州市二七区陇西路11号").is_visible()
    shot(page, "pledge-thanks-phone")

    # Later, on the status page: reference and phone, never in the address bar.
    page.goto(live_server + "/donate/status")
    page.get_by_role("button", name="关闭 / 查询其他认捐").click()
    page.fill("#reference", reference)
    page.fill("#phone", "13900000000")
    page.get_by_test_id("lookup-submit").click()
    assert page.get_by_test_id("lookup-error").inner_text() == "没有找到与此编号和电话相符的认捐。"
    page.fill("#reference", reference.lower().replace("-", " "))
    page.fill("#phone", "139 1234 0000")
    page.get_by_test_id("lookup-submit").click()
    page.wait_for_url(live_server + "/donate/status")
    assert page.get_by_test_id("pledge-status").inner_text() == "已认捐"
    assert page.get_by_test_id("status-reference").inner_text() == reference
    lines = page.get_by_test_id("pledge-lines").inner_text()
    for expected in (need_name, "12", "儿童绘本", "跳绳", "8"):
        assert expected in lines
    assert page.get_by_test_id("donor-name").inner_text() == "刘经理"
    assert page.get_by_test_id("pledge-message").inner_text() == "<b>祝孩子们健康成长</b>"
    assert "139****0000" in page.locator("main").inner_text()
    assert reference.replace("-", "") not in page.url and "1391234" not in page.url
    shot(page, "pledge-status-phone")
