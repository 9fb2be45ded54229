"""Locale choice and catalog compilation. Chinese first, English second."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user

LANG_COOKIE = "aixin_lang"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
log = logging.getLogger(__name__)


def select_locale() -> str:
    """The header switch (remembered in a cookie) wins, then the user's choice, then zh_CN."""
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    user = current_user if current_user else None
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    return default


def select_timezone() -> str:
    return current_app.config["TIMEZONE"]


def compile_catalogs_if_stale(app: Flask) -> None:
    """Compile .po → .mo when a .mo is missing or older than its .po.

    ``pip install`` compiles the catalogs already (setup.py); this covers a checkout whose .po
    files changed since, so no one ever has to remember a manual ``pybabel compile``.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            with po_path.open("rb") as f:
                catalog = read_po(f)
            tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                write_mo(f, catalog)
            tmp.replace(mo_path)
        except OSError as exc:  # read-only install: the build step compiled them already
            log.warning("could not compile %s: %s", po_path, exc)
