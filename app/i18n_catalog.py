"""Extracting, updating and checking the gettext catalogs (``flask --app app i18n …``).

English msgids in the code; zh_CN is the default UI language, so every msgid needs a Chinese
translation — ``check`` fails otherwise, and so does the test suite.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "app" / "translations"
# Babel resolves zh_CN to zh_Hans_CN, and gettext looks for exactly that folder.
CATALOG_LOCALE = "zh_Hans_CN"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "pgettext": ((1, "c"), 2),
}
METHOD_MAP = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.do"}}


def extract() -> Catalog:
    """All translatable strings in app/ and templates/."""
    catalog = Catalog(project="aixin", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, OPTIONS, keywords=KEYWORDS, strip_comment_tags=True
    ):
        if filename.startswith(("app/", "templates/")) or "/" not in filename:
            catalog.add(
                message, None, [(filename, lineno)], auto_comments=comments, context=context
            )
    return catalog


def po_path(locale: str) -> Path:
    return CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, project="aixin", charset="utf-8")
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def save(catalog: Catalog, locale: str) -> None:
    catalog.fuzzy = False
    catalog.project = "aixin"
    catalog.version = "1"
    catalog.copyright_holder = "Aixin"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "Aixin team"
    catalog.language_team = "Aixin team"
    path = po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(
            f, catalog, width=100, sort_output=False, include_previous=False, omit_header=False
        )


def update(locale: str = CATALOG_LOCALE) -> Catalog:
    """Merge freshly extracted strings into the locale's catalog (keeps translations)."""
    template = extract()
    catalog = load(locale)
    catalog.update(template, no_fuzzy_matching=True)
    # Obsolete entries only confuse translators: drop them.
    catalog.obsolete.clear()
    save(catalog, locale)
    return catalog


def untranslated(locale: str = CATALOG_LOCALE) -> list[str]:
    """msgids used in the code that have no (non-fuzzy) translation in the catalog."""
    catalog = load(locale)
    missing = []
    for message in extract():
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        if entry is None or entry.fuzzy or not _translated(entry.string):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def _translated(value) -> bool:
    if isinstance(value, tuple | list):
        return all(bool(v) for v in value)
    return bool(value)
