"""Browser tests: a real server (gunicorn, 2 workers) on a demo SQLite database, driven by
Playwright in Debian's headless Chromium (/usr/bin/chromium; no browser download).

Without Chromium the tests are skipped — unless AIXIN_REQUIRE_BROWSER=1 (CI), where that is a
failure. Set AIXIN_SCREENSHOTS=DIR to keep screenshots of the pages visited.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("AIXIN_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "aixin-demo-2026"  # noqa: S105 - the documented demo password


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AIXIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")


@contextlib.contextmanager
def demo_server(
    tmp: Path, app_spec: str = "app:create_app()", env: dict[str, str] | None = None
) -> Iterator[str]:
    """Base URL of gunicorn (2 workers) serving ``app_spec`` on a fresh demo database."""
    env = {
        **os.environ,
        "AIXIN_ENV": "development",
        "AIXIN_INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp / 'live.db'}",
        "SESSION_COOKIE_SECURE": "0",
        **(env or {}),
    }
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    with open(tmp / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", app_spec],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    urllib.request.urlopen(base + "/", timeout=1)  # noqa: S310 - our own server
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail("the live server did not start: " + (tmp / "server.log").read_text())
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of a gunicorn server on a fresh demo database."""
    need_chromium()
    with demo_server(tmp_path_factory.mktemp("live")) as base:
        yield base


@pytest.fixture(scope="session")
def browser(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["desktop", "phone"])
def viewport(request):
    return request.param, DESKTOP if request.param == "desktop" else PHONE


@pytest.fixture
def page_factory(browser, live_server):
    """New isolated pages (own cookies). Every request must stay on our own server."""
    contexts = []
    outside: list[str] = []

    def make(viewport=DESKTOP, *, is_mobile=False):
        context = browser.new_context(
            viewport=viewport, locale="zh-CN", is_mobile=is_mobile, has_touch=is_mobile
        )
        contexts.append(context)
        page = context.new_page()
        page.on(
            "request",
            lambda req: (
                outside.append(req.url)
                if not req.url.startswith((live_server, "data:", "blob:"))
                else None
            ),
        )
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert outside == [], f"requests left the server: {outside}"


def shot(page, name: str) -> None:
    folder = os.environ.get("AIXIN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def login(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/dashboard")
