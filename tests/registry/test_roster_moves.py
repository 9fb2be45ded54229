"""Changing class, moving to another school and leaving: the record follows, history stays."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.registry.models import Student, StudentMove
from tests.conftest import login, post_form
from tests.registry import roster_student


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def as_user(app, world):
    def do(key: str):
        client = app.test_client()
        assert login(client, world.user(key)).status_code == 302
        client.set_cookie("aixin_lang", "en")
        return client

    return do


@pytest.fixture
def pupil(db, world):
    student = roster_student(world.school_a1, world.class_a1, seq=11, name="孙小军")
    db.session.commit()
    return student


def moves(db, student_id: int) -> list[StudentMove]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(StudentMove).where(StudentMove.student_id == student_id).order_by(StudentMove.id)
        )
    )


def test_changing_class_keeps_a_history_row(as_user, world, pupil, db, make_class):
    new_class = make_class(world.school_a1, grade=4, number=2)
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/class"
    assert "Grade 3 Class 2" in text(client.get(path))
    response = post_form(client, path, {"class_id": str(new_class.id)}, page=path)
    assert response.status_code == 302
    (move,) = moves(db, pupil.id)
    assert (move.from_class_id, move.to_class_id) == (world.class_a1.id, new_class.id)
    assert move.created_by_id == world.user("officer_a1").id
    page = text(client.get(f"/students/{pupil.id}"))
    assert "Class changed from Grade 3 Class 2 to Grade 4 Class 2" in page


def test_a_class_of_another_school_is_refused(as_user, world, pupil, db):
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/class"
    response = post_form(client, path, {"class_id": str(world.class_a2.id)}, page=path)
    assert response.status_code == 422
    assert moves(db, pupil.id) == []


def test_an_officer_moves_a_student_out_of_their_school(as_user, world, pupil, db):
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/move"
    page = text(client.get(path))
    assert "甲二小学" in page and "乙一小学" in page
    assert "外区小学" not in page and f'value="{world.school_a1.id}"' not in page
    response = post_form(
        client,
        path,
        {"to_school_id": str(world.school_a2.id), "moved_on": "2026-09-01", "reason": "随父母搬家"},
        page=path,
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/students/school/{world.school_a1.id}")
    db.session.expire_all()
    student = db.session.get(Student, pupil.id)
    assert student.school_id == world.school_a2.id and student.class_id is None
    assert student.status == "enrolled"
    # The record has left the officer's scope, and arrived with its history at the new school.
    assert client.get(f"/students/{pupil.id}").status_code == 404
    assert "孙小军" not in text(client.get(f"/students/school/{world.school_a1.id}"))
    other = as_user("officer_a2")
    page = text(other.get(f"/students/{pupil.id}"))
    assert "Moved from 甲一小学 to 甲二小学" in page and "随父母搬家" in page
    (move,) = moves(db, pupil.id)
    assert move.moved_on == date(2026, 9, 1) and move.from_class_id == world.class_a1.id


def test_a_move_to_a_school_outside_the_district_is_refused(as_user, world, pupil, db):
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/move"
    response = post_form(client, path, {"to_school_id": str(world.school_x.id)}, page=path)
    assert response.status_code == 422
    assert "same district" in text(response)
    db.session.expire_all()
    assert db.session.get(Student, pupil.id).school_id == world.school_a1.id


def test_the_operation_itself_refuses_another_district(world, pupil, db):
    from app.common import ValidationFailed
    from app.registry import operations

    with pytest.raises(ValidationFailed) as refused:
        operations.move_student(pupil, to_school=world.school_x, to_class_id=None)
    assert refused.value.field == "to_school_id"


def test_a_district_admin_moves_a_student_and_keeps_them_in_view(as_user, world, pupil, db):
    client = as_user("admin")
    path = f"/students/{pupil.id}/move"
    response = post_form(client, path, {"to_school_id": str(world.school_b1.id)}, page=path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/students/{pupil.id}")
    assert "Moved from 甲一小学 to 乙一小学" in text(client.get(f"/students/{pupil.id}"))


def test_leaving_closes_the_record_and_keeps_it(as_user, world, pupil, db):
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/leave"
    response = post_form(
        client, path, {"status": "graduated", "left_on": "2026-07-01", "reason": ""}, page=path
    )
    assert response.status_code == 302
    db.session.expire_all()
    student = db.session.get(Student, pupil.id)
    assert student.status == "graduated" and student.left_on == date(2026, 7, 1)
    (move,) = moves(db, pupil.id)
    assert move.status_after == "graduated" and move.to_school_id is None
    page = text(client.get(f"/students/{pupil.id}"))
    assert "Graduated from 甲一小学" in page and 'data-testid="student-actions"' not in page
    # A closed record can no longer be changed.
    for action in ("edit", "class", "move", "leave"):
        response = client.get(f"/students/{pupil.id}/{action}")
        assert response.status_code == 302, action
    response = post_form(client, path, {"status": "left"}, page=f"/students/{pupil.id}")
    assert response.status_code == 302
    assert len(moves(db, pupil.id)) == 1


def test_a_date_in_the_future_is_refused(as_user, world, pupil, db):
    client = as_user("officer_a1")
    path = f"/students/{pupil.id}/leave"
    response = post_form(client, path, {"status": "left", "left_on": "2099-01-01"}, page=path)
    assert response.status_code == 422
    assert moves(db, pupil.id) == []


@pytest.mark.parametrize("action", ["class", "move", "leave"])
def test_teachers_cannot_move_students(as_user, pupil, action, db):
    client = as_user("teacher_a1")
    assert client.get(f"/students/{pupil.id}/{action}").status_code == 403
    response = post_form(client, f"/students/{pupil.id}/{action}", {"status": "left"})
    assert response.status_code == 403
    assert moves(db, pupil.id) == []
