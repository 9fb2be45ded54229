"""Exporting a school's roster to .xlsx or .csv (aid office only; every export is audited).

The columns are the import template's, so an export can be corrected and imported elsewhere.
No aid status is exported here. Against formula injection (CORRECTNESS.md "Exports"), a text
cell that starts with ``= + - @``, a tab or a carriage return gets a leading apostrophe, and
ID numbers, 学籍号 and phones are written as text cells, never as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from app.audit.operations import record_event
from app.extensions import db
from app.org.models import GRADE_NAMES_ZH, School, SchoolClass
from app.registry.importing import TEMPLATE_HEADERS
from app.registry.models import Student
from app.registry.queries import LEFT_STATUSES

EXPORT_HEADERS = (*TEMPLATE_HEADERS, "状态", "离校日期")
_TEXT_HEADERS = frozenset({"身份证件号", "全国学籍号", "监护人联系电话", "出生日期", "离校日期"})
_STATUS_ZH = {"enrolled": "在校", "graduated": "毕业", "transferred_out": "转出", "left": "离校"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 1000


def escape_cell(value: object) -> object:
    """A text cell that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


def _grade_zh(school_class: SchoolClass | None) -> str:
    if school_class is None:
        return ""
    grade = school_class.grade
    name = GRADE_NAMES_ZH[grade - 1] if 1 <= grade <= len(GRADE_NAMES_ZH) else str(grade)
    return f"{name}年级"


def _row(student: Student) -> list[object]:
    school_class = student.school_class
    return [
        student.name,
        {"M": "男", "F": "女"}.get(student.gender or "", ""),
        student.birth_date.isoformat() if student.birth_date else "",
        student.ethnicity or "",
        "居民身份证" if student.id_number else "",
        student.id_number or "",
        student.student_no or "",
        _grade_zh(school_class),
        f"{_grade_zh(school_class)}({school_class.number})班" if school_class else "",
        _yes(student.boarding),
        _yes(student.left_behind),
        _yes(student.migrant),
        _yes(student.orphan),
        _yes(student.disabled),
        _yes(student.single_parent),
        student.guardian_name or "",
        student.guardian_phone or "",
        student.address or "",
        _STATUS_ZH.get(student.status, student.status),
        student.left_on.isoformat() if student.left_on else "",
    ]


def roster_rows(school: School, status: str) -> Iterator[list[object]]:
    """The school's students in class order, escaped, a thousand at a time."""
    stmt = (
        select(Student)
        .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
        .options(contains_eager(Student.school_class))
        .where(Student.school_id == school.id)
        .order_by(
            SchoolClass.grade.is_(None),
            SchoolClass.grade,
            SchoolClass.number,
            Student.name,
            Student.id,
        )
    )
    if status == "enrolled":
        stmt = stmt.where(Student.status == "enrolled")
    elif status == "left":
        stmt = stmt.where(Student.status.in_(LEFT_STATUSES))
    for student in db.session.scalars(stmt.execution_options(yield_per=_CHUNK)):
        yield [escape_cell(value) for value in _row(student)]


def to_xlsx(rows: Iterator[list[object]], title: str) -> tuple[bytes, int]:
    """(the workbook, number of students); number columns are text cells."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31] or "学生名册")
    text_columns = [i for i, h in enumerate(EXPORT_HEADERS) if h in _TEXT_HEADERS]
    for index, header in enumerate(EXPORT_HEADERS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, len(header) * 2 + 2)
    bold = Font(bold=True)
    header_cells = []
    for header in EXPORT_HEADERS:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    count = 0
    for row in rows:
        cells: list[object] = list(row)
        for index in text_columns:
            if cells[index]:
                cell = WriteOnlyCell(sheet, value=str(cells[index]))
                cell.number_format = "@"
                cell.data_type = "s"
                cells[index] = cell
        for index, value in enumerate(cells):
            if isinstance(value, str):
                # openpyxl would store a text that starts with "=" as a formula: escape_cell has
                # already prefixed those; data_type "s" makes sure nothing is evaluated.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells[index] = cell
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), count


def to_csv(rows: Iterator[list[object]]) -> tuple[bytes, int]:
    """(UTF-8 with BOM, so Excel in China opens it with the right characters; the count)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count


def export_roster(school: School, *, fmt: str, status: str) -> tuple[bytes, int]:
    """The roster file; the audit log records who exported which school's roster, and how."""
    rows = roster_rows(school, status)
    data, count = to_xlsx(rows, school.name) if fmt == "xlsx" else to_csv(rows)
    record_event(
        "export",
        "school",
        school.id,
        changes={"what": "roster", "format": fmt, "status": status, "rows": count},
        school_id=school.id,
        district_id=school.district_id,
    )
    return data, count
