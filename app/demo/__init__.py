"""`flask --app app demo [--reset] [--if-empty]`: load the deterministic demo district.

Each domain adds its demo data through a loader in ``LOADERS``; they run in that order after
the organisation and accounts, so every page has something to show.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import current_app
from sqlalchemy import func, select, text

from app.audit.operations import acting_as
from app.extensions import db

DemoLoader = Callable[[dict], None]


def loaders() -> list[DemoLoader]:
    """The domains' demo loaders, in the order they must run."""
    from app.demo.aid import load_aid
    from app.demo.counter import load_counter
    from app.demo.donations import load_donations
    from app.demo.points import load_points
    from app.demo.roster import load_roster

    # The aid demo certifies students of the roster, and points read both; the counter serves
    # children with the points earned and the goods received before; keep this order.
    return [load_donations, load_roster, load_aid, load_points, load_counter]


def database_has_data() -> bool:
    from app.org.models import District

    return bool(db.session.scalar(select(func.count()).select_from(District)))


def wipe_all_data() -> None:
    """Delete every row of every table (ids restart), keeping the schema and its version."""
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        db.session.execute(text("UPDATE alliance SET lead_school_id = NULL"))
        for table in tables:
            db.session.execute(table.delete())
    db.session.flush()


@click.command("demo")
@click.option("--reset", is_flag=True, help="Delete all existing data first.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if data exists.")
def demo_command(reset: bool, if_empty: bool) -> None:
    """Load the demo district 二七区 (deterministic; demo passwords printed at the end)."""
    from app.demo.org import load_org

    if database_has_data():
        if if_empty:
            click.echo("The database already has data; demo not loaded (use --reset to replace).")
            return
        if not reset:
            raise click.ClickException(
                "The database already has data. Use --reset to delete it and load the demo."
            )
    with acting_as("demo"):
        if reset:
            wipe_all_data()
        ctx: dict = {}
        load_org(ctx)
        for loader in loaders():
            loader(ctx)
        db.session.commit()
    password = current_app.config["DEMO_PASSWORD"]
    click.echo(
        f"Loaded the demo district {ctx['district'].name}: "
        f"{len(ctx['alliances'])} alliances, {len(ctx['schools'])} schools, "
        f"{ctx['class_count']} classes."
    )
    click.echo("Demo accounts (demo only — change or disable them before real use):")
    for user in ctx["users"]:
        click.echo(f"  {user.username:<16} {password}   {user.role_label} · {user.scope_label}")
