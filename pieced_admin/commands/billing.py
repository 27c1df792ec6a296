"""`pieced-admin billing …`: preview, issue, void, mark-paid, pdf (SPEC §5)."""

from __future__ import annotations

import sys
from datetime import date

import click
from flask.cli import AppGroup

from ..billing.days import Period
from ..billing.money import format_chf, fmt_price, fmt_quantity
from ..cli import CliError, cli_errors, echo_json
from ..extensions import db
from ..integrations.litellm import LiteLLMError

billing = AppGroup("billing", help="Preview, issue, void and collect invoices.")


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} must be a date like 2026-11-21, got {text!r}") from None


def translate_errors():
    """The billing commands' errors: bad input exit 2, LiteLLM or the PDF renderer failing exit 1."""
    from ..billing.facts import UnknownOrgError
    from ..billing.issuing import BillingInputError
    from ..billing.pdf import PdfRenderError

    return cli_errors(bad_input=(UnknownOrgError, BillingInputError), outside=(LiteLLMError, PdfRenderError))


def _print_lines(lines, language="en") -> None:
    for line in lines:
        click.echo(
            f"  {line.tenant_name:<22} {line.kind:<12} {fmt_quantity(line.quantity):>10} × "
            f"{fmt_price(line.unit_price_chf):>8} = {format_chf(line.amount_chf):>10}  {line.description}"
        )


def _print_totals(net, vat_rate, vat, total, currency, vat_note) -> None:
    vat_text = f"VAT {vat_rate} % {format_chf(vat)}" if not vat_note else vat_note
    click.echo(f"  Net {format_chf(net)} · {vat_text} · Total {currency} {format_chf(total)}")


