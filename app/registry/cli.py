"""``flask registry …``: the registry's scheduled work."""

from __future__ import annotations

from datetime import date

import click

from app.audit.operations import acting_as
from app.extensions import db


@click.group("registry", help="The student registry and aid certification.")
def registry_group() -> None:
    pass


@registry_group.command("close-publicity")
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Treat this day as today (default: today in the deployment's time zone).",
)
def close_publicity_command(on) -> None:
    """Confirm every certification whose 公示 window has ended without an open objection.

    Safe to run as often as you like (e.g. daily from cron): it is idempotent, and the aid pages
    do the same for their viewer's schools whenever they are opened.
    """
    from app.common import local_today
    from app.registry.certification import close_publicity

    today: date = on.date() if on else local_today()
    with acting_as("system"):
        confirmed = close_publicity(today)
        db.session.commit()
    click.echo(f"{confirmed} certification(s) confirmed (notice windows ended before {today}).")
