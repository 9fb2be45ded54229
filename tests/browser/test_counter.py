"""The 爱心超市 counter in a real browser: a keyboard-wedge scanner (fast keys + Enter), the camera
scanner, a cart, one checkout per cart even on a double click, the slip with the server's time,
the child's photo.

Each test's child is new: the school's aid officer adds a student through the API (which issues
the card) and awards points, as they would by hand, so the demo's own checkouts stay apart.
"""

from __future__ import annotations

import base64
import io
import secrets
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, DESKTOP, login, shot


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


def _child_with_card(page_factory, base: str, *, photo: Path | None = None) -> tuple[str, str]:
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
    if photo is not None:  # through the roster's edit form, as the officer would
        page.goto(f"{base}/students/{child['id']}/edit")
        page.set_input_files("input[name=photo]", str(photo))
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(f"{base}/students/{child['id']}")
        page.locator("img.ax-reg-photo").wait_for()
    page.context.close()
    return name, child["card_code"]


def _text(page, key: str) -> str:
    """A message of the counter page, as the page has it (translated)."""
    return page.evaluate(
        f"JSON.parse(document.getElementById('counter-data').textContent).text.{key}"
    )


def _scan(page, code: str) -> None:
    """The keyboard-wedge scanner: fast keys ending in Enter, wherever the focus is."""
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")


def _qr_png(code: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(code, box_size=8, border=4).save(buffer, format="PNG")
    return buffer.getvalue()


def _portrait(path: Path) -> Path:
    """A drawn stand-in for a child's photo (a face on a plain background)."""
    image = Image.new("RGB", (300, 400), (236, 226, 214))
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 90, 230, 270), fill=(246, 214, 186))
    draw.rectangle((60, 300, 240, 400), fill=(60, 110, 170))
    draw.ellipse((115, 160, 135, 180), fill=(40, 40, 40))
    draw.ellipse((165, 160, 185, 180), fill=(40, 40, 40))
    draw.arc((120, 190, 180, 235), 20, 160, fill=(170, 60, 60), width=5)
    image.save(path, format="JPEG")
    return path


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


def test_without_a_camera_the_clerk_is_told_and_the_scanner_still_works(page_factory, live_server):
    name, code = _child_with_card(page_factory, live_server)
    page = page_factory()
    login(page, live_server, "clerk_longxi")
    page.goto(live_server + "/counter/")
    button = page.get_by_test_id("camera-open")
    expect(button).to_have_text("用摄像头扫码")
    button.click()
    # Headless Chromium has no camera: said in plain Chinese, the video panel stays closed.
    expect(page.get_by_test_id("camera-message")).to_have_text(_text(page, "camera_none"))
    assert "摄像头" in page.get_by_test_id("camera-message").inner_text()
    expect(page.get_by_test_id("camera-panel")).to_be_hidden()
    shot(page, "counter-no-camera")
    _scan(page, code)  # the USB scanner, with the focus still on the camera button
    expect(page.get_by_test_id("counter-name")).to_have_text(name)
    expect(page.get_by_test_id("counter-balance")).to_have_text("20")


def test_the_slip_shows_the_time_the_server_gave(browser, page_factory, live_server):
    """The slip's time is ``created_at`` of the 201 answer (school time), not the browser's
    clock: the browser here runs in another time zone."""
    name, code = _child_with_card(page_factory, live_server)
    context = browser.new_context(
        viewport=DESKTOP, locale="zh-CN", timezone_id="America/Los_Angeles"
    )
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        login(page, live_server, "clerk_longxi")
        page.goto(live_server + "/counter/")
        _scan(page, code)
        expect(page.get_by_test_id("counter-name")).to_have_text(name)
        page.locator(".ax-counter-item:not([disabled])").first.click()
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/counter/redemptions") and r.request.method == "POST"
        ) as answer:
            page.get_by_test_id("counter-confirm").click()
        created_at = answer.value.json()["created_at"]
        assert created_at.endswith("+08:00"), created_at
        page.get_by_test_id("counter-slip").wait_for()
        expect(page.get_by_test_id("slip-time")).to_have_text(created_at[:19].replace("T", " "))
    finally:
        context.close()


