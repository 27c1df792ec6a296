"""`pieced-admin demo`: load believable demo data."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import with_appcontext


@click.command("demo")
@click.option("--today", "today_text", default=None, metavar="YYYY-MM-DD",
              help="Pretend today is this date (default: today in the billing time zone).")
@with_appcontext
def demo(today_text: str | None) -> None:
    """Load demo orgs, tenants, events, usage and pricing (does nothing if they are there)."""
    from ..cli import CliError
    from ..demo import demo_loaded, load_demo

    today = None
    if today_text:
        try:
            today = date.fromisoformat(today_text)
        except ValueError:
            raise CliError(f"--today must be a date like 2026-11-21, got {today_text!r}") from None
    if demo_loaded():
        click.echo("Demo data is already loaded; nothing changed.")
        return
    summary = load_demo(today=today)
    click.echo(f"Loaded demo data: {summary}")


COMMANDS = (demo,)
