"""Roster files as they come: refused when unsafe or unreadable, read when merely untidy
(GBK CSV, title rows, merged headers, one sheet per class), and never half-imported."""

from __future__ import annotations

import io
import zipfile

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


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def officer(app, world):
    client = app.test_client()
    assert login(client, world.user("officer_a1")).status_code == 302
    client.set_cookie("aixin_lang", "en")
    return client


def students(db) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(Student))


def commit(client, import_id: str):
    token = csrf_token(client, f"/students/imports/{import_id}")
    return client.post(f"/students/imports/{import_id}/commit", data={"csrf_token": token})


def leftover_jobs(app) -> list:
    with app.app_context():
        return list(importing.import_root().iterdir())


@pytest.fixture(autouse=True)
def _no_jobs_before_or_after(app):
    """Uploads live in the instance folder, which the tests share: start and end empty."""
    import shutil

    with app.app_context():
        shutil.rmtree(importing.import_root(), ignore_errors=True)
    yield
    with app.app_context():
        shutil.rmtree(importing.import_root(), ignore_errors=True)


# ---------------------------------------------------------------- refused files


def test_a_file_that_is_not_a_zip_is_refused(officer, world, app):
    response = upload(officer, world.school_a1, "roster.xlsx", b"this is not excel at all" * 100)
    assert response.status_code == 422
    assert "not a real .xlsx workbook" in text(response)
    assert leftover_jobs(app) == []


