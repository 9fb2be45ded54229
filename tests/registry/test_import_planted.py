"""A 5,000-row roster with planted errors: the dry run reports exactly those, the commit adds
every other row in one go, and the import is audited and leaves no file behind."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.registry import importing
from app.registry.models import Student
from tests.conftest import csrf_token, login
from tests.registry import (
    HEADERS,
    check_import,
    import_id_of,
    roster_row,
    roster_student,
    upload,
    xlsx_bytes,
)

ROWS = 5_000
PER_KIND = 37
TITLE = "甲一小学2026年秋季学生名册"
COL = {name: index for index, name in enumerate(HEADERS)}


@pytest.fixture
def classes(db, world):
    """Grades 1–6, classes 1–3, at school A1 (三年级(2)班 exists already)."""
    from app.org import operations as org

    for grade in range(1, 7):
        for number in range(1, 4):
            if (grade, number) != (3, 2):
                org.create_class(school=world.school_a1, grade=grade, number=number)
    db.session.commit()


def planted_file(world, db) -> tuple[bytes, set[tuple[str, int, str]]]:
    """Two sheets (the first under a title row) with PER_KIND bad rows of each kind."""
    in_school = [
        roster_student(world.school_a1, None, seq=i, id_number=roster_row(ROWS + i)[4])
        for i in range(PER_KIND)
    ]
    elsewhere = [
        roster_student(world.school_a2, None, seq=100 + i, id_number=roster_row(ROWS + 100 + i)[4])
        for i in range(PER_KIND)
    ]
    db.session.commit()

    rows = [roster_row(i, grade=1 + i % 6, number=1 + i % 3) for i in range(ROWS)]
    kinds = [
        "missing_name", "bad_id_number", "mangled_number", "duplicate_in_file",
        "already_in_school", "already_elsewhere", "unknown_class", "bad_phone", "bad_date",
        "bad_student_no", "bad_yes_no", "bad_gender",
    ]  # fmt: skip
    planted: dict[int, str] = {}
    for k, kind in enumerate(kinds):
        for j in range(PER_KIND):
            index = 100 + k * 300 + j * 7  # spread over the file, never two kinds on a row
            row = rows[index]
            planted[index] = kind
            if kind == "missing_name":
                row[COL["姓名"]] = ""
            elif kind == "bad_id_number":
                number = row[COL["身份证件号"]]
                wrong = "0" if number[-1] != "0" else "1"
                row[COL["身份证件号"]] = number[:-1] + wrong
                row[COL["全国学籍号"]] = ""
            elif kind == "mangled_number":
                row[COL["身份证件号"]] = float(row[COL["身份证件号"]][:17])  # a number cell
                row[COL["全国学籍号"]] = ""
            elif kind == "duplicate_in_file":
                source = rows[index - 50]  # an earlier valid row
                row[COL["身份证件号"]] = source[COL["身份证件号"]]
                row[COL["全国学籍号"]] = source[COL["全国学籍号"]]
            elif kind == "already_in_school":
                row[COL["身份证件号"]] = in_school[j].id_number
                row[COL["全国学籍号"]] = in_school[j].student_no
            elif kind == "already_elsewhere":
                row[COL["身份证件号"]] = elsewhere[j].id_number
                row[COL["全国学籍号"]] = elsewhere[j].student_no
            elif kind == "unknown_class":
                row[COL["班级"]] = "9班"
            elif kind == "bad_phone":
                row[COL["监护人联系电话"]] = "1234567"
            elif kind == "bad_date":
                row[COL["出生日期"]] = "2015-13-45"
            elif kind == "bad_student_no":
                row[COL["全国学籍号"]] = "G123"
            elif kind == "bad_yes_no":
                row[COL["是否住校"]] = "也许"
            elif kind == "bad_gender":
                row[COL["性别"]] = "未知"
    assert len(planted) == PER_KIND * len(kinds)
    for index in planted:
        for earlier in range(index - 50, index - 49):
            assert earlier not in planted  # duplicates copy a valid row
    split = 2_600
    first = [[TITLE], HEADERS, *rows[:split]]  # a title row above the header
    second = [HEADERS, *rows[split:]]
    expected = set()
    for index, kind in planted.items():
        if index < split:
            expected.add(("一至三年级", index + 3, kind))
        else:
            expected.add(("四至六年级", index - split + 2, kind))
    return xlsx_bytes({"一至三年级": first, "四至六年级": second}), expected


def test_the_dry_run_reports_exactly_the_planted_errors_and_the_commit_adds_the_rest(
    app, world, db, classes
):
    data, expected = planted_file(world, db)
    client = app.test_client()
    login(client, world.user("officer_a1"))
    started = time.monotonic()
    response = upload(client, world.school_a1, "名册.xlsx", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    import_id = import_id_of(response)
    job = importing.load_job(import_id)
    assert [s["header_row"] for s in job["sheets"]] == [2, 1]
    assert {h["label"]: h["suggested"] for h in job["headers"]} == {
        "姓名": "name", "性别": "gender", "出生日期": "birth_date", "民族": "ethnicity",
        "身份证件号": "id_number", "全国学籍号": "student_no", "年级": "grade",
        "班级": "class_name", "是否住校": "boarding", "是否留守儿童": "left_behind",
        "监护人姓名": "guardian_name", "监护人联系电话": "guardian_phone", "家庭住址": "address",
    }  # fmt: skip

    response = check_import(client, import_id)
    assert response.status_code == 302
    report = importing.load_job(import_id)["report"]
    found = {(p["sheet"], p["row"], p["kind"]) for p in report["problem_list"]}
    assert found == expected
    assert report["rows"] == ROWS
    assert report["problem_rows"] == len(expected)
    assert report["valid"] == ROWS - len(expected)
    assert report["by_kind"] == {kind: PER_KIND for _s, _r, kind in expected}
    assert db.session.scalar(select(func.count()).select_from(Student)) == 2 * PER_KIND

    page = client.get(f"/students/imports/{import_id}").get_data(as_text=True)
    assert 'data-testid="problems"' in page and "4,556" in page

    token = csrf_token(client, f"/students/imports/{import_id}")
    response = client.post(f"/students/imports/{import_id}/commit", data={"csrf_token": token})
    assert response.status_code == 302
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"a 5,000-row import took {elapsed:.1f} s"
    db.session.expire_all()
    in_a1 = db.session.scalar(
        select(func.count()).select_from(Student).where(Student.school_id == world.school_a1.id)
    )
    assert in_a1 == PER_KIND + ROWS - len(expected)
    # A row is stored as cleaned: gender from 性别, class from 年级 + 班级, yes/no as booleans.
    row = roster_row(1, grade=2, number=2)
    student = db.session.scalars(select(Student).where(Student.id_number == row[4])).one()
    assert student.name == row[0] and student.gender == "M" and student.student_no == row[5]
    assert student.school_class.grade == 2 and student.school_class.number == 2
    assert student.birth_date == date.fromisoformat(row[2]) and student.boarding is False
    assert student.guardian_phone == row[11] and student.status == "enrolled"
    # Audited once, with the count; the uploaded file is gone.
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "import")).one()
    assert event.changes["created"] == ROWS - len(expected)
    assert event.changes["skipped"] == len(expected)
    assert event.school_id == world.school_a1.id and event.actor_id == world.user("officer_a1").id
    assert importing.load_job(import_id) is None
    assert importing.job_dir(import_id).exists() is False
