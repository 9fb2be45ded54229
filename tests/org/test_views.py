"""The organisation pages: what each role sees and may change, scope, and bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from app.org.models import Alliance, LeadershipMember, School, SchoolClass
from tests.conftest import post_form


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def as_user(login_as, world):
    def do(key: str):
        client = login_as(world.user(key))
        client.set_cookie("aixin_lang", "en")  # assertions below read the English messages
        return client

    return do


@pytest.fixture
def members(db, world):
    """One leadership member on each tier of district 1 and one in district 2."""
    from app.org import operations as ops

    rows = {
        "district": ops.add_leadership_member(
            tier=world.district, name="区组长", group_role="leader"
        ),
        "alliance_a": ops.add_leadership_member(
            tier=world.alliance_a, name="甲盟组长", group_role="leader"
        ),
        "alliance_b": ops.add_leadership_member(
            tier=world.alliance_b, name="乙盟组长", group_role="leader"
        ),
        "school_a1": ops.add_leadership_member(
            tier=world.school_a1, name="甲一校长", group_role="leader", position="校长"
        ),
        "school_x": ops.add_leadership_member(
            tier=world.school_x, name="外区校长", group_role="leader"
        ),
    }
    db.session.commit()
    return {key: m.id for key, m in rows.items()}


# ---------------------------------------------------------------- the overview


def test_district_admin_sees_the_whole_district_and_nothing_else(as_user, world, db, members):
    from app.org import operations as ops

    ops.create_school(district_id=world.district.id, name="独立小学")
    db.session.commit()
    client = as_user("admin")
    page = text(client.get("/org/"))
    for name in ("甲联盟", "乙联盟", "甲一小学", "甲二小学", "乙一小学", "独立小学", "区组长"):
        assert name in page
    assert "外区小学" not in page and "外区校长" not in page
    assert 'href="/org/alliances/new"' in page and 'href="/org/schools/new"' in page
    # The lead school is named on its alliance's card.
    card = page.split(f'data-testid="alliance-{world.alliance_a.id}"')[1].split("</section>")[0]
    row = card.split(">甲一小学</a>")[1].split("</tr>")[0]
    assert "text-bg-warning" in row  # the lead-school badge


def test_alliance_lead_sees_their_alliance_only(as_user, world, members):
    page = text(as_user("lead_a").get("/org/"))
    assert "甲联盟" in page and "甲一小学" in page and "甲二小学" in page and "甲盟组长" in page
    assert "乙一小学" not in page and "乙盟组长" not in page
    assert "/org/alliances/new" not in page


def test_school_officer_is_sent_to_their_school(as_user, world):
    response = as_user("officer_a2").get("/org/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/org/schools/{world.school_a2.id}")


def test_the_overview_needs_the_same_number_of_queries_for_more_schools(
    as_user, world, db, make_school, make_class, app
):
    client = as_user("admin")

    def queries_for_overview() -> int:
        seen: list[str] = []

        def listen(conn, cursor, statement, *args):  # noqa: ARG001
            seen.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", listen)
        try:
            assert client.get("/org/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(seen)

    before = queries_for_overview()
    for n in range(4):
        school = make_school(world.district, world.alliance_b, name=f"新校{n}")
        make_class(school, grade=1, number=1)
    make_school(world.district, None, name="无盟校")
    assert queries_for_overview() == before


# ---------------------------------------------------------------- alliances


def test_admin_creates_an_alliance(as_user, world, db):
    client = as_user("admin")
    response = post_form(
        client, "/org/alliances/new", {"name": " 丙联盟 ", "note": "每学期一次例会"}
    )
    assert response.status_code == 302
    alliance = db.session.scalars(select(Alliance).where(Alliance.name == "丙联盟")).one()
    assert alliance.district_id == world.district.id and alliance.note == "每学期一次例会"
    assert response.headers["Location"].endswith(f"/org/alliances/{alliance.id}")
    page = text(client.get(response.headers["Location"]))
    assert "丙联盟" in page and "alert-success" in page


@pytest.mark.parametrize(
    "data",
    [
        {"name": "甲联盟"},  # taken
        {"name": ""},
        {},
        {"name": "盟" * 300},
        {"name": "联盟\x00"},
        {"name": "好联盟", "note": "长" * 2001},
    ],
)
def test_invalid_alliance_is_re_rendered_with_422_and_nothing_written(as_user, db, data):
    before = count(db, Alliance)
    response = post_form(as_user("admin"), "/org/alliances/new", data)
    assert response.status_code == 422
    assert "is-invalid" in text(response)
    assert count(db, Alliance) == before


def test_admin_renames_an_alliance_and_appoints_a_member_as_lead(as_user, world, db):
    client = as_user("admin")
    url = f"/org/alliances/{world.alliance_a.id}/edit"
    page = text(client.get(url))
    assert "甲二小学" in page and "乙一小学" not in page  # only members are offered
    response = post_form(
        client, url, {"name": "甲共同体", "note": "", "lead_school_id": world.school_a2.id}
    )
    assert response.status_code == 302
    alliance = db.session.get(Alliance, world.alliance_a.id)
    assert alliance.name == "甲共同体" and alliance.lead_school_id == world.school_a2.id
    assert alliance.note is None


@pytest.mark.parametrize("lead", ["b1", "x", "999999"])
def test_lead_school_outside_the_alliance_is_refused_and_nothing_changes(as_user, world, db, lead):
    ids = {"b1": world.school_b1.id, "x": world.school_x.id, "999999": 999999}
    response = post_form(
        as_user("admin"),
        f"/org/alliances/{world.alliance_a.id}/edit",
        {"name": "改名联盟", "lead_school_id": ids[lead]},
    )
    assert response.status_code == 422
    assert "The lead school must be a member of the alliance." in text(response)
    alliance = db.session.get(Alliance, world.alliance_a.id)
    assert alliance.name == "甲联盟" and alliance.lead_school_id == world.school_a1.id


def test_renaming_an_alliance_to_a_taken_name_is_422(as_user, world, db):
    response = post_form(
        as_user("admin"), f"/org/alliances/{world.alliance_a.id}/edit", {"name": "乙联盟"}
    )
    assert response.status_code == 422
    assert db.session.get(Alliance, world.alliance_a.id).name == "甲联盟"


def test_alliance_lead_may_view_but_not_edit_their_alliance(as_user, world):
    client = as_user("lead_a")
    page = text(client.get(f"/org/alliances/{world.alliance_a.id}"))
    assert "甲一小学" in page and f"/org/alliances/{world.alliance_a.id}/edit" not in page
    assert client.get(f"/org/alliances/{world.alliance_a.id}/edit").status_code == 403
    response = post_form(client, f"/org/alliances/{world.alliance_a.id}/edit", {"name": "新名"})
    assert response.status_code == 403
    assert post_form(client, "/org/alliances/new", {"name": "新盟"}).status_code == 403
    assert post_form(client, "/org/schools/new", {"name": "新校"}).status_code == 403


def test_alliance_lead_cannot_reach_another_alliance(as_user, world, db):
    client = as_user("lead_a")
    b = world.alliance_b.id
    assert client.get(f"/org/alliances/{b}").status_code == 404
    assert client.get(f"/org/schools/{world.school_b1.id}").status_code == 404
    response = post_form(
        client, f"/org/alliances/{b}/leaders", {"name": "混入者", "group_role": "member"}
    )
    assert response.status_code == 404
    assert count(db, LeadershipMember) == 0


def test_school_officer_sees_their_alliance_with_a_link_only_to_their_school(as_user, world):
    page = text(as_user("officer_a2").get(f"/org/alliances/{world.alliance_a.id}"))
    assert f'href="/org/schools/{world.school_a2.id}"' in page
    assert f'href="/org/schools/{world.school_a1.id}"' not in page and "甲一小学" in page


# ---------------------------------------------------------------- schools

SCHOOL = {
    "name": "新华小学",
    "stage": "primary",
    "address": "郑州市二七区新华路1号",
    "phone": "0371-68000000",
    "supermarket_manager": "王老师",
    "supermarket_manager_phone": "13900000000",
}


def test_admin_creates_a_school_in_an_alliance(as_user, world, db):
    client = as_user("admin")
    form = text(client.get(f"/org/schools/new?alliance_id={world.alliance_b.id}"))
    assert f'<option selected value="{world.alliance_b.id}">' in form
    response = post_form(client, "/org/schools/new", {**SCHOOL, "alliance_id": world.alliance_b.id})
    assert response.status_code == 302
    school = db.session.scalars(select(School).where(School.name == "新华小学")).one()
    assert school.alliance_id == world.alliance_b.id and school.district_id == world.district.id
    assert school.supermarket_manager == "王老师" and school.active
    page = text(client.get(f"/org/schools/{school.id}"))
    assert "王老师" in page and "13900000000" in page and "乙联盟" in page


def test_a_school_without_alliance_and_without_optional_fields(as_user, world, db):
    response = post_form(
        as_user("admin"), "/org/schools/new", {"name": "孤岛小学", "stage": "middle"}
    )
    assert response.status_code == 302
    school = db.session.scalars(select(School).where(School.name == "孤岛小学")).one()
    assert school.alliance_id is None and school.address is None and school.stage == "middle"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "甲一小学"},  # taken
        {"name": "校" * 300},
        {"name": ""},
        {"stage": "university"},
        {"alliance_id": "abc"},
        {"alliance_id": "999999"},
        {"phone": "call me maybe"},
        {"address": "路" * 201},
        {"supermarket_manager": "人" * 101},
    ],
)
def test_invalid_school_is_422_and_nothing_written(as_user, world, db, change):
    before = count(db, School)
    response = post_form(as_user("admin"), "/org/schools/new", {**SCHOOL, **change})
    assert response.status_code == 422
    assert count(db, School) == before


def test_another_districts_alliance_cannot_be_chosen(as_user, world, db, make_alliance):
    foreign = make_alliance(world.other_district, name="外区联盟")
    response = post_form(
        as_user("admin"), "/org/schools/new", {**SCHOOL, "alliance_id": foreign.id}
    )
    assert response.status_code == 422
    assert count(db, School, School.name == SCHOOL["name"]) == 0


def test_admin_edits_everything_about_a_school(as_user, world, db):
    url = f"/org/schools/{world.school_a2.id}/edit"
    response = post_form(
        as_user("admin"),
        url,
        {
            **SCHOOL,
            "name": "甲二实验小学",
            "stage": "nine_year",
            "alliance_id": world.alliance_b.id,
        },
    )
    assert response.status_code == 302
    school = db.session.get(School, world.school_a2.id)
    assert (school.name, school.stage, school.alliance_id) == (
        "甲二实验小学",
        "nine_year",
        world.alliance_b.id,
    )


def test_editing_a_lead_school_out_of_its_alliance_writes_nothing(as_user, world, db):
    response = post_form(
        as_user("admin"),
        f"/org/schools/{world.school_a1.id}/edit",
        {**SCHOOL, "name": "改名小学", "alliance_id": world.alliance_b.id},
    )
    assert response.status_code == 409
    assert "appoint another lead school first" in text(response)
    school = db.session.get(School, world.school_a1.id)
    assert school.name == "甲一小学" and school.alliance_id == world.alliance_a.id


def test_officer_edits_only_contact_and_supermarket_details(as_user, world, db):
    client = as_user("officer_a1")
    page = text(client.get(f"/org/schools/{world.school_a1.id}/edit"))
    assert 'name="supermarket_manager"' in page and 'name="name"' not in page
    response = post_form(
        client,
        f"/org/schools/{world.school_a1.id}/edit",
        {
            "name": "篡改小学",
            "alliance_id": world.alliance_b.id,
            "stage": "other",
            "address": "新地址 8 号",
            "phone": "0371-1111111",
            "supermarket_manager": "李老师",
            "supermarket_manager_phone": "",
        },
    )
    assert response.status_code == 302
    school = db.session.get(School, world.school_a1.id)
    assert (school.name, school.alliance_id, school.stage, school.active) == (
        "甲一小学",
        world.alliance_a.id,
        "primary",
        True,
    )
    assert school.address == "新地址 8 号" and school.supermarket_manager == "李老师"
    assert school.supermarket_manager_phone is None


def test_officer_may_not_move_or_deactivate_their_school(as_user, world, db):
    client = as_user("officer_a2")
    sid = world.school_a2.id
    page = text(client.get(f"/org/schools/{sid}"))
    assert "/move" not in page and "/deactivate" not in page.split('id="classes"')[0]
    assert (
        post_form(
            client, f"/org/schools/{sid}/move", {"alliance_id": world.alliance_b.id}
        ).status_code
        == 403
    )
    assert post_form(client, f"/org/schools/{sid}/deactivate").status_code == 403
    assert db.session.get(School, sid).alliance_id == world.alliance_a.id


def test_alliance_lead_views_a_member_school_read_only(as_user, world, members):
    client = as_user("lead_a")
    page = text(client.get(f"/org/schools/{world.school_a1.id}"))
    assert "甲一校长" in page and "三年级(2)班" in page or "Grade 3 Class 2" in page
    assert "/edit" not in page and "/remove" not in page and "head-teacher" not in page
    assert client.get(f"/org/schools/{world.school_a1.id}/edit").status_code == 403


def test_school_page_shows_classes_by_grade_staff_and_leadership(as_user, world, members):
    page = text(as_user("officer_a1").get(f"/org/schools/{world.school_a1.id}"))
    assert "甲一校长" in page and "校长" in page
    # teacher_a1 is head teacher of class 3-2 and is the selected option in its row.
    row = page.split(f'id="class-{world.class_a1.id}"')[1].split("</li>")[0]
    assert f'<option value="{world.user("teacher_a1").id}" selected>' in row
    staff = page.split('data-testid="staff-count"')[1].split("</dd>")[0]
    assert "3" in staff  # officer, teacher, clerk


def test_admin_moves_a_school_between_alliances(as_user, world, db):
    client = as_user("admin")
    url = f"/org/schools/{world.school_a2.id}/move"
    response = post_form(client, url, {"alliance_id": world.alliance_b.id})
    assert response.status_code == 302
    assert db.session.get(School, world.school_a2.id).alliance_id == world.alliance_b.id
    assert "乙联盟" in text(client.get(response.headers["Location"]))
    assert post_form(client, url, {"alliance_id": ""}).status_code == 302
    assert db.session.get(School, world.school_a2.id).alliance_id is None


def test_moving_a_lead_school_shows_the_rule(as_user, world, db):
    response = post_form(
        as_user("admin"),
        f"/org/schools/{world.school_a1.id}/move",
        {"alliance_id": world.alliance_b.id},
    )
    assert response.status_code == 409
    body = text(response)
    assert "This is the lead school of 甲联盟: appoint another lead school first." in body
    assert db.session.get(School, world.school_a1.id).alliance_id == world.alliance_a.id


@pytest.mark.parametrize("target", ["abc", "999999", "-1"])
def test_moving_to_an_unknown_alliance_is_422(as_user, world, db, target):
    response = post_form(
        as_user("admin"), f"/org/schools/{world.school_a2.id}/move", {"alliance_id": target}
    )
    assert response.status_code == 422
    assert db.session.get(School, world.school_a2.id).alliance_id == world.alliance_a.id


def test_admin_deactivates_and_reactivates_a_school(as_user, world, db):
    client = as_user("admin")
    sid = world.school_a2.id
    page = text(client.get(f"/org/schools/{sid}"))
    form_tag = page.split(f'action="/org/schools/{sid}/deactivate"')[1].split(">")[0]
    assert "data-confirm=" in form_tag
    assert post_form(client, f"/org/schools/{sid}/deactivate").status_code == 302
    assert db.session.get(School, sid).active is False
    assert post_form(client, f"/org/schools/{sid}/reactivate").status_code == 302
    assert db.session.get(School, sid).active is True


def test_a_lead_school_cannot_be_deactivated(as_user, world, db):
    response = post_form(as_user("admin"), f"/org/schools/{world.school_a1.id}/deactivate")
    assert response.status_code == 409
    assert "appoint another lead school first" in text(response)
    assert db.session.get(School, world.school_a1.id).active is True


# ---------------------------------------------------------------- classes


def test_officer_adds_a_class_with_a_head_teacher(as_user, world, db):
    client = as_user("officer_a1")
    response = post_form(
        client,
        f"/org/schools/{world.school_a1.id}/classes",
        {"grade": "6", "number": "3", "head_teacher_id": world.user("teacher_a1").id},
    )
    assert response.status_code == 302
    created = db.session.scalars(
        select(SchoolClass).where(
            SchoolClass.school_id == world.school_a1.id, SchoolClass.grade == 6
        )
    ).one()
    assert created.number == 3 and created.head_teacher_id == world.user("teacher_a1").id
    assert "alert-success" in text(client.get(response.headers["Location"]))


def test_a_duplicate_class_is_refused_with_a_clear_message(as_user, world, db):
    before = count(db, SchoolClass)
    response = post_form(
        as_user("officer_a1"),
        f"/org/schools/{world.school_a1.id}/classes",
        {"grade": "3", "number": "2"},
    )
    assert response.status_code == 422
    assert "This class already exists." in text(response)
    assert count(db, SchoolClass) == before


@pytest.mark.parametrize(
    "data",
    [
        {"grade": "abc", "number": "1"},
        {"grade": "13", "number": "1"},
        {"grade": "0", "number": "1"},
        {"grade": "1", "number": "100"},
        {"grade": "1", "number": "0"},
        {"grade": "1", "number": "x"},
        {"grade": "1"},
        {},
        {"grade": "1", "number": "1", "head_teacher_id": "abc"},
    ],
)
def test_bad_class_input_is_422(as_user, world, db, data):
    before = count(db, SchoolClass)
    response = post_form(as_user("officer_a1"), f"/org/schools/{world.school_a1.id}/classes", data)
    assert response.status_code == 422
    assert count(db, SchoolClass) == before


def test_a_class_head_teacher_must_belong_to_the_school(as_user, world, db):
    client = as_user("officer_a1")
    before = count(db, SchoolClass)
    response = post_form(
        client,
        f"/org/schools/{world.school_a1.id}/classes",
        {"grade": "1", "number": "1", "head_teacher_id": world.user("teacher_b1").id},
    )
    assert response.status_code == 422
    assert "The head teacher must be a teacher of this school." in text(response)
    assert count(db, SchoolClass) == before

    url = f"/org/classes/{world.class_a1.id}/head-teacher"
    for outsider in ("teacher_a2", "clerk_a1"):
        response = post_form(client, url, {"head_teacher_id": world.user(outsider).id})
        assert response.status_code == 422
        assert "The head teacher must be a teacher of this school." in text(response)
    assert (
        db.session.get(SchoolClass, world.class_a1.id).head_teacher_id
        == world.user("teacher_a1").id
    )


def test_officer_sets_and_clears_a_head_teacher(as_user, world, db):
    client = as_user("officer_a1")
    url = f"/org/classes/{world.class_a1.id}/head-teacher"
    officer = world.user("officer_a1")
    assert post_form(client, url, {"head_teacher_id": officer.id}).status_code == 302
    assert db.session.get(SchoolClass, world.class_a1.id).head_teacher_id == officer.id
    assert post_form(client, url, {"head_teacher_id": ""}).status_code == 302
    assert db.session.get(SchoolClass, world.class_a1.id).head_teacher_id is None
    assert post_form(client, url, {"head_teacher_id": "abc"}).status_code == 422


def test_officer_deactivates_and_reactivates_a_class(as_user, world, db):
    client = as_user("officer_a1")
    cid = world.class_a1.id
    assert post_form(client, f"/org/classes/{cid}/deactivate").status_code == 302
    assert db.session.get(SchoolClass, cid).active is False
    page = text(client.get(f"/org/schools/{world.school_a1.id}"))
    assert f"/org/classes/{cid}/reactivate" in page
    assert post_form(client, f"/org/classes/{cid}/reactivate").status_code == 302
    assert db.session.get(SchoolClass, cid).active is True


def test_alliance_lead_cannot_change_classes(as_user, world, db):
    client = as_user("lead_a")
    assert (
        post_form(
            client, f"/org/schools/{world.school_a1.id}/classes", {"grade": "1", "number": "9"}
        ).status_code
        == 403
    )
    assert post_form(client, f"/org/classes/{world.class_a1.id}/deactivate").status_code == 403
    assert db.session.get(SchoolClass, world.class_a1.id).active is True


# ---------------------------------------------------------------- leadership groups

LEADER = {"name": "赵主任", "group_role": "deputy", "position": "德育主任", "phone": "13800000000"}


@pytest.mark.parametrize(
    ("user", "path", "tier_column", "tier"),
    [
        ("admin", "/org/district/leaders", "district_id", "district"),
        ("admin", "/org/alliances/{alliance_a}/leaders", "alliance_id", "alliance_a"),
        ("lead_a", "/org/alliances/{alliance_a}/leaders", "alliance_id", "alliance_a"),
        ("admin", "/org/schools/{school_a1}/leaders", "school_id", "school_a1"),
        ("officer_a1", "/org/schools/{school_a1}/leaders", "school_id", "school_a1"),
    ],
)
def test_leadership_members_are_added_by_the_right_roles(
    as_user, world, db, user, path, tier_column, tier
):
    ids = {
        "alliance_a": world.alliance_a.id,
        "school_a1": world.school_a1.id,
        "district": world.district.id,
    }
    response = post_form(as_user(user), path.format(**ids), LEADER)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#leadership")
    member = db.session.scalars(select(LeadershipMember)).one()
    assert getattr(member, tier_column) == ids[tier]
    assert (member.name, member.group_role, member.position, member.phone) == (
        "赵主任",
        "deputy",
        "德育主任",
        "13800000000",
    )


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("lead_a", "/org/district/leaders", 403),
        ("officer_a1", "/org/district/leaders", 403),
        ("officer_a1", "/org/alliances/{alliance_a}/leaders", 403),
        ("lead_a", "/org/schools/{school_a1}/leaders", 403),
        ("lead_b", "/org/alliances/{alliance_a}/leaders", 404),
        ("officer_a2", "/org/schools/{school_a1}/leaders", 404),
        ("admin_other", "/org/alliances/{alliance_a}/leaders", 404),
        ("admin_other", "/org/schools/{school_a1}/leaders", 404),
    ],
)
def test_leadership_members_cannot_be_added_by_others(as_user, world, db, user, path, status):
    ids = {"alliance_a": world.alliance_a.id, "school_a1": world.school_a1.id}
    response = post_form(as_user(user), path.format(**ids), LEADER)
    assert response.status_code == status
    assert count(db, LeadershipMember) == 0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "", "group_role": "member"},
        {"name": "某人", "group_role": "boss"},
        {"name": "人" * 300, "group_role": "member"},
        {"name": "某人", "group_role": "member", "phone": "not a phone"},
        {"name": "某人", "group_role": "member", "position": "职" * 101},
    ],
)
def test_bad_leadership_input_is_422(as_user, world, db, data):
    response = post_form(as_user("lead_a"), f"/org/alliances/{world.alliance_a.id}/leaders", data)
    assert response.status_code == 422
    assert count(db, LeadershipMember) == 0


@pytest.mark.parametrize(
    ("user", "member", "status"),
    [
        ("admin", "district", 302),
        ("admin", "alliance_b", 302),
        ("admin", "school_a1", 302),
        ("lead_a", "alliance_a", 302),
        ("officer_a1", "school_a1", 302),
        ("lead_a", "district", 403),
        ("lead_a", "school_a1", 403),
        ("officer_a1", "district", 403),
        ("officer_a1", "alliance_a", 403),
        ("lead_a", "alliance_b", 404),
        ("officer_b1", "school_a1", 404),
        ("admin_other", "district", 404),
        ("admin_other", "school_a1", 404),
        ("admin", "school_x", 404),
    ],
)
def test_removing_a_leadership_member(as_user, world, db, members, user, member, status):
    response = post_form(as_user(user), f"/org/leaders/{members[member]}/remove")
    assert response.status_code == status
    still_there = db.session.get(LeadershipMember, members[member]) is not None
    assert still_there is (status != 302)


def test_remove_buttons_ask_for_confirmation(as_user, world, members):
    page = text(as_user("admin").get("/org/"))
    form = page.split(f'/org/leaders/{members["district"]}/remove"')[1].split(">")[0]
    assert "data-confirm=" in form


# ---------------------------------------------------------------- scope and roles sweep


def _object_urls(world, members) -> tuple[list[str], list[str]]:
    """Every org URL with an id, for objects of school A1 / alliance A / district 1."""
    a, s, c, m = world.alliance_a.id, world.school_a1.id, world.class_a1.id, members["school_a1"]
    gets = [
        f"/org/alliances/{a}",
        f"/org/alliances/{a}/edit",
        f"/org/schools/{s}",
        f"/org/schools/{s}/edit",
    ]
    posts = [
        f"/org/alliances/{a}/edit",
        f"/org/alliances/{a}/leaders",
        f"/org/schools/{s}/edit",
        f"/org/schools/{s}/move",
        f"/org/schools/{s}/deactivate",
        f"/org/schools/{s}/reactivate",
        f"/org/schools/{s}/leaders",
        f"/org/schools/{s}/classes",
        f"/org/classes/{c}/head-teacher",
        f"/org/classes/{c}/deactivate",
        f"/org/classes/{c}/reactivate",
        f"/org/leaders/{m}/remove",
    ]
    return gets, posts


def test_another_districts_admin_gets_404_on_every_org_url(as_user, world, db, members):
    client = as_user("admin_other")
    gets, posts = _object_urls(world, members)
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert post_form(client, url, {"name": "x", "alliance_id": ""}).status_code == 404, url
    assert db.session.get(School, world.school_a1.id).active is True
    assert count(db, LeadershipMember) == len(members)


def test_another_schools_officer_gets_404_and_never_the_object(as_user, world, db, members):
    """Officer of B1 asking for A1's objects: 404; 403 only where the role may never go."""
    client = as_user("officer_b1")
    a, s = world.alliance_a.id, world.school_a1.id
    c, m = world.class_a1.id, members["school_a1"]
    expected_get = {
        f"/org/alliances/{a}": 404,
        f"/org/alliances/{a}/edit": 403,
        f"/org/schools/{s}": 404,
        f"/org/schools/{s}/edit": 404,
    }
    expected_post = {
        f"/org/alliances/{a}/edit": 403,
        f"/org/alliances/{a}/leaders": 403,
        f"/org/schools/{s}/edit": 404,
        f"/org/schools/{s}/move": 403,
        f"/org/schools/{s}/deactivate": 403,
        f"/org/schools/{s}/reactivate": 403,
        f"/org/schools/{s}/leaders": 404,
        f"/org/schools/{s}/classes": 404,
        f"/org/classes/{c}/head-teacher": 404,
        f"/org/classes/{c}/deactivate": 404,
        f"/org/classes/{c}/reactivate": 404,
        f"/org/leaders/{m}/remove": 404,
    }
    _gets, posts = _object_urls(world, members)
    assert set(expected_post) == set(posts)
    for url, status in expected_get.items():
        response = client.get(url)
        assert response.status_code == status, url
        assert "甲一小学" not in text(response), url
    for url, status in expected_post.items():
        response = post_form(client, url, {"name": "x", "grade": "1", "number": "9"})
        assert response.status_code == status, url
        assert "甲一小学" not in text(response), url
    assert count(db, LeadershipMember) == len(members)
    assert count(db, SchoolClass, SchoolClass.school_id == s) == 1


