"""`pieced-admin billing run-monthly`: the monthly run of SPEC §5 (attached to the `billing` group)."""

from __future__ import annotations

import sys

import click

from ..billing.days import Period
from ..cli import CliError, OutsideSystemError
from .billing import billing, parse_period


def _parse_shard(text: str | None):
    from ..billing.monthly import Shard

    if text is None:
        return None
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


@billing.command("run-monthly")
@click.option("--month", default=None, metavar="YYYY-MM", help="Month to bill (default: last month, Europe/Zurich).")
@click.option("--shard", default=None, metavar="I/N",
              help="Only shard I of N (I = 0…N-1), e.g. $(JOB_COMPLETION_INDEX)/4 in an Indexed Job.")
@click.option("--dry-run", is_flag=True, help="Show what would be issued; change nothing, send nothing.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, hidden=True,
              help="Orgs per transaction (default: 200, or 6 per CPU when rendering PDFs).")
def run_monthly_cmd(month: str | None, shard: str | None, dry_run: bool, batch_size: int | None) -> None:
    """Issue, charge and e-mail the invoices of every org with auto-invoicing (idempotent; safe to re-run)."""
    from ..billing.monthly import previous_month, run_monthly

    period: Period = parse_period(month) if month is not None else previous_month()
    shard_ = _parse_shard(shard)
    interactive = sys.stdout.isatty()
    bar = None

    def on_start(run_id: int, total: int) -> None:
        nonlocal bar
        what = "Dry run" if dry_run else "Run"
        click.echo(f"{what} #{run_id} for {period.key}{f' shard {shard_.label}' if shard_ else ''}: {total} org(s)")
        if interactive and total:
            bar = click.progressbar(length=total, label="Orgs", show_pos=True, show_eta=True)
            bar.__enter__()

    def on_org(report) -> None:
        if bar is not None:
            bar.update(1)
            if report.failed or dry_run:
                # Keep failures (and a dry run's figures) on screen above the bar.
                click.echo("\n" + report.line())
        else:
            click.echo(report.line())

    try:
        report = run_monthly(period, shard=shard_, dry_run=dry_run, on_start=on_start, on_org=on_org,
                             batch_size=batch_size)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)

    ok = len(report.orgs) - len(report.failed)
    done = "to issue" if dry_run else "issued"
    count = sum(1 for o in report.orgs for d in o.drafts if d["existing"] is None) if dry_run else report.invoices_issued
    click.echo(f"Run #{report.run_id} {period.key}{f' shard {shard_.label}' if shard_ else ''}: "
               f"{len(report.orgs)} org(s), {ok} ok, {len(report.failed)} failed; {count} invoice(s) {done}."
               + (" Nothing was changed (dry run)." if dry_run else ""))
    if report.failed:
        click.echo("Failed orgs:")
        for org in report.failed:
            for error in org.errors:
                click.echo(f"  {org.org_id}: {error}")
        raise OutsideSystemError(
            f"{len(report.failed)} of {len(report.orgs)} org(s) failed (see the summary above); "
            f"fix the cause and run `pieced-admin billing run-monthly --month {period.key}"
            f"{f' --shard {shard_.label}' if shard_ else ''}` again: it only does what is missing")


COMMANDS = ()  # run-monthly is attached to the `billing` group, exported by commands/billing.py
