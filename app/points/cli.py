"""``flask --app app points …``: the monthly allowance and the school-year reset, for cron."""

from __future__ import annotations

import click
from sqlalchemy import select

from app.audit.operations import acting_as
from app.common import DomainError
from app.extensions import db


@click.group("points", help="Points: monthly allowance, school-year reset.")
def points_group() -> None:
    pass


def _schools(school_id: int | None):
    from app.org.models import School

    stmt = select(School).where(School.active.is_(True)).order_by(School.id)
    if school_id is not None:
        stmt = select(School).where(School.id == school_id)
    schools = list(db.session.scalars(stmt))
    if school_id is not None and not schools:
        raise click.ClickException(f"no school {school_id}")
    return schools


@points_group.command("allowance")
@click.option("--month", help="YYYY-MM (default: the current month).")
@click.option("--school", "school_id", type=int, help="One school (default: every open school).")
def allowance_command(month: str | None, school_id: int | None) -> None:
    """Credit the month's allowance once per certified student (safe to run again)."""
    from app.points.allowance import current_month, parse_month, post_monthly_allowance

    try:
        month = parse_month(month or current_month())
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    credited = already = 0
    for school in _schools(school_id):
        with acting_as("cli"):
            try:
                summary = post_monthly_allowance(school, month)
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
        credited += summary.credited
        already += summary.already
        if summary.credited or summary.already:
            click.echo(
                f"{school.name}: {summary.credited} credited ({summary.points} points), "
                f"{summary.already} already had it"
            )
    click.echo(f"{month}: {credited} students credited, {already} already had it")


@points_group.command("year-reset")
@click.option("--year", "school_year", type=int, help="School year (2026 = 2026–2027).")
@click.option("--school", "school_id", type=int, help="One school (default: every open school).")
def year_reset_command(school_year: int | None, school_id: int | None) -> None:
    """Zero the balances of schools whose rule asks for a school-year reset (once a year)."""
    from app.points.operations import reset_school_year

    if school_year is None:
        from app.registry.certification import current_school_year

        school_year = current_school_year()
    total = 0
    for school in _schools(school_id):
        with acting_as("cli"):
            try:
                result = reset_school_year(school, school_year)
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                click.echo(f"{school.name}: {exc.message}")
                continue
        if result is not None:
            total += result
            click.echo(f"{school.name}: {result} balances reset")
    click.echo(f"{school_year}: {total} balances reset")
