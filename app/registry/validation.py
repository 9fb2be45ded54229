"""Checks for roster data as schools hold it (DOMAIN.md §6): ID numbers, 学籍号, dates, yes/no.

Pure functions, no database: the form, the API and the Excel import all use them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
_STUDENT_NO = re.compile(r"^(?:G\d{17}[\dX]|[LJ][0-9A-Z]{6,31})$")
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?E\+\d+$", re.IGNORECASE)


def fold(value: object) -> str:
    """Text as typed into Excel: full-width digits and letters folded, spaces removed at ends."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def looks_mangled_by_excel(value: object) -> bool:
    """A long digit string that Excel turned into a number (4.10102E+17): digits are lost."""
    if isinstance(value, float):
        return value >= 1e11
    text = fold(value)
    return bool(_SCIENTIFIC.match(text))


def id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalise_id_number(value: object) -> str:
    return fold(value).replace(" ", "").upper()


def id_number_problem(value: str) -> str | None:
    """Why an 18-character 居民身份证号 is invalid (GB 11643-1999), or None if it is valid."""
    if not _ID_PATTERN.match(value):
        return "format"
    if id_check_char(value[:17]) != value[17]:
        return "checksum"
    if birth_date_from_id(value) is None:
        return "birth_date"
    return None


def birth_date_from_id(value: str) -> date | None:
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    if not date(1990, 1, 1) <= born <= date.today():
        return None
    return born


def gender_from_id(value: str) -> str:
    return "M" if int(value[16]) % 2 else "F"


def normalise_student_no(value: object) -> str:
    return fold(value).replace(" ", "").upper()


def student_no_problem(value: str) -> str | None:
    """全国学籍号: G + the 18-character ID number, or L/J + a code for children without one."""
    if not _STUDENT_NO.match(value):
        return "format"
    if value.startswith("G") and id_number_problem(value[1:]):
        return "checksum"
    return None


_YES = {"是", "y", "yes", "true", "1", "有", "√", "住校", "寄宿"}
_NO = {"否", "n", "no", "false", "0", "无", "", "走读", "非留守儿童", "×"}


def parse_yes_no(value: object) -> bool | None:
    """是/否, 1/0, Y/N, and worded values like 单亲留守儿童 (→ yes) or 走读 (→ no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    text = fold(value).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    if text.endswith("留守儿童") and not text.startswith("非"):
        return True
    if text in {"2"}:  # 是否留守儿童: 0 = no, 1 = single-parent away, 2 = both away
        return True
    return None


def parse_study_mode(value: object) -> bool | None:
    """就读方式 (boarding?): coded 1 走读 / 2 住校, or worded. For a 是否住校 column use
    :func:`parse_yes_no`, where 1 means yes."""
    text = fold(value)
    if text in {"1", "1.0"}:
        return False
    if text in {"2", "2.0"}:
        return True
    return parse_yes_no(value)


def parse_gender(value: object) -> str | None:
    text = fold(value).upper()
    if text in {"男", "M", "MALE", "1"}:
        return "M"
    if text in {"女", "F", "FEMALE", "2"}:
        return "F"
    return None


_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date(value: object) -> date | None:
    """20040101, 2004-01-01, 2004/1/1, 2004.1.1, 2004年1月1日, a real Excel date or serial."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial day number
            return _EXCEL_EPOCH + timedelta(days=int(value))
        value = str(int(value))
    text = fold(value)
    if not text:
        return None
    match = re.match(r"^(\d{4})(\d{2})(\d{2})$", text) or re.match(
        r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$", text
    )
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


_PHONE = re.compile(r"^(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def normalise_phone(value: object) -> str:
    text = fold(value)
    text = re.sub(r"[\s()（）]", "", text)
    return re.sub(r"^(?:\+?86)", "", text)


def phone_ok(value: str) -> bool:
    return bool(_PHONE.match(value))
