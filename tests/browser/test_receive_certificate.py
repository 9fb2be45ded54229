"""The whole chain in a browser: a donor pledges on a phone, the school's officer receives part
of it, the certificate PDF opens and the page its QR code points at shows the right facts."""

from __future__ import annotations

import re
import time

from tests.browser.conftest import DESKTOP, PHONE, login, shot


def _pledge_on_a_phone(page, base: str) -> tuple[str, str]:
    page.goto(base + "/donate")
    page.fill("#school-search", "陇西路")
    page.locator("[data-donate-school]:visible").first.click()
    page.wait_for_url(re.compile(re.escape(base) + r"/donate/school/\d+$"))
    opened = time.monotonic()
    need_name = page.locator(".ax-donate-need-name .fw-semibold").first.inner_text()
    page.locator("input[name^='need-']").first.fill("10")
    page.fill("#name", "周爱心")
    page.fill("#phone", "13911112222")
    page.check("#public_consent")
    page.wait_for_timeout(max(0, 3.3 - (time.monotonic() - opened)) * 1000)
    page.get_by_test_id("pledge-submit").click()
    page.wait_for_url(base + "/donate/thanks")
    return page.get_by_test_id("pledge-reference").inner_text().strip(), need_name


def test_officer_receives_part_and_the_certificate_verifies(page_factory, live_server):
    donor = page_factory(PHONE, is_mobile=True)
    reference, item_name = _pledge_on_a_phone(donor, live_server)

    officer = page_factory(DESKTOP)
    login(officer, live_server, "officer_longxi")
    officer.goto(live_server + "/donations/")
    officer.get_by_role("link", name=reference.replace("-", "")).click()
    officer.get_by_test_id("receive").click()
    quantities = officer.locator("input[name$='-quantity']")
    quantities.first.fill("4")  # 4 of the 10 pledged arrive today
    for index in range(1, quantities.count()):
        quantities.nth(index).fill("0")
    officer.get_by_test_id("submit-receipt").click()
    number = officer.get_by_test_id("certificate-no").inner_text().strip()
    assert re.fullmatch(r"ERQI-\d{4}-\d{5}", number), number
    shot(officer, "receive-receipt-desktop")

    href = officer.get_by_test_id("certificate-pdf").get_attribute("href")
    pdf = officer.request.get(href if href.startswith("http") else live_server + href)
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    verify = re.search(rb"https?://[^\s()<>]+/verify/[A-Za-z0-9_\-]+", pdf.body())
    assert verify, "the certificate carries the verification link of its QR code"

    donor.goto(verify.group(0).decode())
    text = donor.locator("main").inner_text()
    for fact in (number, "陇西小学", "周爱心", item_name, "4"):
        assert fact in text, fact
    assert "13911112222" not in text and "1391111" not in text
    shot(donor, "verify-phone")

    # The pledge is now partly received, on the donor's own status page too.
    donor.goto(live_server + "/donate/status")
    close = donor.get_by_role("button", name="关闭 / 查询其他认捐")
    if close.count():
        close.click()
    donor.fill("#reference", reference)
    donor.fill("#phone", "13911112222")
    donor.get_by_test_id("lookup-submit").click()
    assert donor.get_by_test_id("pledge-status").inner_text() == "部分接收"
