"""Roster pages: what each role sees, masking and audited reveal, the add and edit forms."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from app.audit.models import AuditEvent
from app.registry.models import Student
from tests.conftest import csrf_token, login, post_form
from tests.registry import roster_student, valid_id


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def as_user(app, world):
    """A fresh client logged in as one of the world's users, English UI."""

    def do(key: str):
        client = app.test_client()
        assert login(client, world.user(key)).status_code == 302
        client.set_cookie("aixin_lang", "en")  # assertions read the English messages
        return client

    return do


@pytest.fixture
def pupils(db, world):
    """Three students of school A1 (one boarding, one left-behind) and one of A2."""
    a1 = [
        roster_student(world.school_a1, world.class_a1, seq=1, name="张小明", boarding=True),
        roster_student(
            world.school_a1, world.class_a1, seq=2, name="李小红", gender="F", left_behind=True
        ),  # fmt: skip
        roster_student(world.school_a1, None, seq=3, name="王小刚"),
    ]
    other = roster_student(world.school_a2, world.class_a2, seq=4, name="赵小花", gender="F")
    db.session.commit()
    return {"a1": a1, "a2": other}


def audit_count(db, action: str | None = None) -> int:
    db.session.commit()
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.session.scalar(stmt)


# ---------------------------------------------------------------- who sees the roster


def test_the_officer_sees_the_roster_with_numbers_masked(as_user, world, pupils):
    client = as_user("officer_a1")
    page = text(client.get(f"/students/school/{world.school_a1.id}"))
    for name in ("张小明", "李小红", "王小刚"):
        assert name in page
    assert "赵小花" not in page  # another school's student
    first = pupils["a1"][0]
    assert first.id_number not in page and first.student_no not in page
    assert f"G{first.id_number[:5]}" in page  # the masked 学籍号: region and last four
    assert first.student_no[-4:] in page
    assert 'data-testid="add-student"' in page and 'data-testid="export-form"' in page
    assert "Boarding" in page and "Left-behind child" in page


def test_a_teacher_reads_the_roster_masked_and_cannot_change_or_reveal(as_user, world, pupils):
    client = as_user("teacher_a1")
    first = pupils["a1"][0]
    page = text(client.get(f"/students/school/{world.school_a1.id}"))
    assert "张小明" in page and first.student_no not in page
    assert 'data-testid="add-student"' not in page and "export-form" not in page
    detail = text(client.get(f"/students/{first.id}"))
    assert "张小明" in detail
    for secret in (first.id_number, first.student_no, first.guardian_phone, first.address):
        assert secret not in detail
    assert first.guardian_phone[-4:] in detail  # masked 138****0001
    assert 'data-testid="reveal-' not in detail and 'data-testid="student-actions"' not in detail
    for path in (f"/students/{first.id}/edit", f"/students/school/{world.school_a1.id}/new"):
        assert client.get(path).status_code == 403
    response = post_form(client, f"/students/{first.id}/reveal", {"field": "id_number"})
    assert response.status_code == 403


@pytest.mark.parametrize("key", ["clerk_a1", "lead_a"])
def test_clerks_and_alliance_leads_have_no_roster_pages(as_user, world, pupils, key):
    client = as_user(key)
    student = pupils["a1"][0]
    for path in ("/students/", f"/students/school/{world.school_a1.id}", f"/students/{student.id}"):
        assert client.get(path).status_code == 403, path
    nav = text(client.get("/dashboard"))
    assert 'href="/students/"' not in nav


@pytest.mark.parametrize("key", ["officer_a2", "teacher_b1", "admin_other", "officer_x"])
def test_another_schools_roster_and_students_are_not_found(as_user, world, pupils, key):
    client = as_user(key)
    student = pupils["a1"][0]
    assert client.get(f"/students/school/{world.school_a1.id}").status_code == 404
    assert client.get(f"/students/{student.id}").status_code == 404
    assert client.get(f"/students/{student.id}/photo").status_code == 404


def test_school_users_go_to_their_roster_and_the_admin_picks_a_school(as_user, world, pupils):
    response = as_user("teacher_a1").get("/students/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/students/school/{world.school_a1.id}")
    page = text(as_user("admin").get("/students/"))
    for name in ("甲一小学", "甲二小学", "乙一小学"):
        assert name in page
    assert "外区小学" not in page
    row = page.split("甲一小学</a>")[1].split("</tr>")[0]
    assert re.search(r">\s*3\s*<", row)  # three enrolled students
    assert "张小明" in text(as_user("admin").get(f"/students/school/{world.school_a1.id}"))


def test_the_roster_page_sends_no_store(as_user, world, pupils):
    response = as_user("officer_a1").get(f"/students/{pupils['a1'][0].id}")
    assert response.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- filters and paging


