"""GET and POST /api/v1/schools/{sid}/students (API-v1.md): shape, scope, class names, 422s."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.registry.models import Student
from tests.registry import roster_student, valid_id

FIELDS = {"id", "name", "class_name", "card_code", "balance"}


@pytest.fixture
def pupils(db, world):
    students = [
        roster_student(world.school_a1, world.class_a1, seq=1, name="张小明"),
        roster_student(world.school_a1, None, seq=2, name="李小红", gender="F"),
    ]
    roster_student(world.school_a2, world.class_a2, seq=3, name="赵小花")
    db.session.commit()
    return students


def url(school) -> str:
    return f"/api/v1/schools/{school.id}/students"


def test_the_list_has_exactly_the_fields_of_api_v1(client, api_token, world, pupils):
    response = client.get(url(world.school_a1), headers=api_token(world.user("officer_a1")))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2
    by_name = {item["name"]: item for item in body["items"]}
    assert set(by_name) == {"张小明", "李小红"}
    for item in body["items"]:
        assert set(item) == FIELDS  # never aid status, never ID numbers or phones
        assert item["card_code"] is None  # added through the roster: no card printed yet
    assert by_name["张小明"]["class_name"] == "三年级(2)班"
    assert by_name["李小红"]["class_name"] is None
    assert by_name["张小明"]["balance"] in (0, None)


def test_the_class_name_stays_chinese_for_an_english_user(client, api_token, world, pupils, db):
    user = world.user("teacher_a1")
    user.locale = "en"
    db.session.commit()
    body = client.get(url(world.school_a1), headers=api_token(user)).get_json()
    assert "三年级(2)班" in {item["class_name"] for item in body["items"]}


def test_no_aid_field_appears_even_for_a_certified_student(client, api_token, world, pupils, db):
    from app.registry.models import AidApplication

    db.session.add(
        AidApplication(
            student_id=pupils[0].id,
            school_id=world.school_a1.id,
            class_id=world.class_a1.id,
            school_year=2026,
            status="confirmed",
            level="severe",
            categories=["dibao"],
        )
    )
    db.session.commit()
    response = client.get(url(world.school_a1), headers=api_token(world.user("teacher_a1")))
    raw = response.get_data(as_text=True)
    for word in ("severe", "dibao", "level", "aid", "confirmed", "categor"):
        assert word not in raw


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("officer_a1", 200),
        ("teacher_a1", 200),
        ("admin", 200),
        ("clerk_a1", 403),
        ("lead_a", 403),
        ("officer_a2", 404),
        ("teacher_b1", 404),
        ("admin_other", 404),
    ],
)
def test_who_may_list_a_schools_students(client, api_token, world, pupils, key, status):
    response = client.get(url(world.school_a1), headers=api_token(world.user(key)))
    assert response.status_code == status
    if status != 200:
        assert "张小明" not in response.get_data(as_text=True)


def test_paging_and_the_left_students(client, api_token, world, pupils, db):
    from app.registry import operations

    headers = api_token(world.user("officer_a1"))
    body = client.get(url(world.school_a1) + "?per_page=1&page=2", headers=headers).get_json()
    assert body["total"] == 2 and len(body["items"]) == 1
    operations.leave_school(db.session.get(Student, pupils[0].id), status="graduated")
    db.session.commit()
    names = {
        i["name"] for i in client.get(url(world.school_a1), headers=headers).get_json()["items"]
    }
    assert names == {"李小红"}
    body = client.get(url(world.school_a1) + "?status=left", headers=headers).get_json()
    assert [i["name"] for i in body["items"]] == ["张小明"]
    assert client.get(url(world.school_a1) + "?status=x", headers=headers).status_code == 422
    assert client.get(url(world.school_a1) + "?per_page=501", headers=headers).status_code == 422


# ---------------------------------------------------------------- POST


@pytest.mark.parametrize(
    "class_name", ["三年级(2)班", "三年级（2）班", "三年级2班", "3年级2班", "3-2"]
)
def test_the_minimum_body_adds_a_student_in_the_named_class(
    client, api_token, world, db, class_name
):
    headers = api_token(world.user("officer_a1"))
    response = client.post(
        url(world.school_a1), json={"name": " 周小宇 ", "class_name": class_name}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == FIELDS
    assert body["name"] == "周小宇" and body["class_name"] == "三年级(2)班"
    student = db.session.get(Student, body["id"])
    from app.counter.models import Card

    card = db.session.scalars(select(Card).where(Card.student_id == student.id)).one()
    assert body["card_code"] == card.code and card.status == "active"  # a new card at once
    assert student.class_id == world.class_a1.id and student.school_id == world.school_a1.id
    assert student.gender is None  # not known yet: the API minimum has no gender


def test_gender_comes_from_a_g_student_number_or_the_id_number(client, api_token, world, db):
    headers = api_token(world.user("admin"))
    number = valid_id(__import__("datetime").date(2016, 2, 2), 5, "F")
    response = client.post(
        url(world.school_a1),
        json={"name": "吴小雪", "class_name": "三年级(2)班", "student_no": "G" + number},
        headers=headers,
    )
    assert response.status_code == 201
    student = db.session.get(Student, response.get_json()["id"])
    assert student.gender == "F" and student.student_no == "G" + number
    assert student.id_number is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "甲", "class_name": "五年级(9)班"}, "class_name"),
        ({"name": "甲", "class_name": "not a class"}, "class_name"),
        ({"name": "甲", "class_name": "四年级(1)班"}, "class_name"),  # a class of school A2
        ({"name": "", "class_name": "3-2"}, "name"),
        ({"name": "甲" * 51, "class_name": "3-2"}, "name"),
        ({"class_name": "3-2"}, "name"),
        ({"name": "甲"}, "class_name"),
        ({"name": "甲", "class_name": "3-2", "student_no": "G123"}, "student_no"),
        ({"name": "甲", "class_name": "3-2", "gender": "X"}, "gender"),
        ({"name": "甲", "class_name": "3-2", "id_number": "410103201602020050"}, "id_number"),
        ({"name": "甲", "class_name": "3-2", "level": "severe"}, "level"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(client, api_token, world, db, body, field):
    response = client.post(
        url(world.school_a1), json=body, headers=api_token(world.user("officer_a1"))
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_a_number_already_on_a_roster_is_a_422(client, api_token, world, pupils, db):
    response = client.post(
        url(world.school_a1),
        json={"name": "甲", "class_name": "3-2", "student_no": pupils[0].student_no},
        headers=api_token(world.user("officer_a1")),
    )
    assert response.status_code == 422
    assert "student_no" in response.get_json()["error"]["fields"]


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
def test_who_may_add_students(client, api_token, world, db, key, status):
    response = client.post(
        url(world.school_a1),
        json={"name": "甲", "class_name": "3-2"},
        headers=api_token(world.user(key)),
    )
    assert response.status_code == status
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_a_malformed_body_is_a_400(client, api_token, world):
    headers = {**api_token(world.user("officer_a1")), "Content-Type": "application/json"}
    response = client.post(url(world.school_a1), data="{not json", headers=headers)
    assert response.status_code == 400


def test_the_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    path = spec["paths"]["/api/v1/schools/{sid}/students"]
    assert set(path) >= {"get", "post"}