@pytest.mark.parametrize("user", ["teacher_a1", "clerk_a1"])
def test_teachers_and_clerks_get_403_everywhere(as_user, world, members, user):
    client = as_user(user)
    gets, posts = _object_urls(world, members)
    for url in ["/org/", "/org/alliances/new", "/org/schools/new", *gets]:
        assert client.get(url).status_code == 403, url
    for url in ["/org/district/leaders", "/org/alliances/new", "/org/schools/new", *posts]:
        assert post_form(client, url, {"name": "x"}).status_code == 403, url


def test_anonymous_visitors_are_sent_to_login(client, world):
    response = client.get(f"/org/schools/{world.school_a1.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_org_view_declares_its_access(app):
    from app.auth.access import access_of

    org_views = [name for name in app.view_functions if name.startswith("org.")]
    assert len(org_views) >= 15
    for name in org_views:
        assert access_of(app.view_functions[name]) is not None, name


# ---------------------------------------------------------------- bad input never 500


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "名" * 300, "grade": "x" * 300, "number": "-5", "alliance_id": "1; drop"},
        {"name": "\x01\x02", "head_teacher_id": "9" * 40, "lead_school_id": "9" * 40},
        {"alliance_id": "9" * 40, "stage": "", "group_role": ""},
    ],
)
def test_garbage_posts_never_cause_a_500(as_user, world, db, members, data):
    client = as_user("admin")
    _gets, posts = _object_urls(world, members)
    for url in ["/org/district/leaders", "/org/alliances/new", "/org/schools/new", *posts]:
        response = post_form(client, url, data)
        assert response.status_code < 500, (url, response.status_code)
