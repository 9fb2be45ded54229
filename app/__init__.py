"""Aixin (爱心超市): the district's student-aid and love-supermarket platform.

``create_app(config_class)`` builds the Flask application; ``flask --app app`` and
``gunicorn "app:create_app()"`` both find it.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from pathlib import Path

from flask import Flask

from config import Config, config_from_env, normalise_database_url

BASE = Path(__file__).resolve().parent.parent


def create_app(config_class: type[Config] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(BASE / "templates"),
        static_folder=str(BASE / "static"),
        instance_path=os.environ.get("AIXIN_INSTANCE_PATH", str(BASE / "instance")),
    )
    app.config.from_object(config_class or config_from_env())
    _configure(app)
    if app.config.get("PROXY_HOPS"):
        # Behind a reverse proxy: take the client's address from X-Forwarded-For, so per-IP
        # rate limits (login, pledges) count donors one by one, not the proxy as one.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from app.i18n import compile_catalogs_if_stale

    compile_catalogs_if_stale(app)
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_cli(app)
    register_hooks(app)
    return app


def _configure(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    env = app.config["ENV_NAME"]

    if not app.config.get("SECRET_KEY"):
        if env == "production" and _maintenance_command():
            # `flask db upgrade`, `flask ledger check` … sign nothing that outlives them.
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        elif env == "production":
            raise RuntimeError(
                "SECRET_KEY is not set. Production refuses to start without one: "
                "export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        key_file = Path(app.instance_path) / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        app.config["SECRET_KEY"] = key_file.read_text().strip()

    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        url = f"sqlite:///{Path(app.instance_path) / 'aixin.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A local file has no connection to lose: the pre-ping's SELECT 1 would only cost time
        # on every checkout from the pool.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    if app.config.get("REDIS_URL") and not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")

    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _maintenance_command() -> bool:
    """A `flask` CLI command other than `run`: it serves no one, so it needs no lasting key."""
    import sys

    program = Path(sys.argv[0]) if sys.argv else Path()
    flask_cli = program.name == "flask" or program.parent.name == "flask"  # or python -m flask
    return flask_cli and "run" not in sys.argv[1:]


def register_extensions(app: Flask) -> None:
    from app.audit.operations import install_audit_hook
    from app.database import configure_sqlite
    from app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from app.i18n import select_locale, select_timezone

    importlib.import_module("app.models")  # every table into the metadata

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(
                db.engine,
                synchronous=app.config["SQLITE_SYNCHRONOUS"],
                busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
            )
    migrate.init_app(
        app, db, directory=str(BASE / "migrations"), render_as_batch=True, compare_type=True
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # server-side sessions do this job (app.auth.sessions)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    install_audit_hook()

    importlib.import_module("app.auth.sessions")  # registers the Flask-Login loaders
    from app.auth.views import login_message

    login_manager.login_message = login_message
    login_manager.login_message_category = "warning"


def register_blueprints(app: Flask) -> None:
    from app.activities.views import bp as activities_bp
    from app.api import init_api
    from app.audit.views import bp as audit_bp
    from app.auth.views import bp as auth_bp
    from app.auth.views_users import bp as users_bp
    from app.counter.views import bp as counter_bp
    from app.donations.public import bp as donate_bp
    from app.donations.views import bp as donations_bp
    from app.inventory.views import bp as inventory_bp
    from app.inventory.views import catalogue_bp
    from app.org.views import bp as org_bp
    from app.points.views import bp as points_bp
    from app.portal.views import bp as portal_bp
    from app.registry.publicity import bp as publicity_bp
    from app.registry.views import bp as registry_bp
    from app.registry.views_aid import bp as aid_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(donate_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(org_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(inventory_bp)
    app.register_blueprint(donations_bp)
    app.register_blueprint(aid_bp)
    app.register_blueprint(publicity_bp)
    app.register_blueprint(registry_bp)
    app.register_blueprint(points_bp)
    app.register_blueprint(activities_bp)
    app.register_blueprint(counter_bp)
    init_api(app)


def register_errors(app: Flask) -> None:
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_cli(app: Flask) -> None:
    from app.cli import register_commands

    register_commands(app)


def register_hooks(app: Flask) -> None:
    from app.security import register_security_hooks
    from app.ui import register_template_helpers

    register_security_hooks(app)
    register_template_helpers(app)
