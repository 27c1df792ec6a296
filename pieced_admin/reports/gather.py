"""The documents of a VAT return, gathered from the database (the figures are computed by `vat.py`).

One query per kind of document, each returning `vat.Document`s:
- invoices of the entity issued in the quarter (local issue date, voided ones included);
- credit notes of the entity issued in the quarter, when the `credit_notes` table exists
  (SPEC §2; the abroad flag is the credited invoice's);
- for voided invoices without any credit note (voided before credit notes existed), the
  reversal their void stands for: a credit note of the invoice's full amounts on the local
  void date, numbered `<invoice> (void)`.
Payments never enter a VAT return under the agreed-consideration method.
"""

from __future__ import annotations

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from ..billing.engine import VAT_COUNTRIES
from ..extensions import db
from ..models import BillingEntity, Invoice
from ..models.types import UTCDateTime
from .vat import Document, Quarter, VatReturn, compute_vat_return

__all__ = ["VatEntityNotFound", "vat_documents", "vat_return", "supplied_abroad"]


class VatEntityNotFound(LookupError):
    """No billing entity has this code."""


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BILLING_TIMEZONE"])


def _bounds(quarter: Quarter) -> tuple[datetime, datetime]:
    """The quarter as UTC instants [start, end) of its local days."""
    zone = _zone()
    start = datetime.combine(quarter.first_day, time(0), tzinfo=zone).astimezone(timezone.utc)
    end = datetime.combine(quarter.next().first_day, time(0), tzinfo=zone).astimezone(timezone.utc)
    return start, end


def supplied_abroad(snapshot: dict | None, vat_note: str | None) -> bool:
    """Place of supply abroad: the customer's country at issue outside CH/LI (older invoices: a VAT note)."""
    country = (snapshot or {}).get("country")
    if country:
        return str(country).strip().upper() not in VAT_COUNTRIES
    return vat_note is not None


def _has_table(name: str) -> bool:
    return sa.inspect(db.session.connection()).has_table(name)


_credit_notes = sa.table(
    "credit_notes", sa.column("id", sa.Integer), sa.column("number", sa.String), sa.column("invoice_id", sa.Integer),
    sa.column("billing_entity_id", sa.Integer), sa.column("issued_at", UTCDateTime()),
    sa.column("net_chf", sa.Numeric(10, 2)), sa.column("vat_rate", sa.Numeric(5, 2)),
    sa.column("vat_chf", sa.Numeric(10, 2)),
)


def vat_documents(entity: BillingEntity, quarter: Quarter) -> list[Document]:
    """Every invoice and credit note of the entity that counts in the quarter."""
    zone = _zone()
    start, end = _bounds(quarter)
    docs = [
        Document("invoice", number, issued_at.astimezone(zone).date(), net, rate, vat, supplied_abroad(snap, note))
        for number, issued_at, net, rate, vat, snap, note in db.session.execute(
            sa.select(Invoice.number, Invoice.issued_at, Invoice.net_chf, Invoice.vat_rate, Invoice.vat_chf,
                      Invoice.customer_snapshot, Invoice.vat_note)
            .where(Invoice.billing_entity_id == entity.id, Invoice.issued_at >= start, Invoice.issued_at < end)
            .order_by(Invoice.issued_at, Invoice.number))
    ]
    credit_notes = _has_table("credit_notes")
    if credit_notes:
        cn = _credit_notes
        docs += [
            Document("credit_note", number, issued_at.astimezone(zone).date(), net, rate, vat,
                     supplied_abroad(snap, note), credits=inv_number)
            for number, issued_at, net, rate, vat, inv_number, snap, note in db.session.execute(
                sa.select(cn.c.number, cn.c.issued_at, cn.c.net_chf, cn.c.vat_rate, cn.c.vat_chf, Invoice.number,
                          Invoice.customer_snapshot, Invoice.vat_note)
                .join(Invoice, Invoice.id == cn.c.invoice_id)
                .where(cn.c.billing_entity_id == entity.id, cn.c.issued_at >= start, cn.c.issued_at < end)
                .order_by(cn.c.issued_at, cn.c.number))
        ]
    voids = (sa.select(Invoice.number, Invoice.voided_at, Invoice.net_chf, Invoice.vat_rate, Invoice.vat_chf,
                       Invoice.customer_snapshot, Invoice.vat_note)
             .where(Invoice.billing_entity_id == entity.id, Invoice.status == "void",
                    Invoice.voided_at >= start, Invoice.voided_at < end))
    if credit_notes:
        voids = voids.where(~sa.exists(sa.select(_credit_notes.c.id).where(_credit_notes.c.invoice_id == Invoice.id)))
    docs += [
        Document("credit_note", f"{number} (void)", voided_at.astimezone(zone).date(), net, rate, vat,
                 supplied_abroad(snap, note), credits=number)
        for number, voided_at, net, rate, vat, snap, note in db.session.execute(voids)
    ]
    return docs


