"""The organisation's rules, checked at the operation level."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.common import DomainError, ValidationFailed
from app.org import operations as ops
from app.org.models import Alliance, LeadershipMember, School, SchoolClass


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- alliances


def test_alliance_names_are_unique_within_a_district_only(db, world):
    with pytest.raises(ops.NameTaken):
        ops.create_alliance(district_id=world.district.id, name=" 甲联盟 ")
    db.session.rollback()
    other = ops.create_alliance(district_id=world.other_district.id, name="甲联盟")
    db.session.commit()
    assert other.id and other.district_id == world.other_district.id


def test_lead_school_must_be_a_member_of_the_alliance(db, world):
    alliance = db.session.get(Alliance, world.alliance_a.id)
    for outsider in (world.school_b1.id, world.school_x.id, 999_999):
        with pytest.raises(ValidationFailed) as caught:
            ops.update_alliance(alliance, name="甲联盟", note=None, lead_school_id=outsider)
        assert caught.value.field == "lead_school_id"
    db.session.rollback()
    alliance = db.session.get(Alliance, world.alliance_a.id)
    ops.update_alliance(alliance, name="甲联盟", note="n", lead_school_id=world.school_a2.id)
    db.session.commit()
    assert db.session.get(Alliance, world.alliance_a.id).lead_school_id == world.school_a2.id


def test_renaming_an_alliance_to_a_taken_name_is_refused(db, world):
    alliance = db.session.get(Alliance, world.alliance_a.id)
    with pytest.raises(ops.NameTaken):
        ops.update_alliance(alliance, name="乙联盟", note=None, lead_school_id=None)


# ---------------------------------------------------------------- schools


def test_lead_school_cannot_leave_its_alliance_until_another_is_appointed(db, world):
    a1 = db.session.get(School, world.school_a1.id)
    with pytest.raises(DomainError) as caught:
        ops.move_school(a1, world.alliance_b.id)
    assert caught.value.code == "lead_school_cannot_leave"
    assert "甲联盟" in caught.value.message
    db.session.rollback()

    alliance = db.session.get(Alliance, world.alliance_a.id)
    ops.update_alliance(alliance, name="甲联盟", note=None, lead_school_id=world.school_a2.id)
    ops.move_school(db.session.get(School, world.school_a1.id), world.alliance_b.id)
    db.session.commit()
    assert db.session.get(School, world.school_a1.id).alliance_id == world.alliance_b.id


def test_a_school_cannot_move_to_another_districts_alliance(db, world, make_alliance):
    foreign = make_alliance(world.other_district, name="外区联盟")
    with pytest.raises(ValidationFailed):
        ops.move_school(db.session.get(School, world.school_a2.id), foreign.id)


def test_school_names_are_unique_within_a_district(db, world):
    with pytest.raises(ops.NameTaken):
        ops.create_school(district_id=world.district.id, name="甲二小学")
    db.session.rollback()
    with pytest.raises(ops.NameTaken):
        ops.update_school(db.session.get(School, world.school_a1.id), name="甲二小学")
    db.session.rollback()
    ops.create_school(district_id=world.other_district.id, name="甲二小学")
    db.session.commit()


def test_a_lead_school_cannot_be_deactivated_but_a_member_can(db, world):
    with pytest.raises(DomainError):
        ops.set_school_active(db.session.get(School, world.school_a1.id), False)
    db.session.rollback()
    ops.set_school_active(db.session.get(School, world.school_a2.id), False)
    db.session.commit()
    assert db.session.get(School, world.school_a2.id).active is False
    ops.set_school_active(db.session.get(School, world.school_a2.id), True)
    db.session.commit()
    assert db.session.get(School, world.school_a2.id).active is True


def test_school_changes_are_audited(db, world):
    from app.audit.models import AuditEvent

    ops.update_school(db.session.get(School, world.school_a2.id), phone="0371-1234567")
    db.session.commit()
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "school", AuditEvent.action == "update")
    ).one()
    assert event.object_id == world.school_a2.id
    assert event.changes["phone"] == [None, "0371-1234567"]


# ---------------------------------------------------------------- classes


def test_a_class_cannot_exist_twice(db, world):
    a1 = db.session.get(School, world.school_a1.id)
    with pytest.raises(ValidationFailed) as caught:
        ops.create_class(school=a1, grade=3, number=2)
    assert caught.value.field == "number"
    db.session.rollback()
    # The same grade and number at another school is a different class.
    ops.create_class(school=db.session.get(School, world.school_b1.id), grade=3, number=2)
    db.session.commit()


def test_head_teacher_must_be_a_teacher_or_officer_of_the_school(db, world):
    a1 = db.session.get(School, world.school_a1.id)
    for user in ("teacher_a2", "clerk_a1", "lead_a", "admin"):
        with pytest.raises(ValidationFailed) as caught:
            ops.create_class(school=a1, grade=1, number=1, head_teacher_id=world.user(user).id)
        assert caught.value.field == "head_teacher_id"
        db.session.rollback()
        a1 = db.session.get(School, world.school_a1.id)
    created = ops.create_class(
        school=a1, grade=1, number=1, head_teacher_id=world.user("officer_a1").id
    )
    db.session.commit()
    assert created.head_teacher_id == world.user("officer_a1").id


def test_clearing_the_head_teacher_and_deactivating_a_class(db, world):
    c = db.session.get(SchoolClass, world.class_a1.id)
    ops.update_class(c, head_teacher_id=None, active=True)
    ops.set_class_active(c, False)
    db.session.commit()
    c = db.session.get(SchoolClass, world.class_a1.id)
    assert c.head_teacher_id is None and c.active is False


# ---------------------------------------------------------------- leadership groups


def test_leadership_members_belong_to_exactly_one_tier_and_keep_their_order(db, world):
    district = world.district
    first = ops.add_leadership_member(tier=district, name=" 王局长 ", group_role="leader")
    second = ops.add_leadership_member(tier=district, name="李主任", group_role="member")
    on_school = ops.add_leadership_member(
        tier=db.session.get(School, world.school_a1.id), name="张校长", group_role="leader"
    )
    db.session.commit()
    assert first.name == "王局长"
    assert (first.district_id, first.alliance_id, first.school_id) == (district.id, None, None)
    assert on_school.tier == "school" and on_school.school_id == world.school_a1.id
    assert second.sort_order == first.sort_order + 1


def test_unknown_group_role_is_refused(db, world):
    with pytest.raises(ValidationFailed):
        ops.add_leadership_member(tier=world.district, name="某人", group_role="boss")
    assert count(db, LeadershipMember) == 0


def test_leadership_group_lists_the_leader_first(db, world):
    from app.org.queries import leadership_of

    alliance = db.session.get(Alliance, world.alliance_a.id)
    ops.add_leadership_member(tier=alliance, name="成员甲", group_role="member")
    ops.add_leadership_member(tier=alliance, name="副组长乙", group_role="deputy")
    ops.add_leadership_member(tier=alliance, name="组长丙", group_role="leader")
    db.session.commit()
    names = [m.name for m in leadership_of(alliance)]
    assert names == ["组长丙", "副组长乙", "成员甲"]
