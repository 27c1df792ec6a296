"""The invoice list's exports: invoices and their lines, every filter of the list applied.

Void invoices keep their amounts in columns of their own (`void_*`), empty in the
ordinary ones: summing `total_chf` gives the list's total, as the page shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from ..billing.credit_notes import credit_note_numbers_by_invoice
from ..billing.money import q2
from ..extensions import db
from ..payments import ledger
from ..invoices.services import InvoiceQuery, _conditions, _sorted, _with_org, _zone, derived_status
from ..models import BillingEntity, CreditNote, Invoice, InvoiceLine, OrgBillingConfig, Payment
from .tables import Column, Table

__all__ = ["INVOICE_COLUMNS", "LINE_COLUMNS", "PAYMENT_COLUMNS", "CREDIT_NOTE_COLUMNS", "TABLES", "invoices_table",
           "invoice_lines_table", "payments_table", "credit_notes_table", "unmatched_table"]

INVOICE_COLUMNS = (
    Column("number"), Column("issued_date", "date"), Column("period", "month"), Column("due_date", "date"),
    Column("org_id"), Column("org_name", width=28), Column("entity"), Column("status"),
    Column("net_chf", "money"), Column("vat_rate", "rate"), Column("vat_chf", "money"), Column("total_chf", "money"),
    Column("void_net_chf", "money"), Column("void_vat_chf", "money"), Column("void_total_chf", "money"),
    Column("currency"), Column("days_overdue", "number"), Column("paid_date", "date"), Column("payment_method"),
    Column("payment_reference"), Column("voided_date", "date"), Column("void_reason", width=28),
    Column("credited_chf", "money"), Column("balance_chf", "money"), Column("credit_notes", width=24),
)

LINE_COLUMNS = (
    Column("number"), Column("issued_date", "date"), Column("period", "month"), Column("org_id"),
    Column("entity"), Column("status"), Column("position", "number"), Column("tenant"), Column("kind"),
    Column("skill_id"), Column("description", width=40), Column("quantity", "number"),
    Column("unit_price_chf", "price"), Column("amount_chf", "money"), Column("void_amount_chf", "money"),
    Column("vat_rate", "rate"), Column("currency"),
)


def _filtered(stmt, query: InvoiceQuery, today: date):
    return (_sorted(_with_org(stmt.select_from(Invoice)).join(BillingEntity, BillingEntity.id == Invoice.billing_entity_id),
                    query).where(*_conditions(query, today)))


def invoices_table(query: InvoiceQuery, today: date, batch: int = 1000) -> Table:
    """The filtered invoices, one row each, in the list's order (streamed from the database)."""
    tz = _zone()
    stmt = _filtered(sa.select(
        Invoice.number, Invoice.issued_at, Invoice.period_start, Invoice.due_date, Invoice.zitadel_org_id,
        OrgBillingConfig.display_name, BillingEntity.code, Invoice.status, Invoice.net_chf, Invoice.vat_rate,
        Invoice.vat_chf, Invoice.total_chf, Invoice.currency, Invoice.paid_at, Invoice.payment_method,
        Invoice.payment_reference, Invoice.voided_at, Invoice.void_reason, Invoice.id,
        ledger.balance_expr().label("balance"),
    ), query, today).execution_options(yield_per=batch)

    def rows() -> Iterator[list]:
        notes = credit_note_numbers_by_invoice()  # one query before streaming: credit notes are few
        for (number, issued_at, period_start, due_date, org_id, org_name, entity, status, net, vat_rate, vat, total,
             currency, paid_at, method, reference, voided_at, void_reason, invoice_id, balance
             ) in db.session.execute(stmt):
            credited, numbers = notes.get(invoice_id, (Decimal("0.00"), []))
            shown = derived_status(status, due_date, today)
            void = status == "void"
            yield [
                number, issued_at.astimezone(tz).date(), f"{period_start:%Y-%m}", due_date, org_id, org_name or "",
                entity, shown,
                None if void else net, vat_rate, None if void else vat, None if void else total,
                net if void else None, vat if void else None, total if void else None,
                currency, (today - due_date).days if shown == "overdue" else None,
                paid_at.astimezone(tz).date() if paid_at else None, method or "", reference or "",
                voided_at.astimezone(tz).date() if voided_at else None, void_reason or "",
                credited, None if void else q2(balance), " ".join(numbers),
            ]

    return Table("Invoices", INVOICE_COLUMNS, rows())


