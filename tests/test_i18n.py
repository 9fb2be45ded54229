"""Chinese first, English second: locale choice, the catalog, Babel formatting."""

from __future__ import annotations

from datetime import datetime

from tests.conftest import csrf_token, login, post_form


def test_every_string_in_the_code_has_a_chinese_translation():
    from app.i18n_catalog import untranslated

    assert untranslated() == []


def test_chinese_is_the_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "捐赠物品" in html and "Donate goods" not in html


def test_the_header_switch_sets_a_remembered_cookie(client):
    token = csrf_token(client, "/")
    response = client.post("/lang", data={"lang": "en", "next": "/donate", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/donate"
    cookie = client.get_cookie("aixin_lang")
    assert cookie.value == "en" and cookie.max_age and cookie.max_age > 300 * 24 * 3600
    assert "Donate goods" in client.get("/").get_data(as_text=True)


def test_unknown_language_and_outside_redirects_are_ignored(client):
    token = csrf_token(client, "/")
    response = client.post(
        "/lang", data={"lang": "fr", "next": "https://evil.example/", "csrf_token": token}
    )
    assert response.headers["Location"] == "/"
    assert client.get_cookie("aixin_lang") is None


def test_a_users_saved_language_applies_after_login(client, world):
    login(client, world.user("teacher_a1"))
    post_form(client, "/account/preferences", {"locale": "en"}, page="/account")
    assert "My account" in client.get("/account").get_data(as_text=True)


def test_class_names_follow_the_chinese_convention(app):
    from flask_babel import refresh

    from app.org.models import class_label

    with app.test_request_context("/"):
        refresh()
        assert class_label(3, 2) == "三年级(2)班"
    with app.test_request_context("/", headers={"Cookie": "aixin_lang=en"}):
        refresh()  # the test shares one app context, where Flask-Babel caches the locale
        assert class_label(3, 2) == "Grade 3 Class 2"


def test_dates_are_formatted_by_babel_in_the_deployment_time_zone(app):
    from flask import render_template_string
    from flask_babel import refresh

    with app.test_request_context("/"):
        refresh()
        # 2026-01-31 20:00 UTC is 2026-02-01 04:00 in Asia/Shanghai.
        text = render_template_string("{{ value|dt('long') }}", value=datetime(2026, 1, 31, 20))
        assert "2026年2月1日" in text
        assert render_template_string("{{ 1234567|num }}") == "1,234,567"
