"""The public home page, login and logout, and the language switch, in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, login, shot


def test_home_page_in_chinese_links_to_donate_and_login(page_factory, live_server, viewport):
    name, size = viewport
    page = page_factory(size, is_mobile=name == "phone")
    page.goto(live_server + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "爱心超市" in page.title()
    donate = page.get_by_test_id("donate-link")
    assert donate.inner_text().strip() == "捐赠物品"
    shot(page, f"home-{name}")
    donate.click()
    page.wait_for_url(live_server + "/donate")
    assert page.get_by_role("heading", name="捐赠物品").is_visible()
    assert page.locator("[data-donate-school]", has_text="陇西小学").first.is_visible()
    shot(page, f"donate-{name}")


def test_staff_login_dashboard_and_logout(page_factory, live_server, viewport):
    name, size = viewport
    page = page_factory(size, is_mobile=name == "phone")
    page.goto(live_server + "/")
    if name == "phone":
        page.click("button.navbar-toggler")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="工作人员登录").click()
    page.wait_for_url(live_server + "/login")
    shot(page, f"login-{name}")
    login(page, live_server, "officer_longxi")
    assert page.get_by_role("heading", name="您好，孙红霞").is_visible()
    assert page.locator("main").get_by_text("学校资助专干 · 陇西小学").is_visible()
    shot(page, f"dashboard-officer-{name}")
    if name == "phone":
        page.click("button.navbar-toggler")
    page.get_by_test_id("user-menu").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(live_server + "/")
    assert page.get_by_text("您已退出登录。").is_visible()
    page.goto(live_server + "/dashboard")
    assert page.url.startswith(live_server + "/login")


def test_wrong_password_shows_a_chinese_message(page_factory, live_server):
    page = page_factory()
    page.goto(live_server + "/login")
    page.fill("input[name=username]", "officer_longxi")
    page.fill("input[name=password]", "not-the-password")
    page.click("main form button[type=submit]")
    assert page.get_by_text("用户名或密码错误，或账号已停用。").is_visible()


def test_language_switch_is_remembered(page_factory, live_server):
    page = page_factory()
    page.goto(live_server + "/donate")
    page.get_by_role("button", name="English").click()
    page.wait_for_url(live_server + "/donate")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Donate goods").is_visible()
    page.goto(live_server + "/")  # a new page load keeps the choice
    assert page.get_by_test_id("donate-link").inner_text().strip() == "Donate goods"
    shot(page, "home-english")
    page.get_by_role("button", name="简体中文").click()
    assert page.get_by_test_id("donate-link").inner_text().strip() == "捐赠物品"


@pytest.mark.parametrize("username", ["admin", "lead_longxi", "teacher_longxi", "clerk_longxi"])
def test_each_role_sees_only_its_navigation(page_factory, live_server, username):
    page = page_factory()
    login(page, live_server, username)
    nav = page.locator("nav .navbar-nav").text_content()  # the Administration menu too
    expected = {
        "admin": {"工作台", "组织机构", "用户管理", "审计日志"},
        "lead_longxi": {"工作台", "组织机构"},
        "teacher_longxi": {"工作台"},
        "clerk_longxi": {"工作台"},
    }[username]
    for label in {"工作台", "组织机构", "用户管理", "审计日志"}:
        assert (label in nav) == (label in expected), (username, label, nav)
    shot(page, f"dashboard-{username}")


def test_phone_menu_opens(page_factory, live_server):
    page = page_factory(PHONE, is_mobile=True)
    login(page, live_server, "admin")
    nav_link = page.get_by_role("navigation", name="主导航").get_by_role("link", name="学生")
    assert not nav_link.is_visible()
    page.click("button.navbar-toggler")
    nav_link.wait_for(state="visible")
