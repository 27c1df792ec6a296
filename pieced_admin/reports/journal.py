"""The accounting journal of a billing entity and period: PURE, documents in, double-entry rows out.

Every row is balanced by itself (a debit account, a credit account, one positive amount), as
Banana's double-entry transactions table holds them, so the journal of any period balances:
- invoice: debtors / revenue, one row per line kind; debtors / VAT payable for its VAT;
- credit note (a void's too): the same rows reversed;
- payment received: bank / debtors; a refund or reversal (negative): debtors / bank.
Amounts are the documents' own (Decimal, as issued); nothing is recomputed or rounded here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

__all__ = ["Accounts", "JournalDocument", "JournalRow", "journal_rows", "balances", "LINE_KIND_TEXT"]

ZERO = Decimal("0.00")
LINE_KIND_TEXT = {"monthly_fee": "tenant fees", "setup_fee": "setup fees", "skill": "skills", "threema": "Threema messages",
                  "llm": "LLM usage", "credit": "credit"}


@dataclass(frozen=True)
class Accounts:
    """The entity's account numbers (defaults: Swiss SME chart of accounts)."""

    debtors: str = "1100"
    bank: str = "1020"
    vat_payable: str = "2200"
    revenue: str = "3400"
    revenue_by_kind: Mapping[str, str] = field(default_factory=dict)  # line kind → account, else `revenue`

    def revenue_for(self, kind: str) -> str:
        return self.revenue_by_kind.get(kind, self.revenue)


@dataclass(frozen=True)
class JournalDocument:
    kind: str                 # invoice | credit_note | payment
    number: str
    booked_on: date
    text: str                 # who and what, e.g. the customer's name
    revenue: tuple[tuple[str, Decimal], ...] = ()  # (line kind, net) of an invoice or credit note
    vat_chf: Decimal = ZERO
    amount_chf: Decimal = ZERO  # a payment (negative: a refund or reversal)


@dataclass(frozen=True)
class JournalRow:
    booked_on: date
    document: str
    text: str
    debit: str
    credit: str
    amount_chf: Decimal


def _row(doc: JournalDocument, text: str, debit: str, credit: str, amount: Decimal) -> JournalRow | None:
    if amount == 0:
        return None
    if amount < 0:  # a negative line (a discount) or a refund books the other way round
        debit, credit, amount = credit, debit, -amount
    return JournalRow(doc.booked_on, doc.number, text, debit, credit, amount)


def journal_rows(documents: Iterable[JournalDocument], accounts: Accounts) -> list[JournalRow]:
    """The rows of the documents, in booking order (date, then document)."""
    rows: list[JournalRow | None] = []
    for doc in sorted(documents, key=lambda d: (d.booked_on, d.number)):
        if doc.kind == "payment":
            rows.append(_row(doc, f"Payment {doc.text}", accounts.bank, accounts.debtors, doc.amount_chf))
            continue
        if doc.kind not in ("invoice", "credit_note"):
            raise ValueError(f"document {doc.number}: kind must be invoice, credit_note or payment, not {doc.kind!r}")
        sign = 1 if doc.kind == "invoice" else -1
        label = "Invoice" if doc.kind == "invoice" else "Credit note"
        for kind, net in doc.revenue:
            rows.append(_row(doc, f"{label} {doc.text}, {LINE_KIND_TEXT.get(kind, kind)}", accounts.debtors,
                             accounts.revenue_for(kind), sign * net))
        rows.append(_row(doc, f"{label} {doc.text}, VAT", accounts.debtors, accounts.vat_payable, sign * doc.vat_chf))
    return [r for r in rows if r is not None]


def balances(rows: Iterable[JournalRow]) -> dict[str, Decimal]:
    """Each account's balance over the rows: debits positive, credits negative (they sum to 0.00)."""
    out: dict[str, Decimal] = {}
    for r in rows:
        out[r.debit] = out.get(r.debit, ZERO) + r.amount_chf
        out[r.credit] = out.get(r.credit, ZERO) - r.amount_chf
    return dict(sorted(out.items()))
