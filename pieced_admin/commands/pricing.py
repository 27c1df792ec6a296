"""`pieced-admin pricing …`: schedule a price version, show the prices of a month (SPEC §5)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..billing.days import Period
from ..cli import CliError, cli_errors, echo_json
from ..extensions import db

pricing = AppGroup("pricing", help="Prices over time: schedule versions, show a month's prices.")


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


@pricing.command("schedule")
@click.option("--from", "month", required=True, metavar="YYYY-MM", help="First month the prices apply to.")
@click.argument("assignments", nargs=-1, metavar="FIELD=VALUE…")
def schedule(month: str, assignments: tuple[str, ...]) -> None:
    """Schedule prices from a month on: FIELD is a platform_pricing column or skill:<skill_id>."""
    from ..billing.prices import PriceVersionError, parse_assignments, schedule_version, version_changes

    period = _period(month)
    with cli_errors(bad_input=(PriceVersionError,)):
        platform, skills = parse_assignments(assignments)
        version = schedule_version(period, platform, skills)
        db.session.commit()
    changes = ", ".join(f"{k}={v}" for k, v in version_changes(version).items())
    click.echo(f"Scheduled prices from {period.key}: {changes}")


@pricing.command("show")
@click.option("--month", default=None, metavar="YYYY-MM", help="Default: this month.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def show(month: str | None, as_json: bool) -> None:
    """The prices in force in a month."""
    from .. import clock
    from ..billing.prices import PLATFORM_FIELDS, prices_for_month, prices_json

    period = _period(month) if month else Period.of(clock.today())
    prices = prices_for_month(period)
    data = prices_json(prices)
    db.session.rollback()
    if as_json:
        echo_json(data)
        return
    click.echo(f"Prices of {period.key}:")
    for f in PLATFORM_FIELDS:
        source = prices.sources.get(f)
        click.echo(f"  {f:<24} {data['platform'][f]:>10}  {'from ' + format(source, '%Y-%m') if source else 'base'}")
    for skill, price in data["skills"].items():
        source = prices.sources.get(f"skill:{skill}")
        click.echo(f"  skill:{skill:<18} {price:>10}  {'from ' + format(source, '%Y-%m') if source else 'base'}")


COMMANDS = (pricing,)
