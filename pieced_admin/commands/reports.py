"""`pieced-admin reports vat --entity CODE --quarter YYYY-Qn [--json]`: the Swiss VAT return of SPEC §6."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..cli import CliError, echo_json

reports = AppGroup("reports", help="Reports for finance: the Swiss VAT return.")


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


COMMANDS = (reports,)
