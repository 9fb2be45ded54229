"""The flask CLI: demo, user create, token create, org create-district, ledger check, i18n."""

from __future__ import annotations

from sqlalchemy import func, select, text


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_the_policy_alliances_and_one_user_of_every_role(runner, db):
    from app.auth.models import User
    from app.org.models import Alliance, School, SchoolClass

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "aixin-demo-2026" in result.output
    alliances = db.session.scalars(select(Alliance).order_by(Alliance.id)).all()
    assert len(alliances) == 9
    leads = {a.lead_school.name for a in alliances}
    assert leads == {
        "陇西小学",
        "幸福路小学",
        "汝河路小学",
        "淮河东路小学",
        "外国语小学",
        "春晖小学",
        "兴华小学",
        "艺术小学",
        "七十四中",
    }
    assert "二七区中学教育发展共同体学生资助互助联盟" in {a.name for a in alliances}
    for alliance in alliances:
        assert 3 <= len(alliance.schools) <= 5  # the lead plus 2–4 members
    roles = {u.role for u in db.session.scalars(select(User))}
    assert roles == {"district_admin", "alliance_lead", "school_officer", "teacher", "clerk"}
    assert _count(db, SchoolClass) > 300
    assert all(s.supermarket_manager for s in db.session.scalars(select(School)))


def test_demo_refuses_a_database_with_data_and_reset_reloads_identically(runner, db):
    from app.org.models import School

    assert runner.invoke(args=["demo"]).exit_code == 0
    first = [
        (s.id, s.name, s.alliance_id)
        for s in db.session.scalars(select(School).order_by(School.id))
    ]
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code != 0 and "--reset" in refused.output
    skipped = runner.invoke(args=["demo", "--if-empty"])
    assert skipped.exit_code == 0 and "not loaded" in skipped.output
    db.session.remove()
    again = runner.invoke(args=["demo", "--reset"])
    assert again.exit_code == 0, again.output
    second = [
        (s.id, s.name, s.alliance_id)
        for s in db.session.scalars(select(School).order_by(School.id))
    ]
    assert first == second


def test_user_create_and_token_create_work_together(runner, db, client, make_district, make_school):
    district = make_district()
    school = make_school(district)
    result = runner.invoke(
        args=[
            "user",
            "create",
            "zhang.officer",
            "--role",
            "school_officer",
            "--school",
            str(school.id),
            "--password",
            "a long pass phrase",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["token", "create", "zhang.officer"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("axt_")
    from app.auth.models import ApiToken
    from app.auth.sessions import hash_secret

    assert db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))


def test_user_create_refuses_weak_password_and_bad_scope(runner, db, make_district):
    district = make_district()
    weak = runner.invoke(
        args=[
            "user",
            "create",
            "li",
            "--role",
            "district_admin",
            "--district",
            str(district.id),
            "--password",
            "12345678",
        ]
    )
    assert weak.exit_code != 0 and "常见" in weak.output  # the CLI speaks the default locale
    no_school = runner.invoke(
        args=[
            "user",
            "create",
            "li",
            "--role",
            "teacher",
            "--district",
            str(district.id),
            "--password",
            "a long pass phrase",
        ]
    )
    assert no_school.exit_code != 0
    from app.auth.models import User

    assert _count(db, User) == 0


def test_token_create_for_unknown_user_fails(runner):
    result = runner.invoke(args=["token", "create", "ghost"])
    assert result.exit_code != 0


def test_org_create_district(runner, db):
    from app.org.models import District

    result = runner.invoke(args=["org", "create-district", "中原区", "--code", "zhongyuan"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(District.name)) == "中原区"


def test_ledger_check_is_clean_on_the_demo_and_names_a_broken_invariant(runner, db):
    assert runner.invoke(args=["demo"]).exit_code == 0
    clean = runner.invoke(args=["ledger", "check"])
    assert clean.exit_code == 0, clean.output
    assert "organisation: 34 checked, ok" in clean.output
    # Break an invariant behind the operations' back: a lead school outside its alliance.
    db.session.execute(
        text(
            "UPDATE school SET alliance_id = (SELECT id FROM alliance ORDER BY id DESC LIMIT 1) "
            "WHERE id = (SELECT lead_school_id FROM alliance ORDER BY id LIMIT 1)"
        )
    )
    db.session.commit()
    broken = runner.invoke(args=["ledger", "check"])
    assert broken.exit_code == 1
    assert "MISMATCH organisation" in broken.output and "is not a member" in broken.output


def test_demo_has_donations_in_every_state_and_a_consistent_stock_ledger(runner, db):
    from app.donations.models import Pledge, Receipt
    from app.inventory.models import Item, Stocktake, StockTransfer

    assert runner.invoke(args=["demo"]).exit_code == 0
    statuses = set(db.session.scalars(select(Pledge.status)))
    assert statuses == {"pledged", "partly_received", "received", "cancelled"}
    assert db.session.scalar(select(func.count()).where(Pledge.alliance_id.is_not(None))) == 1
    sources = set(db.session.scalars(select(Receipt.source)))
    assert sources == {"pledge", "walk_in", "purchase"}
    numbers = db.session.scalars(
        select(Receipt.certificate_no).where(Receipt.source != "purchase")
    ).all()
    assert all(n and n.startswith("ERQI-") for n in numbers)
    assert db.session.scalar(select(func.count()).select_from(Item)) >= 20
    assert {t.status for t in db.session.scalars(select(StockTransfer))} == {
        "approved",
        "requested",
    }
    assert db.session.scalars(select(Stocktake.status)).all() == ["finalised"]
    check = runner.invoke(args=["ledger", "check"])
    assert check.exit_code == 0 and "stock:" in check.output, check.output
