"""Top-level CLI commands: user, token, ledger check and the demo district."""

from __future__ import annotations

import sys

import click
from flask import Flask
from sqlalchemy import select

from app.audit.operations import acting_as
from app.extensions import db


def register_commands(app: Flask) -> None:
    app.cli.add_command(user_group)
    app.cli.add_command(token_group)
    app.cli.add_command(ledger_group)
    app.cli.add_command(org_group)
    app.cli.add_command(i18n_group)
    from app.demo import demo_command
    from app.registry.cli import registry_group

    app.cli.add_command(demo_command)
    app.cli.add_command(registry_group)
    from app.points.cli import points_group

    app.cli.add_command(points_group)


@click.group("user", help="Manage staff accounts.")
def user_group() -> None:
    pass


@user_group.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["district_admin", "alliance_lead", "school_officer", "teacher", "clerk"]),
)
@click.option("--district", "district_id", type=int, help="District id (default: the only one).")
@click.option("--alliance", "alliance_id", type=int, help="Alliance id (alliance_lead).")
@click.option("--school", "school_id", type=int, help="School id (school roles).")
@click.option("--name", "display_name", help="Display name (default: the username).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def user_create(username, role, district_id, alliance_id, school_id, display_name, password):
    """Make a user with ROLE and its scope."""
    from app.auth.operations import create_user
    from app.common import DomainError
    from app.org.models import Alliance, District, School

    if district_id is None:
        if school_id:
            school = db.session.get(School, school_id)
            district_id = school.district_id if school else None
        elif alliance_id:
            alliance = db.session.get(Alliance, alliance_id)
            district_id = alliance.district_id if alliance else None
        else:
            ids = db.session.scalars(select(District.id)).all()
            district_id = ids[0] if len(ids) == 1 else None
    if district_id is None:
        raise click.UsageError("Name the district with --district (or the school/alliance).")
    try:
        with acting_as("cli"):
            user = create_user(
                username=username,
                display_name=display_name or username,
                role=role,
                password=password,
                district_id=district_id,
                alliance_id=alliance_id,
                school_id=school_id,
            )
            db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    click.echo(f"created user {user.username} (id {user.id}, {user.role})")


@click.group("token", help="API tokens.")
def token_group() -> None:
    pass


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="What the token is for.")
def token_create(username, name):
    """Print a new API token for USERNAME (the last line of the output)."""
    from app.auth.models import User
    from app.auth.operations import create_token, normalise_username

    user = db.session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username!r}")
    with acting_as("cli"):
        _token, secret = create_token(user, name)
        db.session.commit()
    click.echo(f"token for {user.username} ({user.role}); it is shown only once:")
    click.echo(secret)


@click.group("ledger", help="Ledger integrity.")
def ledger_group() -> None:
    pass


@ledger_group.command("check")
def ledger_check():
    """Re-add every ledger from its entries; exit 1 and name each mismatch."""
    from app.database import read_only
    from app.ledgers import run_checks

    with read_only():
        results = run_checks()
        db.session.rollback()
    failed = False
    for result in results:
        status = "ok" if not result.problems else f"{len(result.problems)} mismatch(es)"
        click.echo(f"{result.name}: {result.checked} checked, {status}")
        for problem in result.problems:
            failed = True
            click.echo(f"  MISMATCH {result.name}: {problem}")
    sys.exit(1 if failed else 0)


@click.group("org", help="The organisation's top tier.")
def org_group() -> None:
    pass


@org_group.command("create-district")
@click.argument("name")
@click.option("--code", required=True, help="Short ASCII code, e.g. erqi.")
@click.option("--city", help="City, e.g. 郑州市.")
def org_create_district(name, code, city):
    """Create a district (the first step of a new installation)."""
    from app.org.operations import create_district

    with acting_as("cli"):
        district = create_district(
            name=name, code=code, city=city, aid_centre_name=f"{name}学生资助管理中心"
        )
        db.session.commit()
    click.echo(f"created district {district.name} (id {district.id})")


@click.group("i18n", help="Translation catalogs.")
def i18n_group() -> None:
    pass


@i18n_group.command("update")
def i18n_update():
    """Extract strings from app/ and templates/ and merge them into the zh_CN catalog."""
    from app.i18n_catalog import CATALOG_LOCALE, untranslated, update

    update(CATALOG_LOCALE)
    missing = untranslated(CATALOG_LOCALE)
    click.echo(f"catalog updated; {len(missing)} string(s) still need a translation")


@i18n_group.command("check")
def i18n_check():
    """Exit 1 if any string in the code lacks a zh_CN translation."""
    from app.i18n_catalog import CATALOG_LOCALE, untranslated

    missing = untranslated(CATALOG_LOCALE)
    for msgid in missing:
        click.echo(f"untranslated: {msgid!r}")
    click.echo(f"{len(missing)} untranslated string(s)")
    sys.exit(1 if missing else 0)
