"""Importing a bank file: every booked credit becomes a ledger row, matched by our QR reference (SPEC §6).

`parse_bank_file` (pure) reads the file; this service decides what each
transaction becomes, locks the invoices it pays (in id order, so two imports
never deadlock), writes the ledger rows and one audit row per real change, and
flushes (the caller commits once). A dry run does the same inside a savepoint
and rolls it back, so what it reports is exactly what the import would do.

Every transaction lands in exactly one bucket: matched, partial, overpaid,
unmatched, reversed, duplicate or ignored (debits, entries not booked, and
camt.053 entries whose details come in a camt.054).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from ..audit import record_audit
from ..billing.qr import invoice_number_hint, qrr_reference, scor_reference
from ..extensions import db
from ..models import Invoice, Payment
from . import ledger
from .bank_files import BankFile, BankFileError, BankTransaction, compact_reference, parse_bank_file

__all__ = ["ImportLine", "ImportResult", "import_bank_file", "BankFileError", "find_invoices_by_reference",
           "RESULTS"]

RESULTS = ("matched", "partial", "overpaid", "unmatched", "reversed", "duplicate")


@dataclass
class ImportLine:
    """One transaction of the file and what became of it."""

    reference: str | None
    amount_chf: Decimal           # negative for a reversal
    booked_on: date | None
    invoice: str | None           # number
    result: str                   # one of RESULTS, or "ignored"
    debtor: str | None = None
    note: str = ""

    def as_json(self) -> dict:
        return {"reference": self.reference, "amount_chf": str(self.amount_chf),
                "booked_on": self.booked_on.isoformat() if self.booked_on else None,
                "invoice": self.invoice, "result": self.result}


@dataclass
class ImportResult:
    file: str
    message: str = ""
    version: str = ""
    dry_run: bool = False
    lines: list[ImportLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for line in self.lines if line.result == result)

    @property
    def recorded(self) -> int:
        return sum(1 for line in self.lines if line.result not in ("duplicate", "ignored"))

    def as_json(self) -> dict:
        """SPEC §5's shape, exactly."""
        return {
            "file": self.file, "entries": len(self.lines),
            "matched": self.count("matched"), "partial": self.count("partial"), "overpaid": self.count("overpaid"),
            "unmatched": self.count("unmatched"), "reversed": self.count("reversed"),
            "duplicates": self.count("duplicate"), "ignored": self.count("ignored"),
            "payments": [line.as_json() for line in self.lines if line.result != "ignored"],
        }

    def summary(self) -> str:
        """One line for a person."""
        parts = [f"{self.count(r)} {r if r != 'duplicate' else 'already recorded'}" for r in RESULTS if self.count(r)]
        ignored = self.count("ignored")
        if ignored:
            parts.append(f"{ignored} ignored (debits, not booked, or detailed in a camt.054)")
        what = "would be recorded" if self.dry_run else "recorded"
        return (f"{self.file}: {len(self.lines)} transaction(s) read, {self.recorded} {what}"
                + (f" — {', '.join(parts)}" if parts else ""))


# --------------------------------------------------------------------------- matching


def _candidates(reference: str) -> bool:
    return reference.startswith("RF") or (reference.isdigit() and len(reference) == 27)


def find_invoices_by_reference(references) -> dict[str, Invoice]:
    """Our invoices (and so their reminders, which print the same reference) by QRR/SCOR reference."""
    refs = {r for r in (compact_reference(x) for x in references) if r and _candidates(r)}
    if not refs:
        return {}
    found: dict[str, Invoice] = {}
    hinted = {ref: invoice_number_hint(ref) for ref in refs}
    numbers = {n for n in hinted.values() if n}
    by_number = {}
    if numbers:
        by_number = {inv.number: inv for inv in db.session.execute(
            sa.select(Invoice).where(Invoice.number.in_(numbers))).scalars()}
    for ref, number in hinted.items():
        invoice = by_number.get(number) if number else None
        if invoice is not None and ref in (qrr_reference(invoice.number), scor_reference(invoice.number)):
            found[ref] = invoice
    missing = refs - found.keys()
    if missing:
        # References whose number cannot be read back (hashed forms): derive every invoice's and compare.
        rows = db.session.execute(sa.select(Invoice.id, Invoice.number)).all()
        ids = {}
        for invoice_id, number in rows:
            for ref in (qrr_reference(number), scor_reference(number)):
                if ref in missing:
                    ids[ref] = invoice_id
        if ids:
            loaded = {inv.id: inv for inv in db.session.execute(
                sa.select(Invoice).where(Invoice.id.in_(set(ids.values())))).scalars()}
            found.update({ref: loaded[i] for ref, i in ids.items()})
    return found


# --------------------------------------------------------------------------- import


def _exists(source_id: str) -> bool:
    return db.session.execute(
        sa.select(Payment.id).where(Payment.source == "bank_file", Payment.source_id == source_id)
    ).first() is not None


def _original_of(tx: BankTransaction) -> Payment | None:
    """The credit a reversal takes back: same reference and amount, from a bank file, not reversed yet."""
    if not tx.reference:
        return None
    reversed_ids = sa.select(Payment.settles_payment_id).where(Payment.kind == "reversal",
                                                               Payment.settles_payment_id.is_not(None))
    return db.session.execute(
        sa.select(Payment).where(Payment.source == "bank_file", Payment.kind == "payment",
                                 Payment.reference == tx.reference, Payment.amount_chf == tx.amount,
                                 Payment.id.not_in(reversed_ids))
        .order_by(Payment.booked_on.desc(), Payment.id.desc()).limit(1)
    ).scalar_one_or_none()


