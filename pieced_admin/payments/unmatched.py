"""Bank payments nobody's yet: listed for finance, assigned to an invoice or an org, or marked not ours.

The ledger is append-only, so settling an unmatched row writes rows, never
changes one: a row taking the amount off the unmatched pile (pointing at the
row it settles, with the source id `settle-<id>`, unique, so a payment is
settled at most once whatever two people click at once) and, when assigned, a
row putting it on the invoice or the org. Each is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from .. import clock
from ..audit import record_audit
from ..billing.issuing import BillingInputError, InvoiceNotFoundError
from ..extensions import db
from ..models import OrgBillingConfig, Payment
from . import ledger

__all__ = ["unmatched_payments", "unmatched_summary", "assign_payment", "mark_not_ours", "UnmatchedPayment"]


def _open():
    """Unmatched rows nothing has settled yet."""
    settling = aliased(Payment)
    return sa.and_(Payment.invoice_id.is_(None), Payment.zitadel_org_id.is_(None),
                   Payment.settles_payment_id.is_(None),
                   ~sa.exists().where(settling.settles_payment_id == Payment.id))


@dataclass
class UnmatchedPayment:
    payment: Payment
    hint: str | None = None      # the invoice number the reference seems to name, if any


def unmatched_payments() -> list[UnmatchedPayment]:
    """Unmatched bank payments, oldest first (one statement)."""
    from ..billing.qr import invoice_number_hint

    rows = db.session.execute(sa.select(Payment).where(_open()).order_by(Payment.booked_on, Payment.id)).scalars()
    return [UnmatchedPayment(p, invoice_number_hint(p.reference) if p.reference else None) for p in rows]


def unmatched_summary() -> tuple[int, Decimal]:
    """(how many, their sum) of the unmatched payments (one statement)."""
    count, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Payment.amount_chf), 0)).where(_open())).one()
    return int(count), Decimal(str(total)).quantize(Decimal("0.01"))


def _claim(payment_id: int, action: str) -> Payment:
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise InvoiceNotFoundError(f"no payment {payment_id} in the ledger")
    if payment.invoice_id is not None or payment.zitadel_org_id is not None or payment.settles_payment_id:
        raise BillingInputError(f"payment {payment_id} is not an unmatched payment")
    return payment


def _settle_row(payment: Payment, kind: str, note: str) -> Payment:
    row = ledger.record(amount=-payment.amount_chf, booked_on=clock.today(), method=payment.method,
                        source="manual", source_id=f"settle-{payment.id}", reference=payment.reference,
                        currency=payment.currency, kind=kind, note=note, settles=payment.id)
    if row is None:
        raise BillingInputError(f"payment {payment.id} was assigned or marked not ours already")
    return row


def assign_payment(payment_id: int, *, invoice_number: str | None = None, org_id: str | None = None,
                   note: str | None = None) -> Payment:
    """Put an unmatched payment on an invoice (its balance, in its lock) or on an org's credit."""
    payment = _claim(payment_id, "assign")
    if bool(invoice_number) == bool(org_id):
        raise BillingInputError("assign the payment to an invoice or to an org")
    invoice = None
    if invoice_number:
        invoice = ledger.lock_invoice(number=invoice_number)
        if invoice is None:
            raise BillingInputError(f"unknown invoice number {invoice_number!r}")
        if invoice.currency != payment.currency:
            raise BillingInputError(f"the payment is in {payment.currency}, invoice {invoice.number} in {invoice.currency}")
        target = f"invoice {invoice.number}"
    else:
        if db.session.execute(sa.select(OrgBillingConfig.zitadel_org_id).filter_by(zitadel_org_id=org_id)).first() is None:
            raise BillingInputError(f"unknown org {org_id!r}")
        target = f"org {org_id}"
    _settle_row(payment, "assignment", f"assigned to {target}" + (f": {note}" if note else ""))
    row = ledger.record(amount=payment.amount_chf, booked_on=payment.booked_on, method=payment.method,
                        source="manual", source_id=f"assigned-{payment.id}", reference=payment.reference,
                        currency=payment.currency, kind="assignment", invoice=invoice, org_id=org_id,
                        debtor_name=payment.debtor_name, note=note, settles=payment.id)
    before = ledger.balance_of(invoice).balance if invoice is not None else None
    if invoice is not None:
        ledger.settle(invoice, row)
    record_audit("payment.assigned", "payment", payment.id,
                 before={"unmatched": str(payment.amount_chf), "reference": payment.reference},
                 after={"to": target, "amount_chf": payment.amount_chf,
                        **({"invoice_status": invoice.status, "balance_chf": before} if invoice is not None else {})},
                 note=note)
    db.session.flush()
    return row


def mark_not_ours(payment_id: int, note: str) -> Payment:
    """Take an unmatched payment off the pile as not ours (to be sent back by the bank); a note is required."""
    note = (note or "").strip()
    if not note:
        raise BillingInputError("say why the payment is not ours (e.g. returned to the sender)")
    payment = _claim(payment_id, "not ours")
    row = _settle_row(payment, "not_ours", note)
    record_audit("payment.not_ours", "payment", payment.id,
                 before={"unmatched": str(payment.amount_chf), "reference": payment.reference}, note=note)
    db.session.flush()
    return row
