"""User management (/users/): who manages whom, creating, editing, disabling, passwords, tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from tests.conftest import PASSWORD, login, post_form

NEW_PASSWORD = "plum-blossom-river-7"


@pytest.fixture(autouse=True)
def _english(client):
    """Messages are checked in English (the UI defaults to Chinese)."""
    client.set_cookie("aixin_lang", "en")


def _user(db, username):
    from app.auth.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _audit(db, **where):
    from app.audit.models import AuditEvent

    stmt = select(AuditEvent).order_by(AuditEvent.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return db.session.scalars(stmt).all()


def _new_user_form(**overrides) -> dict:
    data = {
        "username": "new_person",
        "display_name": "新 老师",
        "role": "teacher",
        "alliance_id": "",
        "school_id": "",
        "phone": "0371-6688 1234",
        "password": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


def _create(client, **overrides):
    return post_form(client, "/users/new", _new_user_form(**overrides), page="/users/new")


# ---------------------------------------------------------------- who may manage


@pytest.mark.parametrize("key", ["lead_a", "teacher_a1", "clerk_a1"])
def test_leads_teachers_and_clerks_may_not_manage_users(client, world, login_as, key):
    login_as(world.user(key))
    target = world.user("teacher_a1").id
    assert client.get("/users/").status_code == 403
    assert client.get("/users/new").status_code == 403
    assert client.get(f"/users/{target}").status_code == 403
    response = post_form(client, f"/users/{target}/disable")
    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for path in ("/users/", "/users/new", f"/users/{world.user('teacher_a1').id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---------------------------------------------------------------- creating


@pytest.mark.parametrize(
    ("role", "place"),
    [
        ("district_admin", None),
        ("alliance_lead", "alliance"),
        ("school_officer", "school"),
        ("teacher", "school"),
        ("clerk", "school"),
    ],
)
def test_district_admin_creates_every_role(client, world, login_as, db, role, place):
    login_as(world.user("admin"))
    extra = {}
    if place == "alliance":
        extra["alliance_id"] = str(world.alliance_b.id)
    if place == "school":
        extra["school_id"] = str(world.school_a2.id)
    response = _create(client, role=role, username=f"New_{role}", **extra)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    user = _user(db, f"new_{role}")  # usernames are stored in lower case
    assert user is not None and user.role == role and user.active
    assert user.district_id == world.district.id
    assert user.alliance_id == (world.alliance_b.id if place == "alliance" else None)
    assert user.school_id == (world.school_a2.id if place == "school" else None)
    assert response.headers["Location"].endswith(f"/users/{user.id}")
    created = _audit(db, action="create", object_type="user", object_id=user.id)
    assert len(created) == 1
    assert created[0].actor_label == "admin1"
    assert created[0].district_id == world.district.id
    assert created[0].changes["password_hash"] == "***"
    # The new account works with its initial password.
    other = client.application.test_client()
    assert login(other, user, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("role", ["teacher", "clerk"])
def test_school_officer_creates_teachers_and_clerks_of_their_own_school(
    client, world, login_as, db, role
):
    login_as(world.user("officer_a1"))
    page = client.get("/users/new").get_data(as_text=True)
    assert 'name="school_id"' not in page  # the officer does not choose a school
    assert 'value="school_officer"' not in page and 'value="district_admin"' not in page
    # Even a forged school id of another school is ignored: the account is the officer's.
    response = _create(client, role=role, school_id=str(world.school_b1.id))
    assert response.status_code == 302
    user = _user(db, "new_person")
    assert user.role == role and user.school_id == world.school_a1.id


@pytest.mark.parametrize("role", ["school_officer", "district_admin", "alliance_lead"])
def test_school_officer_cannot_create_officers_leads_or_admins(client, world, login_as, db, role):
    login_as(world.user("officer_a1"))
    before = _count(db, _model("User"))
    response = _create(client, role=role)
    assert response.status_code == 422
    assert "new_person" not in [u.username for u in db.session.scalars(select(_model("User")))]
    assert _count(db, _model("User")) == before


def _model(name):
    from app.auth import models

    return getattr(models, name)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "too common"),
        ("12345678", "too common"),
        ("short1", "At least 8 characters"),
        ("new_person", "must not be the username"),
    ],
)
def test_weak_initial_password_is_refused_with_the_reason_and_nothing_is_written(
    client, world, login_as, db, password, reason
):
    from app.audit.models import AuditEvent

    login_as(world.user("admin"))
    users, events = _count(db, _model("User")), _count(db, AuditEvent)
    response = _create(client, school_id=str(world.school_a1.id), password=password)
    assert response.status_code == 422
    assert reason in response.get_data(as_text=True)
    assert _count(db, _model("User")) == users
    assert _user(db, "new_person") is None
    assert not _audit(db, action="create", object_type="user")[users:]
    assert _count(db, AuditEvent) == events


def test_duplicate_username_is_refused_whatever_its_case(client, world, login_as, db):
    login_as(world.user("admin"))
    before = _count(db, _model("User"))
    response = _create(client, username="Teacher_A1", school_id=str(world.school_a2.id))
    assert response.status_code == 422
    assert "already taken" in response.get_data(as_text=True)
    assert _count(db, _model("User")) == before
    assert _user(db, "teacher_a1").school_id == world.school_a1.id


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "teacher", "school_id": ""}, "Choose the user&#39;s school."),
        ({"role": "alliance_lead", "alliance_id": ""}, "Choose the alliance this lead"),
        ({"role": "teacher", "school_id": "abc"}, None),
        ({"role": "superuser"}, None),
        ({"username": "bad name!"}, None),
        ({"username": ""}, None),
        ({"display_name": "a\x07b"}, None),
        ({"phone": "call me"}, None),
        ({"password": ""}, None),
    ],
)
def test_bad_create_input_is_a_422_and_writes_nothing(
    client, world, login_as, db, overrides, message
):
    login_as(world.user("admin"))
    before = _count(db, _model("User"))
    data = {"school_id": str(world.school_a1.id), **overrides}
    response = _create(client, **data)
    assert response.status_code == 422
    if message:
        assert message in response.get_data(as_text=True)
    assert _count(db, _model("User")) == before


def test_admin_cannot_place_a_user_in_another_district(client, world, login_as, db):
    login_as(world.user("admin"))
    page = client.get("/users/new").get_data(as_text=True)
    assert re.search(r'<option selected value="teacher">', page)  # never an admin by default
    assert world.school_x.name not in page and world.school_b1.name in page
    response = _create(client, school_id=str(world.school_x.id))
    assert response.status_code == 422
    assert _user(db, "new_person") is None


# ---------------------------------------------------------------- the list


def _listed_usernames(response) -> set[str]:
    html = response.get_data(as_text=True)
    return set(re.findall(r'data-testid="username">([^<]+)</div>', html))


def test_admin_lists_every_user_of_their_district_only(client, world, login_as):
    login_as(world.user("admin"))
    response = client.get("/users/")
    assert response.status_code == 200
    names = _listed_usernames(response)
    district_1 = {k for k in world.users if not k.endswith("_x") and k != "admin_other"}
    assert names == {world.user(k).username for k in district_1}


def test_officer_lists_only_the_teachers_and_clerks_of_their_school(client, world, login_as):
    login_as(world.user("officer_a1"))
    names = _listed_usernames(client.get("/users/"))
    assert names == {"teacher_a1", "clerk_a1"}


def test_user_list_filters(client, world, login_as, db, make_user):
    from app.auth.operations import set_user_active

    make_user("teacher", school=world.school_a2, username="wang_teacher", display_name="王小明")
    set_user_active(world.user("clerk_a2"), False, editor=world.user("admin"))
    db.session.commit()
    login_as(world.user("admin"))
    assert _listed_usernames(client.get("/users/?q=小明")) == {"wang_teacher"}
    assert _listed_usernames(client.get("/users/?q=WANG_")) == {"wang_teacher"}
    assert _listed_usernames(client.get("/users/?q=%25")) == set()  # LIKE wildcards are literal
    assert _listed_usernames(client.get("/users/?role=clerk")) == {
        "clerk_a1",
        "clerk_a2",
        "clerk_b1",
    }
    by_school = _listed_usernames(client.get(f"/users/?school={world.school_a2.id}"))
    assert by_school == {"officer_a2", "teacher_a2", "clerk_a2", "wang_teacher"}
    assert _listed_usernames(client.get("/users/?status=disabled")) == {"clerk_a2"}
    active = _listed_usernames(client.get(f"/users/?status=active&school={world.school_a2.id}"))
    assert active == {"officer_a2", "teacher_a2", "wang_teacher"}


@pytest.mark.parametrize(
    "query",
    [
        "role=superuser",
        "role=school_officer",  # not a role an officer manages
        "status=maybe",
        "q=" + "x" * 101,
    ],
)
def test_bad_filters_are_a_400_not_a_500(client, world, login_as, query):
    login_as(world.user("officer_a1"))
    assert client.get(f"/users/?{query}").status_code == 400


@pytest.mark.parametrize("query", ["school=abc", "school=99999999999999999999", "school=-1"])
def test_bad_school_filter_is_a_400(client, world, login_as, query):
    login_as(world.user("admin"))
    assert client.get(f"/users/?{query}").status_code == 400


def test_other_district_school_is_not_a_filter_choice(client, world, login_as):
    login_as(world.user("admin"))
    assert client.get(f"/users/?school={world.school_x.id}").status_code == 400


@pytest.mark.parametrize("page", ["abc", "0", "-3", "99999999999999999999", "7"])
def test_odd_page_numbers_still_answer(client, world, login_as, page):
    login_as(world.user("admin"))
    assert client.get(f"/users/?page={page}").status_code == 200


def _count_queries(app, fn) -> int:
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def count(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_user_list_needs_no_query_per_user(
    client, app, world, login_as, make_user, make_alliance, make_school
):
    login_as(world.user("admin"))
    client.get("/users/")
    few = _count_queries(app, lambda: client.get("/users/"))
    # New schools and alliances: a lazy load per row would show as more queries.
    for _ in range(3):
        alliance = make_alliance(world.district)
        make_user("alliance_lead", alliance=alliance)
        school = make_school(world.district, alliance)
        make_user("teacher", school=school)
        make_user("clerk", school=school)
    many = _count_queries(app, lambda: client.get("/users/"))
    assert many == few


# ---------------------------------------------------------------- one user


def test_detail_shows_active_tokens_and_head_teacher_classes(
    client, world, login_as, api_token, db
):
    from app.auth.operations import create_token, revoke_token

    teacher = world.user("teacher_a1")
    api_token(teacher)
    old, _secret = create_token(teacher, "old scanner")
    revoke_token(old)
    db.session.commit()
    login_as(world.user("officer_a1"))
    html = client.get(f"/users/{teacher.id}").get_data(as_text=True)
    assert 'data-testid="tokens"' in html and ">test<" in html
    assert "old scanner" not in html  # revoked tokens are not listed
    assert "Grade 3 Class 2" in html  # world.class_a1, in English
    assert 'data-testid="head-teacher-classes"' in html


def test_admin_edits_role_and_school_and_the_user_is_logged_out(client, app, world, login_as, db):
    teacher = world.user("teacher_a1")
    theirs = app.test_client()
    login(theirs, teacher)
    assert theirs.get("/dashboard").status_code == 200
    login_as(world.user("admin"))
    response = post_form(
        client,
        f"/users/{teacher.id}/edit",
        {
            "display_name": "刘老师",
            "role": "clerk",
            "alliance_id": "",
            "school_id": str(world.school_b1.id),
            "phone": "13800000000",
        },
        page=f"/users/{teacher.id}",
    )
    assert response.status_code == 302
    user = _user(db, "teacher_a1")
    assert (user.display_name, user.role, user.school_id, user.phone) == (
        "刘老师",
        "clerk",
        world.school_b1.id,
        "13800000000",
    )
    assert theirs.get("/dashboard").status_code == 302  # new powers: log in again
    update = _audit(db, action="update", object_type="user", object_id=user.id)[-1]
    assert update.actor_label == "admin1"
    assert update.changes["role"] == ["teacher", "clerk"]


def test_officer_edits_a_teacher_but_cannot_promote_them(client, world, login_as, db):
    teacher = world.user("teacher_a1")
    login_as(world.user("officer_a1"))
    base = {"display_name": "刘静", "phone": ""}
    response = post_form(
        client, f"/users/{teacher.id}/edit", {**base, "role": "school_officer"}, page="/users/"
    )
    assert response.status_code == 422
    assert _user(db, "teacher_a1").role == "teacher"
    response = post_form(client, f"/users/{teacher.id}/edit", {**base, "role": "clerk"})
    assert response.status_code == 302
    user = _user(db, "teacher_a1")
    assert (user.role, user.school_id, user.display_name) == ("clerk", world.school_a1.id, "刘静")


def test_bad_edit_input_is_a_422(client, world, login_as, db):
    teacher = world.user("teacher_a1")
    login_as(world.user("admin"))
    for data in (
        {"display_name": "", "role": "teacher", "school_id": str(world.school_a1.id)},
        {"display_name": "x", "role": "teacher", "school_id": "abc"},
        {"display_name": "x", "role": "teacher", "school_id": str(world.school_x.id)},
        {"display_name": "x", "role": "alliance_lead", "alliance_id": ""},
        {"display_name": "x", "role": "teacher", "school_id": "", "phone": "?"},
    ):
        response = post_form(client, f"/users/{teacher.id}/edit", data)
        assert response.status_code == 422, data
    user = _user(db, "teacher_a1")
    assert (user.role, user.school_id) == ("teacher", world.school_a1.id)


def test_a_manager_cannot_change_their_own_role(client, world, login_as, db):
    from app.auth.operations import CannotChangeOwnRole, update_managed_user

    admin = world.user("admin")
    login_as(admin)
    page = client.get(f"/users/{admin.id}").get_data(as_text=True)
    assert 'name="role"' not in page
    response = post_form(
        client,
        f"/users/{admin.id}/edit",
        {"display_name": "赵主任", "role": "teacher", "school_id": str(world.school_a1.id)},
    )
    assert response.status_code == 302  # the name changes; a forged role is ignored
    user = _user(db, "admin1")
    assert (user.display_name, user.role, user.school_id) == ("赵主任", "district_admin", None)
    with pytest.raises(CannotChangeOwnRole):
        update_managed_user(
            user,
            editor=user,
            display_name="x",
            role="teacher",
            phone=None,
            school_id=world.school_a1.id,
        )


def test_disabling_logs_the_user_out_at_once_and_revokes_their_tokens(
    client, app, world, login_as, db, api_token
):
    from app.auth.models import ApiToken, UserSession

    teacher = world.user("teacher_a1")
    api_token(teacher)
    api_token(teacher)
    theirs = app.test_client()
    login(theirs, teacher)
    assert theirs.get("/dashboard").status_code == 200
    login_as(world.user("officer_a1"))
    response = post_form(client, f"/users/{teacher.id}/disable", page=f"/users/{teacher.id}")
    assert response.status_code == 302
    after = theirs.get("/dashboard")
    assert after.status_code == 302 and "/login" in after.headers["Location"]
    assert _user(db, "teacher_a1").active is False
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == teacher.id)).all()
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)
    sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == teacher.id))
    assert all(s.revoked_at is not None for s in sessions)
    assert login(app.test_client(), teacher).status_code == 401
    assert _audit(db, action="revoke_all_tokens", object_id=teacher.id)
    page = client.get(f"/users/{teacher.id}").get_data(as_text=True)
    assert 'data-testid="tokens"' not in page  # no active tokens left to show
    # Enabling lets them log in again (tokens stay revoked).
    assert post_form(client, f"/users/{teacher.id}/enable").status_code == 302
    assert login(app.test_client(), teacher).status_code == 302
    assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken)))


def test_nobody_disables_themselves(client, world, login_as, db):
    admin = world.user("admin")
    login_as(admin)
    assert "Disable account" not in client.get(f"/users/{admin.id}").get_data(as_text=True)
    response = post_form(client, f"/users/{admin.id}/disable")
    assert response.status_code == 409
    assert _user(db, "admin1").active is True
    assert client.get("/users/").status_code == 200  # still logged in


def test_reset_password(client, app, world, login_as, db):
    clerk = world.user("clerk_a1")
    theirs = app.test_client()
    login(theirs, clerk)
    login_as(world.user("officer_a1"))
    response = post_form(
        client, f"/users/{clerk.id}/password", {"new_password": NEW_PASSWORD}, page="/users/"
    )
    assert response.status_code == 302
    assert theirs.get("/dashboard").status_code == 302  # their sessions ended
    assert login(app.test_client(), clerk, PASSWORD).status_code == 401
    assert login(app.test_client(), clerk, NEW_PASSWORD).status_code == 302
    events = _audit(db, action="reset_password", object_id=clerk.id)
    assert len(events) == 1
    assert events[0].actor_label == "officer_a1"
    assert events[0].school_id == world.school_a1.id


def test_weak_reset_password_is_refused_with_the_reason(client, world, login_as, db):
    clerk = world.user("clerk_a1")
    login_as(world.user("admin"))
    before = _user(db, "clerk_a1").password_hash
    response = post_form(client, f"/users/{clerk.id}/password", {"new_password": "password1"})
    assert response.status_code == 422
    assert "too common" in response.get_data(as_text=True)
    assert _user(db, "clerk_a1").password_hash == before
    assert not _audit(db, action="reset_password")


def test_own_password_is_changed_on_the_account_page(client, world, login_as, db):
    admin = world.user("admin")
    login_as(admin)
    before = _user(db, "admin1").password_hash
    response = post_form(client, f"/users/{admin.id}/password", {"new_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    assert _user(db, "admin1").password_hash == before


def test_manager_revokes_a_token(client, world, login_as, db, api_token):
    from app.auth.models import ApiToken

    teacher, clerk = world.user("teacher_a1"), world.user("clerk_a1")
    api_token(teacher)
    api_token(clerk)
    mine, theirs = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    login_as(world.user("officer_a1"))
    # A token id that belongs to someone else is not found under this user.
    response = post_form(client, f"/users/{teacher.id}/tokens/{theirs.id}/revoke")
    assert response.status_code == 404
    response = post_form(client, f"/users/{teacher.id}/tokens/{mine.id}/revoke")
    assert response.status_code == 302
    mine, theirs = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert _audit(db, action="update", object_type="api_token", object_id=mine.id)


# ---------------------------------------------------------------- scope isolation


def _actions(user_id: int, token_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("GET", f"/users/{user_id}", {}),
        ("POST", f"/users/{user_id}/edit", {"display_name": "X", "role": "clerk"}),
        ("POST", f"/users/{user_id}/disable", {}),
        ("POST", f"/users/{user_id}/enable", {}),
        ("POST", f"/users/{user_id}/password", {"new_password": NEW_PASSWORD}),
        ("POST", f"/users/{user_id}/tokens/{token_id}/revoke", {}),
    ]


@pytest.mark.parametrize(
    ("manager", "target"),
    [
        ("officer_b1", "teacher_a1"),  # another school of the district
        ("officer_a2", "clerk_a1"),  # another school of the same alliance
        ("admin_other", "teacher_a1"),  # another district
        ("admin", "teacher_x"),  # another district, the other way round
        ("officer_a1", "admin"),  # above the officer
        ("officer_a1", "lead_a"),  # above the officer
        ("officer_a1", "officer_a1"),  # an officer does not manage officers, self included
        ("officer_a1", "second_officer_a1"),  # nor a fellow officer of the same school
    ],
)
def test_users_outside_what_one_manages_are_not_found(
    client, world, login_as, db, make_user, api_token, manager, target
):
    from app.auth.models import ApiToken

    world.users["second_officer_a1"] = make_user(
        "school_officer", school=world.school_a1, username="officer2_a1"
    )
    victim = world.user(target)
    api_token(victim)
    token = db.session.scalars(select(ApiToken)).one()
    before = _user(db, victim.username)
    state = (before.display_name, before.role, before.active, before.password_hash)
    login_as(world.user(manager))
    for method, path, data in _actions(victim.id, token.id):
        response = client.get(path) if method == "GET" else post_form(client, path, data)
        assert response.status_code == 404, (method, path)
    after = _user(db, victim.username)
    assert (after.display_name, after.role, after.active, after.password_hash) == state
    assert db.session.scalars(select(ApiToken)).one().revoked_at is None


@pytest.mark.parametrize("user_id", ["0", "99999", "2147483648", "99999999999999999999999"])
def test_unknown_or_absurd_ids_are_404(client, world, login_as, user_id):
    login_as(world.user("admin"))
    assert client.get(f"/users/{user_id}").status_code == 404
    assert post_form(client, f"/users/{user_id}/disable").status_code == 404
    teacher = world.user("teacher_a1").id
    response = post_form(client, f"/users/{teacher}/tokens/{user_id}/revoke")
    assert response.status_code == 404


def test_posts_without_a_csrf_token_are_refused(client, world, login_as, db):
    teacher = world.user("teacher_a1")
    login_as(world.user("admin"))
    assert client.post(f"/users/{teacher.id}/disable").status_code == 400
    assert client.post("/users/new", data=_new_user_form()).status_code == 400
    assert _user(db, "teacher_a1").active is True
    assert _user(db, "new_person") is None


def test_user_pages_write_nothing_on_get(client, world, login_as, db):
    from app.audit.models import AuditEvent

    login_as(world.user("admin"))
    before = _count(db, AuditEvent)
    for path in ("/users/", "/users/new", f"/users/{world.user('teacher_a1').id}"):
        assert client.get(path).status_code == 200
    assert _count(db, AuditEvent) == before