def test_an_old_xls_file_gets_a_helpful_message(officer, world):
    head = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    response = upload(officer, world.school_a1, "roster.xls", head)
    assert response.status_code == 422 and "save it as .xlsx" in text(response)


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(officer, world, app, monkeypatch):
    import openpyxl

    def never(*args, **kwargs):
        raise AssertionError("openpyxl must not open a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"0" * (1024 * 1024)
            for _ in range(210):  # 210 MB of zeros: a few hundred KB compressed
                member.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 2 * 1024 * 1024
    response = upload(officer, world.school_a1, "roster.xlsx", data)
    assert response.status_code == 422
    assert "unpack to more than 200 MB" in text(response)
    assert leftover_jobs(app) == []


def test_a_zip_with_thousands_of_parts_is_refused(officer, world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(1_100):
            archive.writestr(f"xl/parts/{i}.xml", "")
    response = upload(officer, world.school_a1, "roster.xlsx", buffer.getvalue())
    assert response.status_code == 422 and "too many parts" in text(response)


def test_a_zip_that_holds_no_workbook_is_refused(officer, world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    response = upload(officer, world.school_a1, "roster.xlsx", buffer.getvalue())
    assert response.status_code == 422 and "not a real .xlsx" in text(response)


def test_a_30_mb_file_is_refused_with_a_clear_message(officer, world, app):
    data = b"PK\x03\x04" + b"x" * (30 * 1024 * 1024)
    response = upload(officer, world.school_a1, "big.xlsx", data)
    assert response.status_code == 413
    assert "larger than 20 MB" in text(response)
    assert leftover_jobs(app) == []


def test_a_file_without_any_header_row_is_refused(officer, world):
    data = xlsx_bytes({"Sheet1": [["hello", "world"], [1, 2], [3, 4]]})
    response = upload(officer, world.school_a1, "roster.xlsx", data)
    assert response.status_code == 422 and "No header row was found" in text(response)


def test_other_file_types_are_refused(officer, world):
    response = upload(officer, world.school_a1, "photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    assert response.status_code == 422 and "Choose an Excel workbook" in text(response)


def test_the_upload_needs_its_csrf_token(officer, world):
    response = officer.post(
        f"/students/school/{world.school_a1.id}/import",
        data={"file": (io.BytesIO(b"x"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


# ---------------------------------------------------------------- untidy but readable


def test_a_gbk_csv_from_excel_is_read(officer, world, db, app):
    rows = [HEADERS, *(roster_row(i) for i in range(1, 21))]
    content = "\r\n".join(",".join(str(c) for c in row) for row in rows)
    data = content.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    response = upload(officer, world.school_a1, "名册.csv", data)
    assert response.status_code == 302, text(response)
    import_id = import_id_of(response)
    job = importing.load_job(import_id)
    assert job["encoding"] == "gb18030" and job["sheets"][0]["labels"] == HEADERS
    check_import(officer, import_id)
    report = importing.load_job(import_id)["report"]
    assert report["valid"] == 20 and report["problem_rows"] == 0
    assert commit(officer, import_id).status_code == 302
    assert students(db) == 20
    names = set(db.session.scalars(select(Student.name)))
    assert roster_row(5)[0] in names


def test_a_utf8_csv_with_bom_and_semicolons_is_read(officer, world, db):
    rows = [HEADERS, *(roster_row(i) for i in range(1, 6))]
    content = "\ufeff" + "\n".join(";".join(str(c) for c in row) for row in rows)
    response = upload(officer, world.school_a1, "roster.csv", content.encode("utf-8"))
    import_id = import_id_of(response)
    check_import(officer, import_id)
    assert importing.load_job(import_id)["report"]["valid"] == 5


def test_a_title_row_and_a_merged_two_row_header_are_understood(officer, world, db, make_class):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "名册"
    sheet.append(["甲一小学学生花名册（2026年秋季）"])
    sheet.merge_cells("A1:G1")
    sheet.append(["姓名", "性别", "身份证件号", "班级", "监护人", None, "备注"])
    sheet.merge_cells("E2:F2")
    sheet.append([None, None, None, None, "姓名", "联系电话", None])
    for i in range(1, 4):
        row = roster_row(i)
        sheet.append([row[0], row[1], row[4], "三年级(2)班", row[10], row[11], ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = upload(officer, world.school_a1, "merged.xlsx", buffer.getvalue())
    assert response.status_code == 302, text(response)
    import_id = import_id_of(response)
    job = importing.load_job(import_id)
    assert job["sheets"][0]["header_row"] == 2 and job["sheets"][0]["data_row"] == 4
    suggested = {h["label"]: h["suggested"] for h in job["headers"]}
    assert suggested["监护人姓名"] == "guardian_name"
    assert suggested["监护人联系电话"] == "guardian_phone"
    assert suggested["姓名"] == "name" and suggested["备注"] is None
    check_import(officer, import_id)
    assert importing.load_job(import_id)["report"]["valid"] == 3
    commit(officer, import_id)
    student = db.session.scalars(select(Student).where(Student.name == roster_row(1)[0])).one()
    assert student.guardian_name == roster_row(1)[10]
    assert student.guardian_phone == roster_row(1)[11]


def test_one_sheet_per_class_names_the_class(officer, world, db, make_class):
    other = make_class(world.school_a1, grade=4, number=1)
    header = [h for h in HEADERS if h not in ("年级", "班级")]
    keep = [i for i, h in enumerate(HEADERS) if h not in ("年级", "班级")]

    def rows(start):
        return [[roster_row(i)[k] for k in keep] for i in range(start, start + 4)]

    data = xlsx_bytes(
        {
            "填写说明": [["本表每个班级一个工作表"], ["姓名：学生姓名"]],
            "三年级(2)班": [header, *rows(1)],
            "四年级1班": [header, *rows(10)],
        }
    )
    response = upload(officer, world.school_a1, "classes.xlsx", data)
    import_id = import_id_of(response)
    job = importing.load_job(import_id)
    assert [s["skipped"] for s in job["sheets"]] == ["no_header", None, None]
    check_import(officer, import_id)
    assert importing.load_job(import_id)["report"]["valid"] == 8
    commit(officer, import_id)
    by_class = dict(
        db.session.execute(select(Student.class_id, func.count()).group_by(Student.class_id)).all()
    )
    assert by_class == {world.class_a1.id: 4, other.id: 4}


def test_a_hidden_sheet_is_not_read(officer, world, db):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "名册"
    sheet.append(HEADERS)
    sheet.append(roster_row(1))
    hidden = workbook.create_sheet("代码表")
    hidden.append(HEADERS)
    hidden.append(roster_row(2))
    hidden.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    import_id = import_id_of(upload(officer, world.school_a1, "h.xlsx", buffer.getvalue()))
    check_import(officer, import_id)
    job = importing.load_job(import_id)
    assert [s["skipped"] for s in job["sheets"]] == [None, "hidden"]
    assert job["report"]["rows"] == 1


def test_the_officer_may_change_the_suggested_mapping(officer, world, db):
    data = xlsx_bytes({"名册": [["学生", "号码", "班级", "性别"], ["张三", "", "三年级(2)班", ""]]})
    import_id = import_id_of(upload(officer, world.school_a1, "odd.xlsx", data))
    job = importing.load_job(import_id)
    assert {h["label"]: h["suggested"] for h in job["headers"]}["学生"] is None
    response = check_import(officer, import_id)
    assert response.status_code == 422 and "names" in text(response)
    response = check_import(officer, import_id, mapping={"学生": "name", "性别": "gender"})
    assert response.status_code == 302
    report = importing.load_job(import_id)["report"]
    assert report["rows"] == 1 and report["by_kind"] == {"bad_gender": 1}  # no gender, no ID


def test_the_template_is_importable_as_it_comes(officer, world, db):
    from openpyxl import load_workbook

    response = officer.get(f"/students/school/{world.school_a1.id}/import/template.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook["学生名册"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["姓名", "性别", "出生日期"] and "全国学籍号" in headers
    id_column = headers.index("身份证件号") + 1
    assert sheet.cell(row=2, column=id_column).number_format == "@"
    assert "三年级(2)班" in "".join(str(c.value) for c in workbook["填写说明"]["A"])
    row = roster_row(3)
    values = dict(zip(HEADERS, row, strict=True))
    sheet.append([values.get(h, "") for h in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    import_id = import_id_of(upload(officer, world.school_a1, "t.xlsx", buffer.getvalue()))
    check_import(officer, import_id)
    report = importing.load_job(import_id)["report"]
    assert report["valid"] == 1, report["problem_list"]


# ---------------------------------------------------------------- never half-imported


def _file(count: int, start: int = 1) -> bytes:
    return xlsx_bytes({"名册": [HEADERS, *(roster_row(i) for i in range(start, start + count))]})


def test_all_or_nothing_refuses_the_whole_file(officer, world, db, app):
    rows = [HEADERS, *(roster_row(i) for i in range(1, 40))]
    rows[20][COL_PHONE] = "123"
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", xlsx_bytes({"名册": rows})))
    check_import(officer, import_id, all_or_nothing=True)
    page = text(officer.get(f"/students/imports/{import_id}"))
    assert 'data-testid="commit"' not in page and "All or nothing" in page
    response = commit(officer, import_id)
    assert response.status_code == 409 and "Nothing was imported" in text(response)
    assert students(db) == 0
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "import")) == 0


COL_PHONE = HEADERS.index("监护人联系电话")


def test_a_student_added_since_the_check_is_left_out_or_refuses_all(officer, world, db):
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", _file(1200)))
    check_import(officer, import_id, all_or_nothing=True)
    # Someone adds the student of row 900 by hand in between.
    roster_student(world.school_a2, None, seq=1, id_number=roster_row(900)[4])
    db.session.commit()
    response = commit(officer, import_id)
    assert response.status_code == 409 and "Check the file again" in text(response)
    assert students(db) == 1  # only the hand-made one: the first 500 rows were rolled back
    check_import(officer, import_id)  # now without all or nothing
    report = importing.load_job(import_id)["report"]
    assert report["valid"] == 1199 and report["by_kind"] == {"already_elsewhere": 1}
    assert commit(officer, import_id).status_code == 302
    assert students(db) == 1200


def test_a_database_error_in_the_middle_leaves_nothing_behind(officer, world, db, monkeypatch):
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", _file(1200)))
    check_import(officer, import_id)
    real = importing._numbers_on_rosters
    calls = {"n": 0}

    def failing(column, values):
        calls["n"] += 1
        if calls["n"] == 5:  # the third batch, after two batches went in
            from sqlalchemy.exc import IntegrityError

            raise IntegrityError("INSERT", {}, Exception("simulated"))
        return real(column, values)

    monkeypatch.setattr(importing, "_numbers_on_rosters", failing)
    response = commit(officer, import_id)
    assert response.status_code == 409
    assert calls["n"] == 5
    assert students(db) == 0
    assert importing.load_job(import_id) is not None  # the officer may try again
    monkeypatch.setattr(importing, "_numbers_on_rosters", real)
    assert commit(officer, import_id).status_code == 302
    assert students(db) == 1200


def test_a_commit_needs_a_check_and_happens_once(officer, world, db):
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", _file(3)))
    response = commit(officer, import_id)
    assert response.status_code == 409 and "Check the file first" in text(response)
    check_import(officer, import_id)
    assert commit(officer, import_id).status_code == 302
    assert commit(officer, import_id).status_code == 404  # the job is gone
    assert students(db) == 3


def test_cancel_deletes_the_upload(officer, world, app):
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", _file(3)))
    assert leftover_jobs(app) != []
    token = csrf_token(officer, f"/students/imports/{import_id}")
    response = officer.post(f"/students/imports/{import_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    assert leftover_jobs(app) == []


# ---------------------------------------------------------------- who may import


def test_only_the_aid_office_of_the_school_reaches_an_import(app, officer, world, db):
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", _file(3)))
    for key, status in (("teacher_a1", 403), ("clerk_a1", 403), ("lead_a", 403),
                        ("officer_a2", 404), ("admin_other", 404), ("admin", 200)):  # fmt: skip
        client = app.test_client()
        login(client, world.user(key))
        assert client.get(f"/students/imports/{import_id}").status_code == status, key
        assert client.get(f"/students/imports/{import_id}/progress").status_code == status, key
    teacher = app.test_client()
    login(teacher, world.user("teacher_a1"))
    response = teacher.get(f"/students/school/{world.school_a1.id}/import")
    assert response.status_code == 403
    assert officer.get("/students/imports/" + "0" * 32).status_code == 404
    assert officer.get("/students/imports/../../etc").status_code == 404


def test_progress_and_the_problem_list_download(officer, world, db):
    rows = [HEADERS, roster_row(1), roster_row(2)]
    rows[2][0] = "=HYPERLINK(1)"
    rows[2][COL_PHONE] = "12"
    import_id = import_id_of(upload(officer, world.school_a1, "r.xlsx", xlsx_bytes({"名册": rows})))
    check_import(officer, import_id)
    progress = officer.get(f"/students/imports/{import_id}/progress").get_json()
    assert progress == {"phase": "check", "done": 2, "total": 2}
    response = officer.get(f"/students/imports/{import_id}/problems.csv")
    body = response.data.decode("utf-8-sig")
    assert "名册,3,监护人联系电话," in body and "HYPERLINK" not in body