def test_the_childs_photo_or_first_character_is_shown(page_factory, live_server, tmp_path):
    pictured, with_photo = _child_with_card(
        page_factory, live_server, photo=_portrait(tmp_path / "face.jpg")
    )
    plain, without = _child_with_card(page_factory, live_server)
    page = page_factory()
    login(page, live_server, "clerk_longxi")
    page.goto(live_server + "/counter/")
    _scan(page, with_photo)
    expect(page.get_by_test_id("counter-name")).to_have_text(pictured)
    photo = page.get_by_test_id("counter-photo")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("#counter-initial")).to_be_hidden()
    shot(page, "counter-child-photo")

    page.keyboard.press("Escape")
    _scan(page, without)
    expect(page.get_by_test_id("counter-name")).to_have_text(plain)
    expect(photo).to_be_hidden()
    expect(page.locator("#counter-initial")).to_have_text(plain[0])
    avatar = page.get_by_test_id("counter-avatar").inner_text()
    for word in ("特别困难", "比较困难", "一般困难", "资助", "困难"):
        assert word not in avatar


def test_the_camera_decoder_runs_under_the_csp(page_factory, live_server):
    """qr-scanner's worker (jsQR) is a file under /static, allowed by worker-src 'self'."""
    page = page_factory()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    login(page, live_server, "clerk_longxi")
    page.goto(live_server + "/counter/")
    image = "data:image/png;base64," + base64.b64encode(_qr_png("AXCSPWORKER23456789ABCD")).decode()
    decoded = page.evaluate(
        """async (url) => {
            QrScanner._disableBarcodeDetector = true;  // the worker, as on an iPad
            const result = await QrScanner.scanImage(url, {returnDetailedScanResult: true});
            return result.data;
        }""",
        image,
    )
    assert decoded == "AXCSPWORKER23456789ABCD"
    assert problems == []


def _y4m(path: Path, png: bytes, frames: int = 10) -> Path:
    """A short video of the card's QR code for Chromium's fake camera (YUV4MPEG2, 4:2:0)."""
    card = Image.open(io.BytesIO(png)).convert("L").resize((300, 300), Image.NEAREST)
    frame = Image.new("L", (640, 480), 255)
    frame.paste(card, (170, 90))
    ycbcr = frame.convert("RGB").convert("YCbCr")
    y, cb, cr = ycbcr.split()
    half = (320, 240)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def test_a_card_held_to_the_camera_is_served_and_the_camera_reopens(
    browser, page_factory, live_server, tmp_path
):
    """Chromium's fake camera plays a video of the card's QR code."""
    name, code = _child_with_card(page_factory, live_server)
    video = _y4m(tmp_path / "card.y4m", _qr_png(code))
    camera_browser = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = camera_browser.new_context(viewport=DESKTOP, locale="zh-CN")
        context.grant_permissions(["camera"], origin=live_server)
        page = context.new_page()
        page.set_default_timeout(15_000)
        login(page, live_server, "clerk_longxi")
        page.goto(live_server + "/counter/")
        page.get_by_test_id("camera-open").click()
        # The camera reads the card and the child is served as if scanned by USB.
        expect(page.get_by_test_id("counter-name")).to_have_text(name)
        expect(page.get_by_test_id("camera-panel")).to_be_hidden()
        # Next child: the camera was in use, so it opens again by itself (and, the card
        # still before it, reads it again: a second lookup without touching anything).
        with page.expect_response(lambda r: "/api/v1/counter/cards/" in r.url):
            page.keyboard.press("Escape")
        expect(page.get_by_test_id("counter-name")).to_have_text(name)
        page.locator("#counter-sale").wait_for()
    finally:
        camera_browser.close()
