"""Aid programmes and grants: who manages what, default amounts, batches, totals, exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.common import ValidationFailed, local_today
from app.registry import grants
from app.registry.forms_aid import parse_yuan
from app.registry.models import AidGrant, AidProgramme
from tests.conftest import login, post_form
from tests.registry.aid_support import draft, drive, make_student

SUBSIDY = {
    "primary_boarding": 125000,
    "primary_day": 62500,
    "lower_secondary_boarding": 150000,
    "lower_secondary_day": 75000,
}


def as_user(app, world, key):
    client = app.test_client()
    client.set_cookie("aixin_lang", "en")
    assert login(client, world.user(key)).status_code == 302
    return client


@pytest.fixture
def subsidy(world, db):
    programme = grants.create_programme(
        world.district.id,
        grants.ProgrammeInput(
            name="义务教育家庭经济困难学生生活补助", aid_mode="government", amounts_fen=SUBSIDY
        ),
        user=world.user("admin"),
    )
    db.session.commit()
    return programme


def test_parse_yuan():
    assert parse_yuan("1,250") == 125000
    assert parse_yuan("¥625.5") == 62550
    assert parse_yuan(" 0.01 ") == 1
    assert parse_yuan("") is None
    for bad in ("0", "-5", "1.001", "abc", "1e3x", "NaN", "Infinity", "2000000"):
        with pytest.raises(ValueError):
            parse_yuan(bad)


def test_the_district_admin_manages_programmes(app, world, db):
    admin = as_user(app, world, "admin")
    response = post_form(
        admin,
        "/aid/programmes/new",
        {
            "name": "爱心企业助学金",
            "aid_mode": "social",
            "primary_day": "500",
            "primary_boarding": "1,000.00",
            "active": "y",
        },
    )
    assert response.status_code == 302
    programme = db.session.scalar(select(AidProgramme))
    assert programme.amounts_fen == {"primary_day": 50000, "primary_boarding": 100000}
    assert programme.district_id == world.district.id and programme.aid_mode == "social"
    again = post_form(
        admin, "/aid/programmes/new", {"name": "爱心企业助学金", "aid_mode": "social"}
    )
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    bad = post_form(
        admin, "/aid/programmes/new", {"name": "x", "aid_mode": "social", "primary_day": "-1"}
    )
    assert bad.status_code == 422
    edit = post_form(
        admin,
        f"/aid/programmes/{programme.id}/edit",
        {"name": "爱心企业助学金", "aid_mode": "social"},
    )
    assert edit.status_code == 302
    db.session.expire_all()
    programme = db.session.get(AidProgramme, programme.id)
    assert programme.active is False and programme.amounts_fen == {}
    # Officers read the list; nobody else manages programmes, and other districts do not see it.
    officer = as_user(app, world, "officer_a1")
    assert "爱心企业助学金" in officer.get("/aid/programmes").get_data(as_text=True)
    assert officer.get("/aid/programmes/new").status_code == 404
    assert (
        as_user(app, world, "admin_other").get(f"/aid/programmes/{programme.id}/edit").status_code
        == 404
    )
    for key in ("teacher_a1", "clerk_a1", "lead_a"):
        assert as_user(app, world, key).get("/aid/programmes").status_code == 404


def test_default_amount_by_stage_and_boarding(world, db, subsidy, make_class):
    primary = make_student(world.school_a1, world.class_a1, boarding=True)
    day = make_student(world.school_a1, world.class_a1)
    grade7 = make_class(world.school_a1, grade=7, number=1)
    secondary = make_student(world.school_a1, grade7, boarding=True)
    secondary_day = make_student(world.school_a1, grade7)
    no_class = make_student(world.school_a1, None)
    assert grants.default_amount(subsidy, primary) == 125000
    assert grants.default_amount(subsidy, day) == 62500
    assert grants.default_amount(subsidy, secondary) == 150000
    assert grants.default_amount(subsidy, secondary_day) == 75000
    assert grants.default_amount(subsidy, no_class) == 62500  # the school is a primary school
    world.school_a1.stage = "nine_year"
    db.session.commit()
    assert grants.default_amount(subsidy, no_class) is None


def test_the_officer_records_a_grant_with_the_default_amount(app, world, db, subsidy):
    student = make_student(world.school_a1, world.class_a1, boarding=True)
    officer = as_user(app, world, "officer_a1")
    today = local_today().isoformat()
    page = officer.get(f"/aid/schools/{world.school_a1.id}/grants/new")
    assert page.status_code == 200 and 'data-stage="primary_boarding"' in page.get_data(
        as_text=True
    )
    data = {
        "student_id": student.id,
        "programme_id": subsidy.id,
        "paid_on": today,
        "school_year": grants.school_year_of(local_today()),
        "funding_source": "中央财政",
    }
    assert (
        post_form(officer, f"/aid/schools/{world.school_a1.id}/grants/new", data).status_code == 302
    )
    grant = db.session.scalar(select(AidGrant))
    assert grant.amount_fen == 125000 and grant.created_by_id == world.user("officer_a1").id
    post_form(officer, f"/aid/schools/{world.school_a1.id}/grants/new", {**data, "amount": "300.5"})
    assert db.session.scalar(select(func.max(AidGrant.amount_fen))) == 125000
    assert db.session.scalar(select(func.min(AidGrant.amount_fen))) == 30050


@pytest.mark.parametrize(
    "change, field",
    [
        ({"paid_on": "FUTURE"}, "paid_on"),
        ({"amount": "0"}, "amount"),
        ({"student_id": "OTHER"}, "student_id"),
        ({"programme_id": ""}, "programme_id"),
    ],
)
def test_a_bad_grant_is_refused(app, world, db, subsidy, change, field):
    student = make_student(world.school_a1, world.class_a1)
    stranger = make_student(world.school_a2, world.class_a2)
    data = {
        "student_id": student.id,
        "programme_id": subsidy.id,
        "amount": "100",
        "paid_on": local_today().isoformat(),
        "school_year": grants.school_year_of(local_today()),
    }
    for key, value in change.items():
        if value == "FUTURE":
            value = (local_today() + timedelta(days=1)).isoformat()
        if value == "OTHER":
            value = stranger.id
        data[key] = value
    response = post_form(
        as_user(app, world, "officer_a1"), f"/aid/schools/{world.school_a1.id}/grants/new", data
    )
    assert response.status_code == 422, field
    assert db.session.scalar(select(func.count()).select_from(AidGrant)) == 0


def test_only_the_schools_officer_records(world, db, subsidy):
    student = make_student(world.school_a1, world.class_a1)
    data = grants.GrantInput(programme_id=subsidy.id, amount_fen=100, paid_on=local_today())
    for key in ("admin", "officer_a2", "teacher_a1", "clerk_a1"):
        with pytest.raises(grants.NotAllowed):
            grants.record_grant(world.school_a1, student.id, data, user=world.user(key))
    # A programme of another district is not a choice.
    foreign = grants.create_programme(
        world.other_district.id,
        grants.ProgrammeInput(name="外区项目", aid_mode="social"),
        user=world.user("admin_other"),
    )
    with pytest.raises(ValidationFailed):
        grants.record_grant(
            world.school_a1,
            student.id,
            grants.GrantInput(programme_id=foreign.id, amount_fen=100, paid_on=local_today()),
            user=world.user("officer_a1"),
        )


def _certify(world, name, *, boarding=False):
    student = make_student(world.school_a1, world.class_a1, name=name, boarding=boarding)
    drive(draft(student, world.user("officer_a1")), "confirmed", world)
    return student


def test_batch_for_certified_students_all_or_none(app, world, db, subsidy):
    a = _certify(world, "批量甲", boarding=True)
    b = _certify(world, "批量乙")
    make_student(world.school_a1, world.class_a1, name="未认定")
    officer = as_user(app, world, "officer_a1")
    page = officer.get(
        f"/aid/schools/{world.school_a1.id}/grants/batch?programme_id={subsidy.id}&year=2026"
    )
    html = page.get_data(as_text=True)
    assert "批量甲" in html and "批量乙" in html and "未认定" not in html
    assert 'value="1250.00"' in html and 'value="625.00"' in html
    common = {"programme_id": subsidy.id, "school_year": 2026, "paid_on": "2026-11-20"}
    bad = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/grants/batch",
        {**common, "student_ids": [a.id, b.id], f"amount_{a.id}": "1250", f"amount_{b.id}": "x"},
    )
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(AidGrant)) == 0
    ok = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/grants/batch",
        {**common, "student_ids": [a.id, b.id], f"amount_{a.id}": "1250", f"amount_{b.id}": "625"},
    )
    assert ok.status_code == 302
    amounts = dict(db.session.execute(select(AidGrant.student_id, AidGrant.amount_fen)).all())
    assert amounts == {a.id: 125000, b.id: 62500}


def test_batch_refuses_a_student_of_another_school(world, db, subsidy):
    stranger = make_student(world.school_a2, world.class_a2)
    with pytest.raises(ValidationFailed):
        grants.record_batch(
            world.school_a1,
            [(stranger.id, 100)],
            grants.GrantInput(programme_id=subsidy.id, amount_fen=None, paid_on=local_today()),
            user=world.user("officer_a1"),
        )


def _pay(world, school, student, programme, fen, **kw):
    return grants.record_grant(
        school,
        student.id,
        grants.GrantInput(programme_id=programme.id, amount_fen=fen, paid_on=local_today(), **kw),
        user=world.user(f"officer_{'a1' if school is world.school_a1 else 'a2'}"),
    )


def test_totals_per_programme_and_school(app, world, db, subsidy):
    social = grants.create_programme(
        world.district.id,
        grants.ProgrammeInput(name="助学金", aid_mode="social"),
        user=world.user("admin"),
    )
    s1 = make_student(world.school_a1, world.class_a1)
    s2 = make_student(world.school_a1, world.class_a1)
    s3 = make_student(world.school_a2, world.class_a2)
    _pay(world, world.school_a1, s1, subsidy, 62500)
    _pay(world, world.school_a1, s1, subsidy, 62500)
    _pay(world, world.school_a1, s2, social, 50000)
    _pay(world, world.school_a2, s3, subsidy, 125000)
    db.session.commit()
    year = grants.school_year_of(local_today())
    by_programme = {p.name: t for p, t in grants.totals_by_programme([world.school_a1.id], year)}
    assert (
        by_programme["义务教育家庭经济困难学生生活补助"].count,
        by_programme["义务教育家庭经济困难学生生活补助"].students,
    ) == (2, 1)
    assert by_programme["义务教育家庭经济困难学生生活补助"].amount_fen == 125000
    assert by_programme["助学金"].amount_fen == 50000
    cells = grants.totals_by_school([world.school_a1.id, world.school_a2.id], year)
    assert cells[(world.school_a2.id, subsidy.id)].amount_fen == 125000
    page = as_user(app, world, "officer_a1").get(
        f"/aid/schools/{world.school_a1.id}/grants?year={year}"
    )
    assert '<td class="text-end" data-testid="total-amount">1,750.00</td>' in page.get_data(
        as_text=True
    )
    totals = (
        as_user(app, world, "admin").get(f"/aid/grants/totals?year={year}").get_data(as_text=True)
    )
    assert '<td class="text-end" data-testid="district-total">3,000.00</td>' in totals
    # Alliance lead: the amount per school, no names.
    counts = as_user(app, world, "lead_a").get(f"/aid/counts?year={year}").get_data(as_text=True)
    assert "1,750.00" in counts and "1,250.00" in counts


INJECTIONS = ["=1+2", "+SUM(A1)", "-3+3", "@cmd", "\t=x"]


def test_grant_export_is_escaped_and_audited(app, world, db, subsidy):
    student = make_student(world.school_a1, world.class_a1, name='=HYPERLINK("http://x")')
    for i, text in enumerate(INJECTIONS):
        _pay(world, world.school_a1, student, subsidy, 1000 + i, funding_source=text, note=text)
    db.session.commit()
    year = grants.school_year_of(local_today())
    officer = as_user(app, world, "officer_a1")
    response = post_form(
        officer, f"/aid/schools/{world.school_a1.id}/grants/export", {"format": "csv", "year": year}
    )
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1 + len(INJECTIONS)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t")), cell
        assert row[2] == '\'=HYPERLINK("http://x")'
    assert {row[8] for row in rows[1:]} == {"'" + t.strip() for t in INJECTIONS}
    response = post_form(
        officer,
        f"/aid/schools/{world.school_a1.id}/grants/export",
        {"format": "xlsx", "year": year},
    )
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    values = [
        c for row in sheet.iter_rows(min_row=2, values_only=True) for c in row if isinstance(c, str)
    ]
    assert values and not any(v.startswith(("=", "+", "-", "@", "\t")) for v in values)
    assert sorted({r[5] for r in sheet.iter_rows(min_row=2, values_only=True)}) == [
        10.0,
        10.01,
        10.02,
        10.03,
        10.04,
    ]
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
    ).all()
    assert [(e.object_type, e.changes["format"], e.changes["rows"]) for e in events] == [
        ("aid_grant", "csv", 5),
        ("aid_grant", "xlsx", 5),
    ]
    assert all(
        e.actor_id == world.user("officer_a1").id and e.district_id == world.district.id
        for e in events
    )
    # The district admin exports the whole district; nobody else exports at all.
    admin = as_user(app, world, "admin")
    assert (
        post_form(admin, "/aid/grants/export", {"format": "csv", "year": year}).status_code == 200
    )
    for key in ("teacher_a1", "clerk_a1", "lead_a", "officer_a2", "admin_other"):
        client = as_user(app, world, key)
        assert (
            post_form(
                client, f"/aid/schools/{world.school_a1.id}/grants/export", {"format": "csv"}
            ).status_code
            == 404
        )
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "export")) == 3


def test_edit_and_delete_a_grant(app, world, db, subsidy):
    student = make_student(world.school_a1, world.class_a1)
    grant = _pay(world, world.school_a1, student, subsidy, 1000)
    db.session.commit()
    officer = as_user(app, world, "officer_a1")
    page = officer.get(f"/aid/grants/{grant.id}/edit")
    assert page.status_code == 200 and 'value="10.00"' in page.get_data(as_text=True)
    response = post_form(
        officer,
        f"/aid/grants/{grant.id}/edit",
        {
            "programme_id": subsidy.id,
            "amount": "20",
            "paid_on": local_today().isoformat(),
            "school_year": grants.school_year_of(local_today()),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AidGrant, grant.id).amount_fen == 2000
    assert (
        post_form(as_user(app, world, "officer_a2"), f"/aid/grants/{grant.id}/delete").status_code
        == 404
    )
    assert (
        post_form(as_user(app, world, "admin"), f"/aid/grants/{grant.id}/delete").status_code == 404
    )
    assert post_form(officer, f"/aid/grants/{grant.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AidGrant)) == 0
    deleted = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "delete", AuditEvent.object_type == "aid_grant"
        )
    )
    assert deleted.changes["amount_fen"] == 2000


def test_yuan_formatting():
    assert grants.yuan(125000) == "1,250.00"
    assert grants.yuan(5) == "0.05"
    assert grants.yuan(None) == ""
