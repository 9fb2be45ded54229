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


# ---------------------------------------------------------------- class names

_CN_DIGIT = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_NUMBER = "[〇零一二两三四五六七八九十]{1,3}"
_STAGE_GRADES = {"初": 6, "高": 9}  # 初一 = grade 7, 高一 = grade 10
_CLASS_WORDED = re.compile(
    rf"^(?P<grade>(?:初|高)[一二三]|{_CN_NUMBER}|\d{{1,2}}|\d{{4}})\s*(?P<unit>年级|年|级)?\s*"
    rf"(?P<open>[(\[【])?\s*(?P<number>\d{{1,2}}|{_CN_NUMBER})\s*[)\]】]?\s*班?$"
)
_CLASS_DASHED = re.compile(r"^(?P<grade>\d{1,2})\s*[-—–/]\s*(?P<number>\d{1,2})\s*班?$")
_CLASS_ENGLISH = re.compile(
    r"^grade\s*(?P<grade>\d{1,2})\s*[,/-]?\s*class\s*(?P<number>\d{1,2})$", re.IGNORECASE
)
_GRADE_ONLY = re.compile(rf"^(?P<grade>(?:初|高)[一二三]|{_CN_NUMBER}|\d{{1,2}})\s*(?:年级|年)?$")
_ENROLMENT_YEAR = re.compile(r"^(?P<year>\d{4})\s*级?$")
_NUMBER_ONLY = re.compile(rf"^[(\[【]?\s*(?P<number>\d{{1,2}}|{_CN_NUMBER})\s*[)\]】]?\s*班?$")


def chinese_number(text: str) -> int | None:
    """三 → 3, 十二 → 12, 二十一 → 21, "07" → 7 (1–99; anything else None)."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in _CN_DIGIT and c != "十" for c in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        if "十" in ones or len(tens) > 1 or len(ones) > 1:
            return None
        return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)
    if len(text) == 1:
        return _CN_DIGIT[text]
    return None


def _school_year_start(today: date) -> int:
    """The calendar year the current school year began in (it starts in September)."""
    return today.year if today.month >= 9 else today.year - 1


def parse_grade(value: object, *, stage: str = "primary", today: date | None = None) -> int | None:
    """年级 as schools write it: 三年级, 3, 3年级, 初二 (8), or an enrolment year 2022级."""
    text = fold(value).replace(" ", "")
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    match = _ENROLMENT_YEAR.match(text)
    if match and len(match.group("year")) == 4:
        year = int(match.group("year"))
        grade = _school_year_start(today or date.today()) - year + 1
        if stage == "middle":
            grade += 6
        return grade if 1 <= grade <= 12 else None
    match = _GRADE_ONLY.match(text)
    return _grade_number(match.group("grade")) if match else None


def _grade_number(text: str) -> int | None:
    if text[0] in _STAGE_GRADES:
        number = chinese_number(text[1:])
        return _STAGE_GRADES[text[0]] + number if number else None
    number = chinese_number(text)
    return number if number and 1 <= number <= 12 else None


def parse_class_number(value: object) -> int | None:
    """班级 given alone: 2, 2班, (2)班, 二班."""
    text = fold(value).replace(" ", "")
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    match = _NUMBER_ONLY.match(text)
    if not match:
        return None
    number = chinese_number(match.group("number"))
    return number if number and 1 <= number <= 99 else None


def parse_class_name(
    value: object, *, stage: str = "primary", today: date | None = None
) -> tuple[int, int] | None:
    """(grade, number) from a class name: 三年级(2)班, 三年级2班, 3年级2班, 3-2, 初一(3)班,
    2022级3班, Grade 3 Class 2. None when it is not a class name."""
    text = fold(value).replace(" ", "")
    if not text:
        return None
    for pattern in (_CLASS_DASHED, _CLASS_ENGLISH):
        match = pattern.match(text)
        if match:
            grade, number = int(match.group("grade")), int(match.group("number"))
            return (grade, number) if 1 <= grade <= 12 and 1 <= number <= 99 else None
    match = _CLASS_WORDED.match(text)
    if not match:
        return None
    raw_grade, unit = match.group("grade"), match.group("unit")
    if (
        unit is None
        and match.group("open") is None
        and (raw_grade.isdigit() == match.group("number").isdigit())
    ):
        return None  # "32班", "十二班": grade 3 class 2, or grade 32? Ambiguous: refuse
    if len(raw_grade) == 4:
        if unit != "级":
            return None
        grade = parse_grade(raw_grade + "级", stage=stage, today=today)
    elif unit == "级":
        return None
    else:
        grade = _grade_number(raw_grade)
    number = chinese_number(match.group("number"))
    if grade is None or number is None or not 1 <= number <= 99:
        return None
    return grade, number
