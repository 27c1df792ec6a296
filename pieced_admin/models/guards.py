"""Immutability of issued invoices and of the event log, enforced in the application.

PostgreSQL enforces the same rules with triggers (installed by the initial
migration); these listeners make SQLite, and every ORM path
on PostgreSQL, refuse the same changes before they reach the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, attributes

from .credit_notes import CreditNote, CreditNoteDocument, CreditNoteLine
from .invoices import Invoice, InvoiceDocument, InvoiceLine
from .payments import Payment
from .tenants import TenantSkillEvent, TenantSuspensionEvent, TenantUsage


class ImmutableError(RuntimeError):
    """A change to something that must never change after it was written."""


# What may change on an issued invoice: its payment and void fields, and Stripe's id.
INVOICE_MUTABLE_FIELDS = frozenset({
    "status", "paid_at", "payment_reference", "payment_method", "paid_by",
    "voided_at", "void_reason", "voided_by",
    "stripe_payment_intent_id", "charge_status", "charge_message",
})
# Set once when it was empty (an invoice issued before its PDF existed), never changed after.
INVOICE_SET_ONCE_FIELDS = frozenset({"pdf_sha256"})
# paid -> issued: a reversal (or refund) of the payment that completed it reopens the balance.
ALLOWED_STATUS_CHANGES = {("issued", "paid"), ("issued", "void"), ("paid", "issued")}

APPEND_ONLY = (TenantSkillEvent, TenantSuspensionEvent, TenantUsage, InvoiceLine, InvoiceDocument,
               CreditNote, CreditNoteLine, CreditNoteDocument,  # a credit note is immutable once issued
               Payment)  # the ledger: a correction is a new row

_installed = False


def _changed(obj, key):
    hist = attributes.get_history(obj, key)
    if not hist.has_changes():
        return None
    old = hist.deleted[0] if hist.deleted else None
    new = hist.added[0] if hist.added else None
    if old == new:
        return None
    return old, new


def check_invoice_change(invoice: Invoice) -> None:
    """Raise ImmutableError when a persistent invoice is changed in a forbidden way."""
    mapper = sa.inspect(Invoice)
    for attr in mapper.column_attrs:
        key = attr.key
        change = _changed(invoice, key)
        if change is None or key in INVOICE_MUTABLE_FIELDS:
            continue
        old, _new = change
        if key in INVOICE_SET_ONCE_FIELDS and old is None:
            continue
        raise ImmutableError(
            f"invoice {invoice.number} is issued: its {key} cannot change"
        )
    status = _changed(invoice, "status")
    if status is not None and status not in ALLOWED_STATUS_CHANGES:
        old, new = status
        raise ImmutableError(f"invoice {invoice.number} cannot go from {old} to {new}")
    if status == ("paid", "issued") and not _uncovered(invoice):
        raise ImmutableError(f"invoice {invoice.number} cannot go from paid to issued: its payments cover it")


def _uncovered(invoice: Invoice) -> bool:
    """Whether the ledger leaves a balance due on the invoice (what alone may reopen a paid invoice)."""
    session = sa.orm.object_session(invoice)
    paid = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_chf), 0)).where(Payment.invoice_id == invoice.id)
    ).scalar_one()
    credited = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(CreditNote.total_chf), 0)).where(CreditNote.invoice_id == invoice.id)
    ).scalar_one()
    return invoice.total_chf - credited - paid > 0


def install_guards() -> None:
    """Register the session listeners once per process."""
    global _installed
    if _installed:
        return
    _installed = True

    @sa.event.listens_for(Session, "before_flush")
    def _before_flush(session, flush_context, instances):
        for obj in session.deleted:
            if isinstance(obj, Invoice):
                raise ImmutableError(f"invoice {obj.number} is issued and cannot be deleted")
            if isinstance(obj, APPEND_ONLY):
                raise ImmutableError(f"{obj.__tablename__} rows are never deleted")
        for obj in session.dirty:
            if not session.is_modified(obj, include_collections=False):
                continue
            if isinstance(obj, Invoice):
                check_invoice_change(obj)
            elif isinstance(obj, APPEND_ONLY):
                raise ImmutableError(f"{obj.__tablename__} rows are never changed")

    @sa.event.listens_for(Session, "do_orm_execute")
    def _bulk_statements(state):
        if not (state.is_update or state.is_delete):
            return
        mapper = state.bind_arguments.get("mapper")
        entity = mapper.class_ if mapper is not None else None
        if entity is None:
            return
        if state.is_delete and (entity is Invoice or entity in APPEND_ONLY):
            raise ImmutableError(f"{entity.__tablename__} rows are never deleted")
        if state.is_update:
            if entity in APPEND_ONLY:
                raise ImmutableError(f"{entity.__tablename__} rows are never changed")
            if entity is Invoice:
                columns = {
                    (c.key if hasattr(c, "key") else str(c))
                    for c in state.statement._values or {}
                }
                forbidden = columns - INVOICE_MUTABLE_FIELDS
                if forbidden:
                    raise ImmutableError(
                        "issued invoices cannot change " + ", ".join(sorted(forbidden))
                    )
