"""`pieced-admin bank import FILE [--dry-run] [--json]`: record and match a camt.054/camt.053 (SPEC §5, §6)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from ..billing.money import format_chf
from ..cli import CliError, cli_errors, echo_json
from ..extensions import db

bank = AppGroup("bank", help="Bank files: import camt.054 / camt.053 and match their payments.")


@bank.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def import_cmd(file: Path, dry_run: bool, as_json: bool) -> None:
    """Read a camt.054 or camt.053 file and record and match its booked credit entries."""
    from ..payments.bank_import import BankFileError, import_bank_file

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    with cli_errors(bad_input=(BankFileError,)):
        try:
            result = import_bank_file(data, file.name, dry_run=dry_run)
        except BankFileError as exc:
            raise BankFileError(f"{file.name}: {exc}; nothing was recorded") from None
        db.session.commit()
    if as_json:
        echo_json(result.as_json())
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for line in result.lines:
        if line.result == "ignored":
            continue
        click.echo(f"{line.booked_on.strftime('%d.%m.%Y') if line.booked_on else '-':10}  "
                   f"{format_chf(line.amount_chf):>12}  {line.result:9}  {line.invoice or '-':14}  "
                   f"{line.reference or 'no reference'}" + (f"  ({line.note})" if line.note else ""))
    click.echo(result.summary())


COMMANDS = (bank,)
