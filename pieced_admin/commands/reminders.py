"""`pieced-admin reminders send [--today YYYY-MM-DD]`: the daily reminder job of SPEC §6."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..cli import CliError, OutsideSystemError
from .billing import parse_day

reminders = AppGroup("reminders", help="Payment reminders for overdue invoices.")


@reminders.command("send")
@click.option("--today", default=None, metavar="YYYY-MM-DD",
              help="Act as if today were this date (default: today in Europe/Zurich).")
def send(today: str | None) -> None:
    """Send the reminders due today (level 1 at due + 7 days, 2 at + 21, 3 at + 35); never one twice."""
    from ..reminders.services import ReminderError, send_due_reminders

    day = parse_day(today, "--today") if today else None
    try:
        report = send_due_reminders(day)
    except ReminderError as exc:
        raise CliError(str(exc)) from None
    for outcome in report.outcomes:
        click.echo(outcome.line())
    click.echo(f"Reminders {report.today.isoformat()}: {len(report.sent)} sent, {len(report.failed)} failed"
               + ("" if report.outcomes else " (none due)") + ".")
    if report.failed:
        raise OutsideSystemError(
            f"{len(report.failed)} reminder(s) could not be sent (see above); they stay unsent and the next "
            "`pieced-admin reminders send` tries again")


COMMANDS = (reminders,)
