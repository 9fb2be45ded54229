"""Shared fixtures: the app on SQLite (default) or PostgreSQL (TEST_DATABASE_URL), clients,
factories and a small two-alliance world for scope tests.

The schema is made by the Alembic migrations, once per session, so every run also proves the
migrations build what the models describe. Each test starts from empty tables.
"""

from __future__ import annotations

import contextvars
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient

from config import TestConfig

PASSWORD = "correct-horse-battery"  # noqa: S105


class IsolatedClient(FlaskClient):
    """Each request runs as in production: its own app context, ``g`` and database session.

    The test's own session is committed first, which ends its transaction (on SQLite it may
    hold the writer lock) and expires its objects, so the test sees what the request changed.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            from app.extensions import db

            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_root / 'test.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Flask:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    tmp_root = tmp_path_factory.mktemp("aixin")
    os.environ["AIXIN_INSTANCE_PATH"] = str(tmp_root / "instance")

    class Cfg(TestConfig):
        SQLALCHEMY_DATABASE_URI = _database_url(tmp_root)

    application = create_app(Cfg)
    application.test_client_class = IsolatedClient
    with application.app_context():
        if application.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            db.drop_all()
            from sqlalchemy import text

            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        db.session.remove()
    return application


@pytest.fixture(autouse=True)
def _clean_database(request, app):
    """Empty tables and fresh rate-limit counters for every test that uses the app."""
    from app.demo import wipe_all_data
    from app.extensions import db, limiter

    with app.app_context():
        limiter.reset()
    ctx = app.app_context()
    ctx.push()
    try:
        yield
    finally:
        db.session.remove()
        wipe_all_data()
        db.session.commit()
        db.session.remove()
        ctx.pop()


@pytest.fixture
def db(app):
    from app.extensions import db as _db

    return _db


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- factories

_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


@pytest.fixture
def make_district(db):
    from app.org.operations import create_district

    def make(**kw):
        n = _next()
        district = create_district(name=kw.get("name", f"测试区{n}"), code=kw.get("code", f"d{n}"))
        db.session.commit()
        return district

    return make


@pytest.fixture
def make_alliance(db):
    from app.org.operations import create_alliance

    def make(district, **kw):
        alliance = create_alliance(district_id=district.id, name=kw.get("name", f"联盟{_next()}"))
        db.session.commit()
        return alliance

    return make


@pytest.fixture
def make_school(db):
    from app.org.operations import create_school, update_alliance

    def make(district, alliance=None, *, lead=False, **kw):
        school = create_school(
            district_id=district.id,
            name=kw.pop("name", f"学校{_next()}"),
            alliance_id=alliance.id if alliance else None,
            **kw,
        )
        if lead and alliance is not None:
            update_alliance(
                alliance, name=alliance.name, note=alliance.note, lead_school_id=school.id
            )
        db.session.commit()
        return school

    return make


@pytest.fixture
def make_class(db):
    from app.org.operations import create_class

    def make(school, grade=3, number=None, head_teacher=None):
        school_class = create_class(
            school=school,
            grade=grade,
            number=number or _next() % 90 + 1,
            head_teacher_id=head_teacher.id if head_teacher else None,
        )
        db.session.commit()
        return school_class

    return make


@pytest.fixture
def make_user(db):
    from app.auth.operations import create_user

    def make(role, *, district=None, alliance=None, school=None, username=None, **kw):
        if district is None:
            district = school.district if school is not None else alliance.district
        user = create_user(
            username=username or f"{role}{_next()}",
            display_name=kw.pop("display_name", f"用户{_next()}"),
            role=role,
            password=kw.pop("password", PASSWORD),
            district_id=district.id,
            alliance_id=alliance.id if alliance is not None and role == "alliance_lead" else None,
            school_id=school.id if school is not None else None,
            **kw,
        )
        db.session.commit()
        return user

    return make


# ---------------------------------------------------------------- logging in

_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, user_or_name, password: str = PASSWORD):
    username = getattr(user_or_name, "username", user_or_name)
    token = csrf_token(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


@pytest.fixture
def login_as(client):
    def do(user, password: str = PASSWORD) -> FlaskClient:
        response = login(client, user, password)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do


def post_form(client: FlaskClient, path: str, data: dict | None = None, *, page: str | None = None):
    """POST a form with a valid CSRF token taken from ``page`` (default: the dashboard)."""
    token = csrf_token(client, page or "/dashboard")
    return client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def api_token(db):
    """A bearer token for a user: ``headers = api_token(user)``."""
    from app.auth.operations import create_token

    def make(user) -> dict[str, str]:
        _token, secret = create_token(user, "test")
        db.session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


# ---------------------------------------------------------------- a small world


@dataclass
class World:
    """Two districts; district 1 has alliances A (schools A1 lead, A2) and B (school B1)."""

    district: object
    other_district: object
    alliance_a: object
    alliance_b: object
    school_a1: object
    school_a2: object
    school_b1: object
    school_x: object  # in the other district
    class_a1: object
    class_a2: object
    class_b1: object
    users: dict[str, object] = field(default_factory=dict)

    def user(self, key: str):
        return self.users[key]


@pytest.fixture
def world(make_district, make_alliance, make_school, make_class, make_user) -> World:
    d1 = make_district(name="一区")
    d2 = make_district(name="二区")
    a = make_alliance(d1, name="甲联盟")
    b = make_alliance(d1, name="乙联盟")
    a1 = make_school(d1, a, lead=True, name="甲一小学")
    a2 = make_school(d1, a, name="甲二小学")
    b1 = make_school(d1, b, lead=True, name="乙一小学")
    x = make_school(d2, None, name="外区小学")
    users = {
        "admin": make_user("district_admin", district=d1, username="admin1"),
        "admin_other": make_user("district_admin", district=d2, username="admin2"),
        "lead_a": make_user("alliance_lead", alliance=a, username="lead_a"),
        "lead_b": make_user("alliance_lead", alliance=b, username="lead_b"),
    }
    for key, school in (("a1", a1), ("a2", a2), ("b1", b1), ("x", x)):
        for role, short in (
            ("school_officer", "officer"),
            ("teacher", "teacher"),
            ("clerk", "clerk"),
        ):
            users[f"{short}_{key}"] = make_user(role, school=school, username=f"{short}_{key}")
    c_a1 = make_class(a1, grade=3, number=2, head_teacher=users["teacher_a1"])
    c_a2 = make_class(a2, grade=4, number=1, head_teacher=users["teacher_a2"])
    c_b1 = make_class(b1, grade=5, number=1)
    return World(d1, d2, a, b, a1, a2, b1, x, c_a1, c_a2, c_b1, users)
