"""`pieced-admin reports vat --entity CODE --quarter YYYY-Qn [--json]`: the Swiss VAT return of SPEC §6;
`pieced-admin reports journal --entity CODE --quarter YYYY-Qn (--post-to-bexio [--dry-run] | --format F) [--json]`:
the accounting journal, posted to bexio or written out for Banana, Abacus or bexio."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..cli import CliError, OutsideSystemError, cli_errors, echo_json
from ..extensions import db

reports = AppGroup("reports", help="Reports for finance: the Swiss VAT return and the accounting journal.")


@reports.command("vat")
@click.option("--entity", "entity_code", required=True, metavar="CODE", help="The billing entity's code.")
@click.option("--quarter", required=True, metavar="YYYY-Qn", help="The quarter, e.g. 2026-Q4.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def vat(entity_code: str, quarter: str, as_json: bool) -> None:
    """The figures 200, 221, 235, 289, 299 and the VAT per rate (effective method, agreed consideration)."""
    from ..billing.money import format_chf
    from ..reports.gather import VatEntityNotFound, vat_return
    from ..reports.vat import FIGURES, Quarter

    try:
        q = Quarter.parse(quarter)
    except ValueError as exc:
        raise CliError(f"--quarter: {exc}") from None
    try:
        entity, result = vat_return(entity_code, q)
    except VatEntityNotFound as exc:
        raise CliError(f"--entity: {exc}") from None
    if as_json:
        echo_json(result.as_json(entity.code))
        return
    labels = {"200": "Total consideration", "221": "Supplies abroad", "235": "Reductions of consideration",
              "289": "Deductions (221 + 235)", "299": "Taxable turnover"}
    click.echo(f"VAT return {q.key} · {entity.name} ({entity.code}) · effective method, agreed consideration")
    for key in FIGURES:
        click.echo(f"  {key}  {labels[key]:<30} CHF {format_chf(result.figures[key]):>14}")
    for r in result.rates:
        click.echo(f"  rate {r.rate:.2f} %: taxable CHF {format_chf(r.taxable_chf)}, VAT CHF {format_chf(r.vat_chf)}")
    click.echo(f"  VAT total CHF {format_chf(result.vat_total_chf)}")


JOURNAL_FILES = ("banana", "abacus", "bexio")


@reports.command("journal")
@click.option("--entity", "entity_code", required=True, metavar="CODE", help="The billing entity's code.")
@click.option("--quarter", required=True, metavar="YYYY-Qn", help="The quarter, e.g. 2026-Q4 (or a month, YYYY-MM).")
@click.option("--post-to-bexio", is_flag=True, help="Book every row in bexio that bexio does not hold yet (BEXIO_TOKEN).")
@click.option("--dry-run", is_flag=True, help="With --post-to-bexio: show what would be posted; post nothing.")
@click.option("--format", "file_format", type=click.Choice(JOURNAL_FILES), default=None,
              help="Write the journal to stdout as Banana's TXT, Abacus's XML or bexio's request bodies (JSON).")
@click.option("--json", "as_json", is_flag=True, help="With --post-to-bexio: print the result as one JSON object.")
def journal(entity_code: str, quarter: str, post_to_bexio: bool, dry_run: bool, file_format: str | None,
            as_json: bool) -> None:
    """The accounting journal of an entity and period: post it to bexio, or write it in an import format.

    Posting books each row as one manual entry and skips the rows bexio holds already, so it can be
    run again after a failure. Exit 0 when every row is in bexio (or would be, with --dry-run); 1
    when bexio failed or lacks an account (the message names bexio; nothing more is posted); 2 for
    bad input or bexio not configured (nothing contacted).
    """
    from ..billing.money import format_chf
    from ..integrations.bexio import BexioError, BexioNotConfigured
    from ..reports.bexio import JournalNotFound, post_journal_to_bexio

    if post_to_bexio == bool(file_format):
        raise CliError("give either --post-to-bexio or --format banana|abacus|bexio")
    if dry_run and not post_to_bexio:
        raise CliError("--dry-run goes with --post-to-bexio")
    if as_json and not post_to_bexio:
        raise CliError("--json goes with --post-to-bexio (--format bexio writes JSON itself)")
    if file_format:
        _write_journal(entity_code, quarter, file_format)
        return
    with cli_errors(bad_input=(JournalNotFound, BexioNotConfigured), outside=(BexioError,)):
        result = post_journal_to_bexio(entity_code, quarter, dry_run=dry_run)
        db.session.commit()
    if as_json:
        echo_json(result.as_json())
    else:
        for o in result.rows:
            click.echo(f"{o.row.booked_on.strftime('%d.%m.%Y')}  {o.row.document:<20} {o.row.debit}/{o.row.credit}  "
                       f"{format_chf(o.row.amount_chf):>12}  {o.outcome.replace('_', ' ')}"
                       + (f" #{o.bexio_id}" if o.bexio_id else ""))
        if result.ok:
            click.echo(f"bexio: {result.summary()}")
    if not result.ok:
        raise OutsideSystemError(result.summary())


def _write_journal(entity_code: str, quarter: str, file_format: str) -> None:
    from ..reports.services import journal_abacus_xml, journal_banana_txt, journal_bexio_json, journal_view

    view = journal_view(entity_code, quarter)
    if view.error:
        raise CliError(view.error[:1].lower() + view.error[1:].rstrip("."))
    if file_format == "abacus":
        click.get_binary_stream("stdout").write(journal_abacus_xml(view))
        return
    click.echo(journal_banana_txt(view) if file_format == "banana" else journal_bexio_json(view), nl=False)


COMMANDS = (reports,)