def _record(tx: BankTransaction, file_name: str, **values) -> Payment | None:
    return ledger.record(
        booked_on=tx.booked_on, method="bank_transfer", source="bank_file", source_id=tx.source_id,
        reference=tx.reference, currency=tx.currency, debtor_name=tx.debtor_name, file_name=file_name,
        note=values.pop("note", None) or (tx.remittance[:500] if tx.remittance else None), **values)


def _apply(bank_file: BankFile, file_name: str) -> list[ImportLine]:
    txs = bank_file.transactions
    matches = find_invoices_by_reference(t.reference for t in txs if t.booked and t.credit and not t.reversal)
    # Lock every invoice the file pays, in id order, before reading a balance.
    locked: dict[int, Invoice] = {}
    for invoice_id in sorted({inv.id for inv in matches.values()}):
        locked[invoice_id] = ledger.lock_invoice(invoice_id)
    lines: list[ImportLine] = []
    for tx in txs:
        signed = -tx.amount if not tx.credit else tx.amount
        line = ImportLine(reference=tx.reference, amount_chf=signed, booked_on=tx.booked_on, invoice=None,
                          result="ignored", debtor=tx.debtor_name)
        lines.append(line)
        if not tx.booked:
            line.note = f"not booked ({tx.status or 'no status'})"
            continue
        if tx.deferred_to:
            line.note = f"its transactions come in the {tx.deferred_to}"
            continue
        if not tx.credit and not tx.reversal:
            line.note = "debit"
            continue
        if tx.booked_on is None:
            raise BankFileError(f"entry {tx.entry_index} is booked but has no booking date")
        if _exists(tx.source_id):
            line.result = "duplicate"
            continue
        if not tx.credit:  # the reversal of a credit: take back what the original paid
            original = _original_of(tx)
            invoice = locked.get(original.invoice_id) if original is not None and original.invoice_id else None
            if original is not None and original.invoice_id and invoice is None:
                invoice = locked[original.invoice_id] = ledger.lock_invoice(original.invoice_id)
            payment = _record(tx, file_name, amount=-tx.amount, kind="reversal", invoice=invoice,
                              org_id=original.zitadel_org_id if original is not None else None,
                              settles=original.id if original is not None else None)
            if original is None:
                line.result, line.note = "unmatched", "reversal of a payment not in the ledger"
                continue
            line.result, line.invoice = "reversed", invoice.number if invoice is not None else None
            if invoice is not None:
                ledger.settle(invoice, payment)
                record_audit("invoice.payment_reversed", "invoice", invoice.number,
                             after={"amount_chf": payment.amount_chf, "source_id": tx.source_id,
                                    "balance_chf": ledger.balance_of(invoice).balance, "status": invoice.status})
            continue
        invoice = matches.get(tx.reference) if tx.reference and not tx.reversal else None
        if invoice is not None and invoice.currency != tx.currency:
            line.note = f"in {tx.currency}, the invoice is in {invoice.currency}"
            invoice = None
        if invoice is None:
            note = ("the bank returned one of our outgoing payments" if tx.reversal else
                    "no invoice of ours carries this reference" if tx.reference else "no reference")
            _record(tx, file_name, amount=tx.amount, kind="payment",
                    note=f"{note}; {tx.remittance}" if tx.remittance else note)
            line.result, line.note = "unmatched", note
            continue
        invoice = locked[invoice.id]
        before = ledger.balance_of(invoice)
        payment = _record(tx, file_name, amount=tx.amount, invoice=invoice)
        open_ = invoice.status == "issued"
        if not open_ or tx.amount > before.balance:
            line.result = "overpaid"
        elif tx.amount == before.balance:
            line.result = "matched"
        else:
            line.result = "partial"
        line.invoice = invoice.number
        ledger.settle(invoice, payment)
        after = ledger.balance_of(invoice)
        record_audit("invoice.payment_recorded", "invoice", invoice.number,
                     before={"status": "issued" if open_ else invoice.status, "balance_chf": before.balance},
                     after={"status": invoice.status, "balance_chf": after.balance, "amount_chf": tx.amount,
                            "booked_on": tx.booked_on, "reference": tx.reference, "source_id": tx.source_id,
                            "result": line.result, "file": file_name})
    return lines


def import_bank_file(data: bytes, file_name: str, *, dry_run: bool = False) -> ImportResult:
    """Read a camt.054/053 and record its booked credits; BankFileError (nothing written) for a bad file."""
    bank_file = parse_bank_file(data)
    result = ImportResult(file=file_name, message=bank_file.message, version=bank_file.version, dry_run=dry_run,
                          warnings=list(bank_file.warnings))
    savepoint = db.session.begin_nested()
    try:
        result.lines = _apply(bank_file, file_name)
        if result.recorded and not dry_run:
            record_audit("bank.import", "bank_file", (bank_file.message_id or file_name)[:200],
                         after={**{k: v for k, v in result.as_json().items() if k != "payments"},
                                "message": f"{bank_file.message}.001.{bank_file.version}"})
        db.session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return result
