"""What an aid officer meets in an import: the dry run lists who will be added (masked), the
counts are coloured by meaning, the template's own instructions sheet is left out quietly, and
after the commit the roster opens on the students of this import."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

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

COL_ID = HEADERS.index("身份证件号")
COL_NO = HEADERS.index("全国学籍号")
COL_PHONE = HEADERS.index("监护人联系电话")


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def officer(app, world):
    client = app.test_client()
    assert login(client, world.user("officer_a1")).status_code == 302
    client.set_cookie("aixin_lang", "en")
    return client


@pytest.fixture(autouse=True)
def _no_jobs_before_or_after(app):
    import shutil

    with app.app_context():
        shutil.rmtree(importing.import_root(), ignore_errors=True)
    yield
    with app.app_context():
        shutil.rmtree(importing.import_root(), ignore_errors=True)


def _checked(client, school, rows: list[list]) -> str:
    data = xlsx_bytes({"名册": [HEADERS, *rows]})
    import_id = import_id_of(upload(client, school, "r.xlsx", data))
    assert check_import(client, import_id).status_code == 302
    return import_id


def _commit(client, import_id: str):
    token = csrf_token(client, f"/students/imports/{import_id}")
    return client.post(f"/students/imports/{import_id}/commit", data={"csrf_token": token})


def _stat_classes(page: str, testid: str) -> set[str]:
    match = re.search(r'<div class="([^"]*)" data-testid="' + testid + '"', page)
    assert match, testid
    return set(match.group(1).split())


# ---------------------------------------------------------------- the dry run page


def test_the_dry_run_lists_who_will_be_added_with_numbers_masked(officer, world, db):
    rows = [roster_row(i) for i in (1, 2, 3)]
    rows[2][COL_PHONE] = "12"  # one row with a problem: not in the list
    import_id = _checked(officer, world.school_a1, rows)
    page = text(officer.get(f"/students/imports/{import_id}"))

    listed = re.findall(r'data-testid="preview-name">([^<]+)<', page)
    assert listed == [rows[0][0], rows[1][0]]
    for row in rows[:2]:
        id_number, student_no, phone = row[COL_ID], row[COL_NO], row[COL_PHONE]
        assert id_number not in page and student_no not in page and phone not in page
        assert f"{id_number[:6]}********{id_number[-4:]}" in page  # as on the roster
        assert f"G{id_number[:6]}********{id_number[-4:]}" in page
        assert f"{phone[:3]}****{phone[-4:]}" in page
    assert page.count(">Grade 3 Class 2<") == 2  # named in the reader's language
    # The job file on disk keeps the list masked too.
    preview = importing.load_job(import_id)["report"]["preview"]
    assert [p["name"] for p in preview] == listed
    assert all("*" in p["id_number"] and "*" in p["guardian_phone"] for p in preview)


def test_the_dry_run_lists_the_first_200_rows_only(officer, world, db):
    import_id = _checked(officer, world.school_a1, [roster_row(i) for i in range(1, 206)])
    page = text(officer.get(f"/students/imports/{import_id}"))
    assert page.count('data-testid="preview-row"') == 200
    assert "The first 200 of 205 students" in page
    assert roster_row(200)[0] in page


def test_the_counts_are_coloured_by_what_they_mean(officer, world, db):
    rows = [roster_row(i) for i in (1, 2)]
    rows[1][COL_PHONE] = "12"
    page = text(officer.get(f"/students/imports/{_checked(officer, world.school_a1, rows)}"))
    rows_read = _stat_classes(page, "rows")
    assert "text-body" in rows_read and not rows_read & {"text-success", "text-danger"}
    assert "text-success" in _stat_classes(page, "valid")
    assert "text-danger" in _stat_classes(page, "problem-rows")


# ---------------------------------------------------------------- the template


def _filled_template(client, school, count: int = 3) -> bytes:
    """The downloaded template with students typed under its header, as an officer does."""
    from openpyxl import load_workbook

    response = client.get(f"/students/school/{school.id}/import/template.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook["学生名册"]
    headers = [c.value for c in sheet[1]]
    for offset in range(count):
        values = dict(zip(HEADERS, roster_row(offset + 1), strict=True))
        values["身份证件类型"] = "居民身份证"
        for column, header in enumerate(headers, start=1):
            sheet.cell(row=2 + offset, column=column, value=values.get(header))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_the_templates_instructions_sheet_is_left_out_quietly(officer, world, db):
    data = _filled_template(officer, world.school_a1)
    import_id = import_id_of(upload(officer, world.school_a1, "名册.xlsx", data))
    job = importing.load_job(import_id)
    assert [(s["title"], s["skipped"]) for s in job["sheets"]] == [
        ("学生名册", None),
        ("填写说明", "instructions"),
    ]
    page = text(officer.get(f"/students/imports/{import_id}"))
    assert 'data-testid="skipped-sheets"' not in page and "填写说明" not in page
    check_import(officer, import_id)
    report = importing.load_job(import_id)["report"]
    assert (report["rows"], report["valid"], report["problem_rows"]) == (3, 3, 0)
    assert report["per_sheet"] == {"学生名册": 3}


def test_the_instructions_are_known_by_their_first_line_even_renamed(officer, world, db):
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(_filled_template(officer, world.school_a1)))
    workbook["填写说明"].title = "说明"
    buffer = io.BytesIO()
    workbook.save(buffer)
    import_id = import_id_of(upload(officer, world.school_a1, "名册.xlsx", buffer.getvalue()))
    assert [s["skipped"] for s in importing.load_job(import_id)["sheets"]] == [
        None,
        "instructions",
    ]


def test_a_school_made_notes_sheet_is_still_reported(officer, world, db):
    data = xlsx_bytes({"名册": [HEADERS, roster_row(1)], "说明": [["本表由教务处整理"]]})
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", data))
    page = text(officer.get(f"/students/imports/{import_id}"))
    assert 'data-testid="skipped-sheets"' in page and "说明" in page


# ---------------------------------------------------------------- after the commit


def test_after_the_commit_the_roster_shows_the_students_of_this_import(officer, world, db):
    earlier = roster_student(world.school_a1, world.class_a1, seq=900, name="早先")
    db.session.commit()
    import_id = _checked(officer, world.school_a1, [roster_row(i) for i in (1, 2, 3)])
    response = _commit(officer, import_id)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.endswith(f"/students/school/{world.school_a1.id}?import={import_id}")

    db.session.expire_all()
    batches = dict(db.session.execute(select(Student.name, Student.import_batch)).all())
    assert batches == {earlier.name: None, **{roster_row(i)[0]: import_id for i in (1, 2, 3)}}

    page = text(officer.get(location))
    assert "The 3 students of this import" in page
    assert page.count('data-testid="student-') == 3 and earlier.name not in page
    assert f'name="import" value="{import_id}"' in page  # the other filters keep it
    whole = text(officer.get(f"/students/school/{world.school_a1.id}"))
    assert earlier.name in whole and 'data-testid="import-filter"' not in whole


def test_a_bad_import_filter_shows_nothing(officer, world, db):
    roster_student(world.school_a1, world.class_a1, seq=1)
    db.session.commit()
    page = text(officer.get(f"/students/school/{world.school_a1.id}?import=../../x"))
    assert 'data-testid="student-' not in page and "Some filters are not valid" in page


def test_the_import_filter_stays_inside_the_school(app, officer, world, db):
    import_id = _checked(officer, world.school_a1, [roster_row(1)])
    assert _commit(officer, import_id).status_code == 302
    other = app.test_client()
    login(other, world.user("officer_a2"))
    page = text(other.get(f"/students/school/{world.school_a2.id}?import={import_id}"))
    assert roster_row(1)[0] not in page
    assert other.get(f"/students/school/{world.school_a1.id}?import={import_id}").status_code == 404