@billing.command("preview")
@click.option("--org", "org_id", required=True, help="Zitadel org id, e.g. org-acme.")
@click.option("--month", required=True, metavar="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def preview(org_id: str, month: str, as_json: bool) -> None:
    """Compute an org's invoices for a month without saving anything."""
    from ..billing.issuing import preview_invoices
    from ..billing.serialize import draft_json

    period = parse_period(month)
    with translate_errors():
        items = preview_invoices(org_id, period)
    db.session.rollback()  # a preview writes nothing (not even a first-read org config)
    if as_json:
        echo_json({"invoices": [
            draft_json(i.draft, i.entity, warnings=[f"already issued as {i.existing.number}"] if i.existing else [])
            for i in items
        ]})
        return
    for item in items:
        d = item.draft
        state = f"already issued as {item.existing.number}" if item.existing else "preview"
        click.echo(f"{d.org_id} · {d.period.key} · {item.entity.name} ({item.entity.code}) · {state}")
        _print_lines(d.lines)
        _print_totals(d.net_chf, d.vat_rate, d.vat_chf, d.total_chf, d.currency, d.vat_note)
        for warning in d.warnings:
            click.echo(f"  Warning: {warning}")


@billing.command("issue")
@click.option("--org", "org_id", required=True, help="Zitadel org id, e.g. org-acme.")
@click.option("--month", required=True, metavar="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def issue(org_id: str, month: str, as_json: bool) -> None:
    """Issue an org's invoices for a month (idempotent: an issued month returns its invoices)."""
    from ..billing.issuing import issue_invoices
    from ..billing.serialize import invoice_json

    period = parse_period(month)
    with translate_errors():
        result = issue_invoices(org_id, period)
        db.session.commit()
    from ..billing.collection import collect_after_issue

    notes = collect_after_issue(result.issued)
    if as_json:
        echo_json({"invoices": [invoice_json(inv, warnings=result.warnings if inv in result.issued else [])
                                for inv in result.invoices]})
        return
    for inv in result.issued:
        click.echo(f"Issued {inv.number} for {org_id} {period.key}: {inv.currency} {format_chf(inv.total_chf)}, "
                   f"due {inv.due_date.isoformat()}")
    for inv in result.existing:
        click.echo(f"Already issued: {inv.number} ({inv.status}) for {org_id} {period.key}; nothing created")
    for draft in result.skipped:
        click.echo(f"Not issued: net 0.00 for {org_id} {period.key} (entity {draft.billing_entity_id})")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}")
    for note in notes:
        click.echo(note)


@billing.command("void")
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is voided (kept with it).")
def void(number: str, reason: str) -> None:
    """Void an unpaid invoice: issues its full credit note (its number stays used; the month can be issued again)."""
    from ..billing.credit_notes import credit_notes_of, send_credit_note_email
    from ..billing.issuing import void_invoice

    from ..integrations.stripe_pay import PaymentProviderError
    from ..payments.charging import cancel_in_flight

    with translate_errors():
        invoice = void_invoice(number, reason)
        db.session.commit()
    notes = [n for n in credit_notes_of(invoice) if n.kind == "void"]
    cancelled = f", cancelled by credit note {notes[-1].number}" if notes else ""
    click.echo(f"Voided {invoice.number}{cancelled}: {invoice.void_reason}")
    try:
        stopped = cancel_in_flight(invoice.number)
    except PaymentProviderError as exc:  # not configured: say what to do, the void stands
        stopped = f"its card payment may still be open at Stripe ({exc}): cancel it in the Stripe dashboard"
    if stopped:
        click.echo(stopped)
    for note in notes:
        for line in send_credit_note_email(note.id).notes:
            click.echo(line)


@billing.command("credit")
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is credited (printed on the credit note).")
@click.option("--amount", default=None, metavar="NET", help="The net to credit (default: everything that remains).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (SPEC §5).")
def credit(number: str, reason: str, amount: str | None, as_json: bool) -> None:
    """Issue a credit note on an invoice (default: everything that remains; --amount is the net to credit)."""
    from ..billing.credit_notes import credit_note_json, issue_credit_note, parse_amount, send_credit_note_email

    with translate_errors():
        net = parse_amount(amount) if amount is not None else None
        if amount is not None and net is None:
            raise CliError("--amount must be a number like 12.50")
        note = issue_credit_note(number, reason, amount=net)
        db.session.commit()
    invoice = note.invoice
    mail = send_credit_note_email(note.id)
    if as_json:
        echo_json(credit_note_json(note, invoice))
        for line in mail.notes:
            click.echo(line, err=True)
        return
    data = credit_note_json(note, invoice)
    click.echo(f"Issued credit note {note.number} on {invoice.number}: net {format_chf(note.net_chf)}, "
               f"VAT {format_chf(note.vat_chf)}, total {note.currency} {format_chf(note.total_chf)}; "
               f"balance of {invoice.number} now {format_chf(data['invoice']['balance_chf'])}")
    for line in mail.notes:
        click.echo(line)


@billing.command("mark-paid")
@click.argument("number")
@click.option("--paid-on", default=None, metavar="YYYY-MM-DD", help="Date of the payment (default: today).")
@click.option("--reference", default=None, help="Bank reference of the payment.")
@click.option("--method", default="bank_transfer", show_default=True,
              type=click.Choice(["bank_transfer", "card", "other"]))
@click.option("--amount", default=None, metavar="CHF", help="Amount received (default: the whole balance due).")
def mark_paid_cmd(number: str, paid_on: str | None, reference: str | None, method: str,
                  amount: str | None) -> None:
    """Record a payment of an issued invoice: its balance due, or the amount given."""
    from decimal import Decimal, InvalidOperation

    from ..billing.issuing import mark_paid
    from ..payments.ledger import balance_of

    day = parse_day(paid_on, "--paid-on") if paid_on else None
    value = None
    if amount is not None:
        try:
            value = Decimal(amount.replace("'", "").replace("’", ""))
        except InvalidOperation:
            raise CliError(f"--amount must be an amount like 150.00, got {amount!r}") from None
        if not value.is_finite():
            raise CliError(f"--amount must be an amount like 150.00, got {amount!r}")
    with translate_errors():
        invoice = mark_paid(number, paid_on=day, reference=reference, method=method, amount=value)
        balance = balance_of(invoice).balance
        db.session.commit()
    if invoice.status == "paid":
        click.echo(f"Marked {invoice.number} paid ({invoice.currency} {format_chf(invoice.total_chf)})"
                   + (f"; {invoice.currency} {format_chf(-balance)} to the org's credit" if balance < 0 else ""))
    else:
        click.echo(f"Recorded {invoice.currency} {format_chf(value)} on {invoice.number}: partly paid, "
                   f"balance due {invoice.currency} {format_chf(balance)}")


@billing.command("pdf")
@click.argument("number")
@click.option("-o", "--output", required=True, metavar="FILE", help="Where to write the PDF ('-' for stdout).")
def pdf(number: str, output: str) -> None:
    """Write the stored PDF of an invoice, byte for byte as issued."""
    from ..billing.issuing import get_invoice
    from ..models import InvoiceDocument

    with translate_errors():
        invoice = get_invoice(number)
    document = db.session.get(InvoiceDocument, invoice.id)
    if document is None:
        raise CliError(f"invoice {invoice.number} has no stored PDF")
    if output == "-":
        sys.stdout.buffer.write(document.content)
        sys.stdout.buffer.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(document.content)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    void = ""
    if invoice.status == "void":
        from ..billing.credit_notes import credit_notes_of

        cancelled = [n.number for n in credit_notes_of(invoice) if n.kind == "void"]
        void = " — VOID" + (f", cancelled by credit note {cancelled[-1]}" if cancelled else "")
    click.echo(f"Wrote {invoice.number} ({len(document.content)} bytes, sha256 {document.sha256[:12]}…) to {output}"
               f"{void}", err=True)


@billing.command("verify")
@click.option("--month", default=None, metavar="YYYY-MM", help="Only invoices of this month (default: all).")
def verify(month: str | None) -> None:
    """Recompute issued invoices from the event log and check their stored PDFs; print what differs."""
    from ..billing.verify import verify_credit_notes, verify_invoices

    period = parse_period(month) if month else None
    with translate_errors():
        checks = verify_invoices(period)
        note_checks = verify_credit_notes(period)
    db.session.rollback()  # a check writes nothing
    differing = [c for c in checks if not c.ok]
    notes_differing = [c for c in note_checks if not c.ok]
    for check in [*checks, *note_checks]:
        for note in check.notes:
            click.echo(f"{check.number} ({check.org_id} {check.period}): note: {note}")
        for difference in check.differences:
            click.echo(f"{check.number} ({check.org_id} {check.period}): {difference}")
    if note_checks:
        click.echo(f"Checked {len(note_checks)} credit note(s): {len(note_checks) - len(notes_differing)} match, "
                   f"{len(notes_differing)} differ.")
    click.echo(f"Checked {len(checks)} invoice(s): {len(checks) - len(differing)} match, {len(differing)} differ.")
    if differing or notes_differing:
        raise click.exceptions.Exit(1)


COMMANDS = (billing,)
