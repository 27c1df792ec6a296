"""The integrity check reproducible billing promises: recompute issued invoices, check stored PDFs.

For every issued (or paid) invoice, its lines are computed again from the event
log and usage as they stand now, with the prices the invoice was issued at
(read back from its own lines, so a later price change is not reported as a
difference), and compared line by line; its stored PDF must still hash to
`pdf_sha256`. What no longer matches (a late-arriving event, a tenant moved to
another entity, a tampered file) is reported; nothing is changed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal

import sqlalchemy as sa

from ..extensions import db
from ..models import Invoice, InvoiceDocument
from ..usage import late_usage_by_invoice
from .days import Period
from .engine import BillingFacts, InvoiceDraft, compute_invoices
from .facts import load_facts_for_orgs
from .money import fmt_amount, fmt_price, fmt_quantity

LineKey = tuple[str, str, str | None]  # tenant, kind, skill


@dataclass
class InvoiceCheck:
    number: str
    org_id: str
    period: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _as_billed_by(facts: BillingFacts, invoice: Invoice) -> BillingFacts:
    """The facts as they were when `invoice` billed its tenants: those tenants under its entity, the
    tenants billed on other invoices of the month left out (SPEC §3, a tenant's month is billed once)."""
    mine = {line.tenant_name for line in invoice.lines}
    tenants = tuple(replace(t, billing_entity_id=invoice.billing_entity_id) if t.name in mine else t
                    for t in facts.tenants)
    others = {t: billed for t, billed in facts.already_billed.items() if billed[0] != invoice.number}
    return replace(facts, tenants=tenants, already_billed=others)


def _q6(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"))  # quantities are stored as NUMERIC(16,6)


def _compare(invoice: Invoice, draft: InvoiceDraft | None, check: InvoiceCheck, llm_known: bool) -> None:
    stored = {(l.tenant_name, l.kind, l.skill_id): l for l in invoice.lines}
    fresh = {(l.tenant_name, l.kind, l.skill_id): l for l in draft.lines} if draft else {}
    if not llm_known:
        stored = {k: v for k, v in stored.items() if k[1] != "llm"}
        fresh = {k: v for k, v in fresh.items() if k[1] != "llm"}
    for key in sorted(set(stored) | set(fresh), key=lambda k: (k[0], k[1], k[2] or "")):
        tenant, kind, skill = key
        what = f"{tenant} {kind}{' ' + skill if skill else ''}"
        old, new = stored.get(key), fresh.get(key)
        if old is None:
            check.differences.append(f"{what}: new line {fmt_quantity(new.quantity)} × "
                                     f"{fmt_price(new.unit_price_chf)} = {fmt_amount(new.amount_chf)}")
        elif new is None:
            check.differences.append(f"{what}: line {fmt_amount(old.amount_chf)} would no longer be billed")
        else:
            if _q6(old.quantity) != _q6(new.quantity):
                check.differences.append(
                    f"{what}: quantity {fmt_quantity(old.quantity)} → {fmt_quantity(new.quantity)}")
            if old.amount_chf != new.amount_chf:
                check.differences.append(
                    f"{what}: amount {fmt_amount(old.amount_chf)} → {fmt_amount(new.amount_chf)}")
    if llm_known and draft is not None and not check.differences and draft.total_chf != invoice.total_chf:
        check.differences.append(f"total {fmt_amount(invoice.total_chf)} → {fmt_amount(draft.total_chf)}")


def verify_invoices(period: Period | None = None) -> list[InvoiceCheck]:
    """Check every issued or paid invoice (of one month, or all); LiteLLM failures propagate."""
    query = sa.select(Invoice).where(Invoice.status.in_(("issued", "paid"))).order_by(Invoice.number)
    if period is not None:
        query = query.where(Invoice.period_start == period.first_day)
    invoices = db.session.execute(query).scalars().all()
    hashes = dict(db.session.execute(
        sa.select(InvoiceDocument.invoice_id, InvoiceDocument.content)
        .where(InvoiceDocument.invoice_id.in_([i.id for i in invoices]))
    ).all()) if invoices else {}

    late = late_usage_by_invoice([i.id for i in invoices])

    by_month: dict[Period, list[Invoice]] = defaultdict(list)
    for inv in invoices:
        by_month[Period.of(inv.period_start)].append(inv)

    checks: list[InvoiceCheck] = []
    for month, month_invoices in sorted(by_month.items()):
        loaded = load_facts_for_orgs(sorted({i.zitadel_org_id for i in month_invoices}), month,
                                     on_usage_error="raise")
        for inv in month_invoices:
            check = InvoiceCheck(inv.number, inv.zitadel_org_id, month.key)
            facts, _ctx = loaded[inv.zitadel_org_id]
            llm_known = facts.llm_configured
            if not llm_known and any(l.kind == "llm" for l in inv.lines):
                check.notes.append("LLM lines not checked: LiteLLM is not configured")
            drafts = compute_invoices(_as_billed_by(facts, inv))
            draft = next((d for d in drafts if d.billing_entity_id == inv.billing_entity_id), None)
            _compare(inv, draft, check, llm_known)
            if inv.id in late:
                count, tenants = late[inv.id]
                check.differences.append(f"late usage: {count} Threema message(s) of {', '.join(tenants)} "
                                         f"arrived after issue and are not billed")
            content = hashes.get(inv.id)
            if content is None:
                check.differences.append("no stored PDF")
            elif hashlib.sha256(content).hexdigest() != inv.pdf_sha256:
                check.differences.append("stored PDF does not match its recorded SHA-256")
            checks.append(check)
    return checks


def verify_credit_notes(period: Period | None = None) -> list[InvoiceCheck]:
    """Check every credit note (of invoices of one month, or all): its sums, that its invoice's credit notes
    never credit more than the invoice, and its stored PDF against its SHA-256."""
    from ..models import CreditNote, CreditNoteDocument

    query = sa.select(CreditNote).join(Invoice, Invoice.id == CreditNote.invoice_id).order_by(CreditNote.number)
    if period is not None:
        query = query.where(Invoice.period_start == period.first_day)
    notes = db.session.execute(query).scalars().all()
    contents = dict(db.session.execute(
        sa.select(CreditNoteDocument.credit_note_id, CreditNoteDocument.content)
        .where(CreditNoteDocument.credit_note_id.in_([n.id for n in notes]))
    ).all()) if notes else {}
    per_invoice: dict[int, list] = defaultdict(list)
    for note in notes:
        per_invoice[note.invoice_id].append(note)
    checks = []
    for note in notes:
        invoice = note.invoice
        check = InvoiceCheck(note.number, invoice.zitadel_org_id, invoice.period_key)
        lines = sum((line.amount_chf for line in note.lines), Decimal("0.00"))
        if lines != note.net_chf:
            check.differences.append(f"lines sum to {fmt_amount(lines)}, net is {fmt_amount(note.net_chf)}")
        if note.net_chf + note.vat_chf != note.total_chf:
            check.differences.append(f"net {fmt_amount(note.net_chf)} + VAT {fmt_amount(note.vat_chf)} "
                                     f"≠ total {fmt_amount(note.total_chf)}")
        if note.vat_rate != invoice.vat_rate:
            check.differences.append(f"VAT rate {note.vat_rate} differs from invoice {invoice.number}'s {invoice.vat_rate}")
        siblings = per_invoice[note.invoice_id]
        if note is siblings[-1]:
            net = sum((n.net_chf for n in siblings), Decimal("0.00"))
            vat = sum((n.vat_chf for n in siblings), Decimal("0.00"))
            if net > invoice.net_chf or vat > invoice.vat_chf:
                check.differences.append(
                    f"the credit notes of {invoice.number} credit {fmt_amount(net)} net and {fmt_amount(vat)} VAT, "
                    f"more than it has ({fmt_amount(invoice.net_chf)} and {fmt_amount(invoice.vat_chf)})")
        content = contents.get(note.id)
        if content is None:
            check.differences.append("no stored PDF")
        elif hashlib.sha256(content).hexdigest() != note.pdf_sha256:
            check.differences.append("stored PDF does not match its recorded SHA-256")
        checks.append(check)
    return checks