def vat_return(entity_code: str, quarter: Quarter) -> tuple[BillingEntity, VatReturn]:
    """The entity (by code) and its VAT return for the quarter; VatEntityNotFound for an unknown code."""
    entity = db.session.execute(sa.select(BillingEntity).filter_by(code=entity_code)).scalar_one_or_none()
    if entity is None:
        codes = db.session.execute(sa.select(BillingEntity.code).order_by(BillingEntity.code)).scalars().all()
        raise VatEntityNotFound(f"no billing entity with code {entity_code!r} (known: {', '.join(codes) or 'none'})")
    return entity, compute_vat_return(vat_documents(entity, quarter), quarter)


# --------------------------------------------------------------------------- the accounting journal


def journal_accounts(entity: BillingEntity):
    """The entity's account numbers as the journal uses them."""
    from .journal import Accounts

    return Accounts(debtors=entity.account_debtors, bank=entity.account_bank,
                    vat_payable=entity.account_vat_payable, revenue=entity.account_revenue)


def journal_documents(entity: BillingEntity, quarter: Quarter) -> list:
    """The invoices (net per line kind), credit notes and void reversals of the entity in the quarter.

    The same documents as the VAT return, booked on the same local dates; an invoice's revenue
    rows are its lines' amounts by kind (their sum is its net; any difference is booked too, so
    the journal's revenue always equals the invoices' nets).
    """
    from ..models import InvoiceLine
    from .journal import JournalDocument

    zone = _zone()
    start, end = _bounds(quarter)
    lines: dict[int, list[tuple[str, object]]] = {}
    for invoice_id, kind, amount in db.session.execute(
        sa.select(InvoiceLine.invoice_id, InvoiceLine.kind, sa.func.sum(InvoiceLine.amount_chf))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.billing_entity_id == entity.id,
               sa.or_(sa.and_(Invoice.issued_at >= start, Invoice.issued_at < end),
                      sa.and_(Invoice.voided_at >= start, Invoice.voided_at < end)))
        .group_by(InvoiceLine.invoice_id, InvoiceLine.kind).order_by(InvoiceLine.invoice_id, InvoiceLine.kind)
    ):
        lines.setdefault(invoice_id, []).append((kind, amount))

    def revenue(invoice_id, net):
        parts = [(k, a) for k, a in lines.get(invoice_id, [])]
        rest = net - sum((a for _k, a in parts), 0)
        if rest:
            parts.append(("other", rest))
        return tuple(parts)

    docs = []
    rows = db.session.execute(
        sa.select(Invoice.id, Invoice.number, Invoice.issued_at, Invoice.voided_at, Invoice.status, Invoice.net_chf,
                  Invoice.vat_chf, Invoice.customer_snapshot, Invoice.zitadel_org_id)
        .where(Invoice.billing_entity_id == entity.id,
               sa.or_(sa.and_(Invoice.issued_at >= start, Invoice.issued_at < end),
                      sa.and_(Invoice.status == "void", Invoice.voided_at >= start, Invoice.voided_at < end)))
        .order_by(Invoice.issued_at)).all()
    credit_notes = _has_table("credit_notes")
    credited: set[int] = set()
    if credit_notes:
        credited = set(db.session.execute(sa.select(_credit_notes.c.invoice_id).distinct()).scalars())
    for invoice_id, number, issued_at, voided_at, status, net, vat, snap, org_id in rows:
        who = f"{number} {(snap or {}).get('name') or org_id}"
        if start <= issued_at < end:
            docs.append(JournalDocument("invoice", number, issued_at.astimezone(zone).date(), who,
                                        revenue(invoice_id, net), vat))
        if status == "void" and voided_at is not None and start <= voided_at < end and invoice_id not in credited:
            docs.append(JournalDocument("credit_note", f"{number} (void)", voided_at.astimezone(zone).date(),
                                        f"{who} (void)", revenue(invoice_id, net), vat))
    if credit_notes:
        cn = _credit_notes
        for number, issued_at, net, vat, inv_number in db.session.execute(
            sa.select(cn.c.number, cn.c.issued_at, cn.c.net_chf, cn.c.vat_chf, Invoice.number)
            .join(Invoice, Invoice.id == cn.c.invoice_id)
            .where(cn.c.billing_entity_id == entity.id, cn.c.issued_at >= start, cn.c.issued_at < end)
        ):
            docs.append(JournalDocument("credit_note", number, issued_at.astimezone(zone).date(),
                                        f"{number} on {inv_number}", (("credit", net),), vat))
    docs.extend(_journal_payments(entity, quarter))
    return docs


