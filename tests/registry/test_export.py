"""Roster export: aid office only, audited, formulas escaped, ID numbers as text, no aid status."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.registry.exporting import EXPORT_HEADERS, escape_cell
from tests.conftest import login, post_form
from tests.registry import roster_student


@pytest.fixture
def pupils(db, world):
    students = [
        roster_student(
            world.school_a1,
            world.class_a1,
            seq=1,
            name='=HYPERLINK("http://x")',
            address="+86 郑州",
            guardian_name="@SUM(A1)",
        ),  # fmt: skip
        roster_student(
            world.school_a1,
            None,
            seq=2,
            name="李小红",
            gender="F",
            address="-1+2",
            left_behind=True,
        ),  # fmt: skip
        roster_student(world.school_a1, None, seq=3, name="王小刚"),
    ]
    roster_student(world.school_a2, None, seq=4, name="赵小花")
    db.session.commit()
    return students


def client_as(app, world, key):
    client = app.test_client()
    assert login(client, world.user(key)).status_code == 302
    return client


def export(client, school, fmt="xlsx", status="enrolled"):
    return post_form(
        client,
        f"/students/school/{school.id}/export",
        {"format": fmt, "status": status},
        page=f"/students/school/{school.id}",
    )


def exports(db) -> list[AuditEvent]:
    db.session.commit()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")))


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+86 138", "-2", "@SUM(A1)", "\tx", "\rx"],
)
def test_cells_that_would_be_formulas_get_an_apostrophe(value):
    assert escape_cell(value) == "'" + value
    assert escape_cell("张三") == "张三" and escape_cell(5) == 5


def test_the_xlsx_export_escapes_formulas_keeps_ids_as_text_and_is_audited(app, world, pupils, db):
    client = client_as(app, world, "officer_a1")
    response = export(client, world.school_a1)
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert tuple(rows[0]) == EXPORT_HEADERS
    assert len(rows) == 4  # three enrolled students of A1, not A2's
    by_no = {row[EXPORT_HEADERS.index("全国学籍号")]: row for row in rows[1:]}
    first = by_no[pupils[0].student_no]
    assert first[0] == '\'=HYPERLINK("http://x")'
    assert first[EXPORT_HEADERS.index("监护人姓名")] == "'@SUM(A1)"
    assert first[EXPORT_HEADERS.index("家庭住址")] == "'+86 郑州"
    assert first[EXPORT_HEADERS.index("班级")] == "三年级(2)班"
    assert by_no[pupils[1].student_no][EXPORT_HEADERS.index("家庭住址")] == "'-1+2"
    assert by_no[pupils[1].student_no][EXPORT_HEADERS.index("是否留守儿童")] == "是"
    id_col = EXPORT_HEADERS.index("身份证件号") + 1
    for row in sheet.iter_rows(min_row=2):
        cell = row[id_col - 1]
        assert cell.data_type == "s" and cell.number_format == "@"
        assert len(cell.value) == 18
    # No formula cell anywhere in the file.
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    (event,) = exports(db)
    assert event.object_type == "school" and event.object_id == world.school_a1.id
    assert event.changes == {"what": "roster", "format": "xlsx", "status": "enrolled", "rows": 3}
    assert event.actor_id == world.user("officer_a1").id


def test_the_csv_export_is_utf8_with_bom_and_escaped(app, world, pupils, db):
    client = client_as(app, world, "admin")
    response = export(client, world.school_a1, fmt="csv", status="all")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_HEADERS and len(rows) == 4
    assert any(row[0] == '\'=HYPERLINK("http://x")' for row in rows)
    assert {row[EXPORT_HEADERS.index("身份证件号")] for row in rows[1:]} == {
        p.id_number for p in pupils
    }
    assert exports(db)[0].changes["format"] == "csv"


def test_the_export_has_no_aid_status(app, world, pupils, db):
    from app.registry.models import AidApplication

    db.session.add(
        AidApplication(
            student_id=pupils[1].id,
            school_id=world.school_a1.id,
            school_year=2026,
            status="confirmed",
            level="severe",
            categories=["dibao"],
        )
    )
    db.session.commit()
    client = client_as(app, world, "officer_a1")
    body = export(client, world.school_a1, fmt="csv").data.decode("utf-8-sig")
    for word in ("severe", "dibao", "特别困难", "最低生活保障", "困难等级", "认定"):
        assert word not in body
    assert not any("资助" in header or "困难" in header for header in EXPORT_HEADERS)


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("teacher_a1", 403),
        ("clerk_a1", 403),
        ("lead_a", 403),
        ("officer_a2", 404),
        ("admin_other", 404),
    ],  # fmt: skip
)
def test_only_the_aid_office_of_the_school_may_export(app, world, pupils, db, key, status):
    client = client_as(app, world, key)
    response = export(client, world.school_a1)
    assert response.status_code == status
    assert exports(db) == []


def test_a_get_does_not_export(app, world, pupils, db):
    client = client_as(app, world, "officer_a1")
    assert client.get(f"/students/school/{world.school_a1.id}/export").status_code == 405
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "export")) == 0  # fmt: skip
