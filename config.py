"""Configuration. Everything secret or machine-specific comes from the environment.

- ``DATABASE_URL``: SQLAlchemy URL; default a SQLite file in the instance folder.
  ``postgresql://`` URLs are served through psycopg 3.
- ``SECRET_KEY``: required in production; development generates one and keeps it in the
  instance folder so sessions survive a restart.
- ``REDIS_URL``: optional; rate-limit counters shared by all worker processes.
- ``TIMEZONE``: the deployment's time zone for "the same day" and months (default Asia/Shanghai).
"""

from __future__ import annotations

import os
from datetime import timedelta


def normalise_database_url(url: str) -> str:
    """Route PostgreSQL URLs through psycopg 3, whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    ENV_NAME = "production"
    DEBUG = False
    TESTING = False

    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")  # None -> instance/aixin.db
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # SQLite: FULL survives power loss; NORMAL is faster but may lose the last commits.
    SQLITE_SYNCHRONOUS = os.environ.get("SQLITE_SYNCHRONOUS", "FULL")
    SQLITE_BUSY_TIMEOUT_MS = 10_000

    REDIS_URL = os.environ.get("REDIS_URL")
    # Number of reverse proxies in front of the app (0: none); see create_app.
    PROXY_HOPS = int(os.environ.get("PROXY_HOPS", "0"))
    TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")

    # i18n
    LANGUAGES = {"zh_CN": "简体中文", "en": "English"}
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")

    # Sessions and cookies (ASVS 7.x)
    SESSION_COOKIE_NAME = "aixin_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    SESSION_ABSOLUTE_HOURS = int(os.environ.get("SESSION_ABSOLUTE_HOURS", "12"))
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    HSTS = True

    # Passwords: argon2id with OWASP's minimum (t=2, m=19 MiB, p=1) — ASVS 5.0 Appendix C.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST_KIB = 19 * 1024
    ARGON2_PARALLELISM = 1

    # Rate limits
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_LIMIT_PER_IP = "30 per 10 minutes"
    LOGIN_LIMIT_PER_ACCOUNT = "10 per 10 minutes"

    WTF_CSRF_TIME_LIMIT = None  # the session's own timeouts bound the token's life
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    # flask-smorest / OpenAPI
    API_TITLE = "Aixin API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = None  # we serve /api/v1/openapi.json ourselves

    DEMO_PASSWORD = "aixin-demo-2026"  # noqa: S105 - demo accounts only, printed by `demo`


class DevConfig(Config):
    ENV_NAME = "development"
    DEBUG = False  # never the Werkzeug debugger on a school intranet; run with --debug to opt in
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    HSTS = False


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SESSION_COOKIE_SECURE = False
    HSTS = False
    WTF_CSRF_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    # Cheaper hashing keeps the suite fast; a dedicated test checks the production parameters.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST_KIB = 1024


def config_from_env() -> type[Config]:
    """The configuration class named by ``AIXIN_ENV`` (production|development); production."""
    env = os.environ.get("AIXIN_ENV", "production").lower()
    return DevConfig if env in ("dev", "development") else Config