def invoice_lines_table(query: InvoiceQuery, today: date, batch: int = 2000) -> Table:
    """The lines of the filtered invoices, in the list's order and by position."""
    tz = _zone()
    stmt = _filtered(sa.select(
        Invoice.number, Invoice.issued_at, Invoice.period_start, Invoice.zitadel_org_id, BillingEntity.code,
        Invoice.status, Invoice.due_date, InvoiceLine.position, InvoiceLine.tenant_name, InvoiceLine.kind,
        InvoiceLine.skill_id, InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_price_chf,
        InvoiceLine.amount_chf, Invoice.vat_rate, Invoice.currency,
    ), query, today).join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id).order_by(InvoiceLine.position)
    stmt = stmt.execution_options(yield_per=batch)

    def rows() -> Iterator[list]:
        for (number, issued_at, period_start, org_id, entity, status, due_date, position, tenant, kind, skill,
             description, quantity, unit_price, amount, vat_rate, currency) in db.session.execute(stmt):
            void = status == "void"
            yield [
                number, issued_at.astimezone(tz).date(), f"{period_start:%Y-%m}", org_id, entity,
                derived_status(status, due_date, today), position, tenant, kind, skill or "", description,
                quantity, unit_price, None if void else amount, amount if void else None, vat_rate, currency,
            ]

    return Table("Lines", LINE_COLUMNS, rows())


PAYMENT_COLUMNS = (
    Column("booked_on", "date"), Column("invoice"), Column("org_id"), Column("amount_chf", "money"),
    Column("currency"), Column("method"), Column("kind"), Column("reference", width=28),
    Column("debtor_name", width=28), Column("source"), Column("source_id", width=28), Column("recorded_by"),
)

CREDIT_NOTE_COLUMNS = (
    Column("number"), Column("issued_date", "date"), Column("invoice"), Column("org_id"), Column("entity"),
    Column("kind"), Column("reason", width=40), Column("net_chf", "money"), Column("vat_rate", "rate"),
    Column("vat_chf", "money"), Column("total_chf", "money"), Column("currency"),
)


def _filtered_ids(query: InvoiceQuery, today: date):
    return _filtered(sa.select(Invoice.id), query, today).order_by(None)


def payments_table(query: InvoiceQuery, today: date, batch: int = 2000) -> Table:
    """The ledger rows of the filtered invoices (payments, refunds, reversals, credit used), by booking day."""
    stmt = (sa.select(Payment.booked_on, Invoice.number, sa.func.coalesce(Payment.zitadel_org_id,
                                                                           Invoice.zitadel_org_id),
                      Payment.amount_chf, Payment.currency, Payment.method, Payment.kind, Payment.reference,
                      Payment.debtor_name, Payment.source, Payment.source_id, Payment.created_by)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Payment.invoice_id.in_(_filtered_ids(query, today)))
            .order_by(Payment.booked_on, Payment.id).execution_options(yield_per=batch))

    def rows() -> Iterator[list]:
        for row in db.session.execute(stmt):
            yield [*row[:-1], row[-1] or ""]

    return Table("Payments", PAYMENT_COLUMNS, rows())


def credit_notes_table(query: InvoiceQuery, today: date, batch: int = 2000) -> Table:
    """The credit notes of the filtered invoices, by number."""
    tz = _zone()
    stmt = (sa.select(CreditNote.number, CreditNote.issued_at, Invoice.number, Invoice.zitadel_org_id,
                      BillingEntity.code, CreditNote.kind, CreditNote.reason, CreditNote.net_chf,
                      CreditNote.vat_rate, CreditNote.vat_chf, CreditNote.total_chf, CreditNote.currency)
            .join(Invoice, Invoice.id == CreditNote.invoice_id)
            .join(BillingEntity, BillingEntity.id == CreditNote.billing_entity_id)
            .where(CreditNote.invoice_id.in_(_filtered_ids(query, today)))
            .order_by(CreditNote.number).execution_options(yield_per=batch))

    def rows() -> Iterator[list]:
        for number, issued_at, *rest in db.session.execute(stmt):
            yield [number, issued_at.astimezone(tz).date(), *rest]

    return Table("Credit notes", CREDIT_NOTE_COLUMNS, rows())


def unmatched_table(query: InvoiceQuery, today: date) -> Table:
    """Bank entries waiting on the unmatched page (they belong to no invoice yet, so no filter applies)."""
    from ..payments.unmatched import unmatched_payments

    def rows() -> Iterator[list]:
        for item in unmatched_payments():
            p = item.payment
            yield [p.booked_on, "", p.zitadel_org_id or "", p.amount_chf, p.currency, p.method, p.kind,
                   p.reference or "", p.debtor_name or "", p.source, p.source_id, p.created_by or ""]

    return Table("Unmatched", PAYMENT_COLUMNS, rows())


# What the invoice list exports, by the name in its URL (/invoices/export/<name>.<csv|xlsx>): one builder
# each, `(query, today) -> Table`; the workbook has a sheet per builder.
TABLES = {"invoices": invoices_table, "lines": invoice_lines_table, "payments": payments_table,
          "credit-notes": credit_notes_table, "unmatched": unmatched_table}