# Ledger rows the journal books (bank / debtors; a refund or reversal the other way round). An
# unmatched bank payment is booked when it is assigned: its assignment row carries the bank's date
# and the invoice or org it paid (the row that settles the unmatched one has neither). A credit
# applied to a later invoice only moves money between the org's invoices, debtors to debtors; money
# marked not ours is sent back and never was a debtor's.
JOURNAL_PAYMENT_KINDS = ("payment", "refund", "reversal", "assignment")


def _journal_payments(entity: BillingEntity, quarter: Quarter) -> list:
    """The entity's ledger rows booked in the quarter (local bank dates), one JournalDocument each.

    A row on an invoice belongs to the invoice's entity; a row on an org's own credit (no invoice)
    to the entity the org is billed by (the default entity when its config names none).
    """
    from ..models import OrgBillingConfig, Payment
    from .journal import JournalDocument

    default_id = sa.select(BillingEntity.id).where(BillingEntity.is_default).scalar_subquery()
    org_entity = sa.func.coalesce(OrgBillingConfig.billing_entity_id, default_id)
    rows = db.session.execute(
        sa.select(Payment.id, Payment.booked_on, Payment.amount_chf, Payment.kind, Payment.method, Payment.reference,
                  Invoice.number, Payment.zitadel_org_id)
        .outerjoin(Invoice, Invoice.id == Payment.invoice_id)
        .outerjoin(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == Payment.zitadel_org_id)
        .where(Payment.kind.in_(JOURNAL_PAYMENT_KINDS),
               Payment.booked_on >= quarter.first_day, Payment.booked_on <= quarter.last_day,
               sa.or_(Invoice.billing_entity_id == entity.id,
                      sa.and_(Payment.invoice_id.is_(None), Payment.zitadel_org_id.is_not(None),
                              org_entity == entity.id)))
        .order_by(Payment.booked_on, Payment.id)).all()
    docs = []
    for _id, booked_on, amount, kind, method, reference, number, org_id in rows:
        document = number or f"org {org_id}"
        how = ", ".join(p for p in (kind if kind != "payment" else None, method.replace("_", " "), reference) if p)
        docs.append(JournalDocument("payment", document, booked_on, f"{document} ({how})", amount_chf=amount))
    return docs