def test_filters_by_class_name_number_status_and_care_group(as_user, world, pupils, db):
    from app.registry import operations

    client = as_user("officer_a1")
    base = f"/students/school/{world.school_a1.id}"
    page = text(client.get(f"{base}?class_id={world.class_a1.id}"))
    assert "张小明" in page and "李小红" in page and "王小刚" not in page
    page = text(client.get(f"{base}?q=小红"))
    assert "李小红" in page and "张小明" not in page
    number = pupils["a1"][2].student_no
    page = text(client.get(f"{base}?q={number}"))
    assert "王小刚" in page and "张小明" not in page
    page = text(client.get(f"{base}?q={number[:8]}"))  # numbers match whole only
    assert "王小刚" not in page
    page = text(client.get(f"{base}?flag=left_behind"))
    assert "李小红" in page and "张小明" not in page
    operations.leave_school(db.session.get(Student, pupils["a1"][0].id), status="graduated")
    db.session.commit()
    page = text(client.get(base))
    assert "张小明" not in page
    page = text(client.get(f"{base}?status=left"))
    assert "张小明" in page and "Graduated" in page and "李小红" not in page
    assert client.get(f"{base}?class_id=abc").status_code == 200  # refused filter, no 500
    assert "not valid" in text(client.get(f"{base}?status=bogus"))


def test_a_teacher_cannot_look_up_students_by_number(as_user, world, pupils):
    number = pupils["a1"][2].student_no
    page = text(as_user("teacher_a1").get(f"/students/school/{world.school_a1.id}?q={number}"))
    assert "王小刚" not in page


def test_the_roster_is_paginated_without_a_query_per_student(as_user, world, db, app):
    for seq in range(1, 121):
        roster_student(world.school_a1, world.class_a1, seq=seq, born=date(2016, 1, 1 + seq % 28))
    db.session.commit()
    client = as_user("officer_a1")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    url = f"/students/school/{world.school_a1.id}"
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        first = text(client.get(url))
        first_count = len(statements)
        statements.clear()
        client.get(f"{url}?page=3")
        third_count = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert first.count('data-testid="student-') == 50
    assert "Page 1 of 3" in first
    assert first_count == third_count and first_count < 20


# ---------------------------------------------------------------- reveal


def test_an_officer_reveals_a_number_once_and_it_is_audited(as_user, world, pupils, db):
    client = as_user("officer_a1")
    student = pupils["a1"][0]
    before = audit_count(db, "reveal")
    page = text(client.get(f"/students/{student.id}"))
    assert student.id_number not in page and 'data-testid="reveal-id_number"' in page
    response = post_form(client, f"/students/{student.id}/reveal", {"field": "id_number"})
    assert response.status_code == 200
    assert f'data-testid="revealed-id_number">{student.id_number}<' in text(response)
    assert audit_count(db, "reveal") == before + 1
    event_row = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "reveal").order_by(AuditEvent.id.desc())
    ).first()
    assert event_row.object_type == "student" and event_row.object_id == student.id
    assert event_row.changes == {"field": "id_number"}
    assert event_row.actor_id == world.user("officer_a1").id
    assert event_row.school_id == world.school_a1.id
    # The next visit shows it masked again.
    assert student.id_number not in text(client.get(f"/students/{student.id}"))


