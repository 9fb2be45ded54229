"""Security baseline: headers, CSRF, bad input, configuration, password storage."""

from __future__ import annotations

import pytest

from config import Config, DevConfig
from tests.conftest import PASSWORD, login, post_form


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_of_logged_in_staff_are_not_cached(client, world):
    login(client, world.user("officer_a1"))
    assert client.get("/dashboard").headers["Cache-Control"] == "no-store"


def test_no_inline_scripts_or_outside_assets_in_pages(client, world):
    """CSP forbids inline script; minors' data forbids CDNs and web fonts."""
    import re

    login(client, world.user("admin"))
    for path in ("/", "/donate", "/login", "/dashboard", "/account"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path
        assert " style=" not in html, path
        links = re.findall(r'(?:src|href|action)="([^"]*)"', html)
        assert links, path
        outside = [u for u in links if u.startswith(("http:", "https:", "//"))]
        assert outside == [], (path, outside)


def test_unknown_page_is_a_chinese_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_english_404_after_switching_language(client):
    client.set_cookie("aixin_lang", "en")
    response = client.get("/no-such-page")
    assert "Page not found" in response.get_data(as_text=True)


def test_wrong_method_is_405_page(client):
    response = client.post("/donate")  # CSRF is checked first for POSTs
    assert response.status_code in (400, 405)
    response = client.delete("/")
    assert response.status_code == 405
    assert "不允许" in response.get_data(as_text=True)


def test_oversized_body_is_413_and_nothing_written(client, world, app, monkeypatch, db):
    from sqlalchemy import func, select

    from app.audit.models import AuditEvent

    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = client.post("/login", data={"username": "x" * 5000, "password": "y"})
    assert response.status_code == 413
    assert "文件太大" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_form_post_without_csrf_token_changes_nothing(client, world, db):
    from sqlalchemy import select

    from app.auth.models import ApiToken

    login(client, world.user("teacher_a1"))
    response = client.post("/account/tokens", data={"name": "sneaky"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == []


def test_malformed_form_values_are_4xx_not_500(client, world):
    login(client, world.user("teacher_a1"))
    response = post_form(
        client,
        "/account/password",
        {"current_password": "\x00", "new_password": ["a", "b"], "confirm": "z" * 10000},
    )
    assert 400 <= response.status_code < 500


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("AIXIN_INSTANCE_PATH", str(tmp_path))

    class Prod(Config):
        SECRET_KEY = None
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'p.db'}"

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Prod)


def test_development_keeps_a_generated_secret_in_the_instance_folder(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("AIXIN_INSTANCE_PATH", str(tmp_path))

    class Dev(DevConfig):
        SECRET_KEY = None
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'd.db'}"

    first = create_app(Dev).config["SECRET_KEY"]
    second = create_app(Dev).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_urls_use_psycopg3():
    from config import normalise_database_url

    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_production_password_hash_meets_asvs_appendix_c(app):
    """argon2id, t>=2, m>=19 MiB, as configured for production."""
    from argon2 import PasswordHasher
    from argon2.low_level import Type

    assert Config.ARGON2_TIME_COST >= 2
    assert Config.ARGON2_MEMORY_COST_KIB >= 19 * 1024
    hasher = PasswordHasher(
        time_cost=Config.ARGON2_TIME_COST,
        memory_cost=Config.ARGON2_MEMORY_COST_KIB,
        parallelism=Config.ARGON2_PARALLELISM,
    )
    assert hasher.type is Type.ID
    encoded = hasher.hash("a long pass phrase")
    assert encoded.startswith("$argon2id$") and "m=19456,t=2" in encoded


def test_weak_hash_is_upgraded_at_login(client, world, db, app, monkeypatch):
    from argon2 import PasswordHasher

    user = world.user("clerk_a1")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=512).hash(PASSWORD)
    db.session.commit()
    assert login(client, user).status_code == 302
    db.session.refresh(user)
    assert f"m={app.config['ARGON2_MEMORY_COST_KIB']}" in user.password_hash


@pytest.mark.parametrize(
    "password", ["short", "12345678", "password", "woaini1314", "aaaaaaaaaaaa"]
)
def test_common_or_short_passwords_are_refused(password):
    from app.auth.passwords import password_problems

    assert password_problems(password, "someone")


def test_password_equal_to_username_is_refused():
    from app.auth.passwords import password_problems

    assert password_problems("zhangsan2026", "ZhangSan2026")
    assert password_problems("a perfectly fine phrase", "someone") == []


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(app, world, db):
    """With PROXY_HOPS=1 a failed login is logged (and rate-limited) under the donor's or
    staff member's own address, not the proxy's."""
    from sqlalchemy import select

    from app import create_app
    from app.audit.models import AuditEvent
    from config import TestConfig

    class Proxied(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        PROXY_HOPS = 1

    proxied = create_app(Proxied)
    client = proxied.test_client()
    headers = {"X-Forwarded-For": "10.20.30.40"}
    page = client.get("/login", headers=headers).get_data(as_text=True)
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    client.post(
        "/login",
        headers=headers,
        data={"username": "clerk_a1", "password": "wrong-password-1", "csrf_token": token},
    )
    db.session.remove()
    ip = db.session.scalar(select(AuditEvent.ip).where(AuditEvent.action == "login_failed"))
    assert ip == "10.20.30.40"


@pytest.mark.parametrize(
    "argv, maintenance",
    [
        (["/srv/aixin/.venv/bin/flask", "--app", "app", "db", "upgrade"], True),
        (["/usr/lib/python3/site-packages/flask/__main__.py", "db", "check"], True),
        (["/srv/aixin/.venv/bin/flask", "--app", "app", "run"], False),
        (["/srv/aixin/.venv/bin/gunicorn", "app:create_app()"], False),
    ],
)
def test_only_maintenance_commands_start_without_a_secret_key(monkeypatch, argv, maintenance):
    """`flask db upgrade` works on a fresh machine; serving (run, gunicorn) still refuses."""
    import sys

    from app import _maintenance_command

    monkeypatch.setattr(sys, "argv", argv)
    assert _maintenance_command() is maintenance