def test_reveal_answers_json_to_the_page_script(as_user, pupils, db):
    client = as_user("admin")
    student = pupils["a1"][1]
    token = csrf_token(client, f"/students/{student.id}")
    response = client.post(
        f"/students/{student.id}/reveal",
        data={"field": "guardian_phone", "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert response.get_json() == {"field": "guardian_phone", "value": student.guardian_phone}
    assert audit_count(db, "reveal") == 1


def test_reveal_refuses_other_fields_and_other_schools(as_user, world, pupils, db):
    client = as_user("officer_a1")
    student = pupils["a1"][0]
    assert post_form(client, f"/students/{student.id}/reveal", {"field": "name"}).status_code == 400
    other = pupils["a2"]
    assert (
        post_form(client, f"/students/{other.id}/reveal", {"field": "id_number"}).status_code == 404
    )
    assert audit_count(db, "reveal") == 0


# ---------------------------------------------------------------- add and edit


def _form(world, **over) -> dict:
    born = date(2016, 5, 20)
    number = valid_id(born, 77, "F")
    data = {
        "name": "陈小雨",
        "gender": "",
        "class_id": str(world.class_a1.id),
        "student_no": "G" + number,
        "id_number": number,
        "birth_date": "",
        "ethnicity": "汉族",
        "guardian_name": "陈大山",
        "guardian_phone": "13912345678",
        "address": "郑州市二七区幸福路8号",
        "migrant": "y",
    }
    data.update(over)
    return data


def test_an_officer_adds_a_student_and_gender_and_birth_come_from_the_id(as_user, world, db):
    client = as_user("officer_a1")
    path = f"/students/school/{world.school_a1.id}/new"
    response = post_form(client, path, _form(world), page=path)
    assert response.status_code == 302, text(response)
    student = db.session.scalars(select(Student).where(Student.name == "陈小雨")).one()
    assert response.headers["Location"].endswith(f"/students/{student.id}")
    assert student.gender == "F" and student.birth_date == date(2016, 5, 20)
    assert student.migrant and not student.boarding and student.class_id == world.class_a1.id
    assert student.school_id == world.school_a1.id and student.status == "enrolled"


BAD = [
    ("name", {"name": ""}, "This field is required."),
    ("id_number", {"id_number": "410103201605200771"}, "check digit is wrong"),
    ("id_number", {"id_number": "41010320160520"}, "18-character ID number"),
    ("id_number", {"id_number": "4.10103E+17"}, "turned into a number by Excel"),
    ("student_no", {"student_no": "X123"}, "national student number"),
    ("guardian_phone", {"guardian_phone": "12345"}, "mobile number"),
    ("gender", {"id_number": "", "student_no": "L12345678"}, "Choose the gender"),
    ("birth_date", {"birth_date": "1985-01-01"}, "real birth date"),
    ("class_id", {"class_id": "999999"}, "Not a valid choice"),
]


@pytest.mark.parametrize(
    ("field", "change", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_a_refused_field_is_shown_on_the_form_with_422(as_user, world, db, field, change, message):
    client = as_user("officer_a1")
    path = f"/students/school/{world.school_a1.id}/new"
    response = post_form(client, path, _form(world, **change), page=path)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    # The message sits under its own field.
    block = page.split(f'id="{field}"')[1].split("</div>")[0:3]
    assert any(message in part for part in block) or message in page.split(f'id="{field}"')[1][:800]
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_numbers_already_on_a_roster_are_refused_on_their_field(as_user, world, pupils, db):
    client = as_user("officer_a1")
    path = f"/students/school/{world.school_a1.id}/new"
    taken = pupils["a2"]  # another school's student: the numbers are unique everywhere
    response = post_form(client, path, _form(world, student_no=taken.student_no), page=path)
    assert response.status_code == 422 and "already on a roster" in text(response)
    response = post_form(
        client, path, _form(world, id_number=taken.id_number, student_no=""), page=path
    )
    assert response.status_code == 422 and "ID number is already on a roster" in text(response)


def test_the_edit_form_never_shows_full_numbers_and_empty_keeps_them(as_user, world, pupils, db):
    client = as_user("officer_a1")
    student = pupils["a1"][0]
    path = f"/students/{student.id}/edit"
    page = text(client.get(path))
    for secret in (student.id_number, student.student_no, student.guardian_phone, student.address):
        assert secret not in page
    assert 'value="张小明"' in page
    data = _form(world, name="张晓明", id_number="", student_no="", guardian_phone="",
                 address="", boarding="y")  # fmt: skip
    response = post_form(client, path, data, page=path)
    assert response.status_code == 302, text(response)
    db.session.expire_all()
    edited = db.session.get(Student, student.id)
    assert edited.name == "张晓明" and edited.id_number == student.id_number
    assert edited.guardian_phone == student.guardian_phone and edited.address == student.address
    data.update(guardian_phone="13700000000", clear_address="y")
    assert post_form(client, path, data, page=path).status_code == 302
    db.session.expire_all()
    edited = db.session.get(Student, student.id)
    assert edited.guardian_phone == "13700000000" and edited.address is None


def test_a_photo_is_re_encoded_and_served_to_the_schools_staff(as_user, world, pupils, db):
    client = as_user("officer_a1")
    student = pupils["a1"][0]
    path = f"/students/{student.id}/edit"
    image = io.BytesIO()
    Image.new("RGB", (800, 1000), (200, 60, 40)).save(image, format="PNG")
    data = _form(world, name=student.name, id_number="", student_no="")
    data.update(csrf_token=csrf_token(client, path), photo=(io.BytesIO(image.getvalue()), "a.png"))
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 302, text(response)
    db.session.expire_all()
    assert db.session.get(Student, student.id).photo.endswith(".jpg")
    served = as_user("teacher_a1").get(f"/students/{student.id}/photo")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(served.data)) as stored:
        assert max(stored.size) <= 600
    data.update(csrf_token=csrf_token(client, path), photo=(io.BytesIO(b"not an image"), "b.jpg"))
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 422 and "not a photo" in text(response)
