"""Refunds: card refunds Stripe reports (`charge.refunded`), and refunding an org's credit balance.

A credit balance is refunded by card, as a Stripe Refund of the card payment
that put it there (idempotency key `pieced-refund-<payment id>`: at most one
refund per payment, whatever is retried or clicked twice), or by bank, which
finance records as the outgoing payment it made. Either way the refund is a
negative ledger row on the invoice that held the credit, so the org's credit
goes down by exactly that much and nothing else moves.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from .. import clock
from ..audit import record_audit
from ..billing.issuing import BillingInputError
from ..extensions import db
from ..models import Payment
from . import ledger

__all__ = ["record_card_refund", "refund_credit", "NO_MATCH"]

NO_MATCH = "no matching record"
CENT = Decimal("0.01")


def _refunded_of(payment: Payment) -> Decimal:
    """What the ledger already took back of a payment (positive)."""
    total = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_chf), 0))
        .where(Payment.kind == "refund", Payment.settles_payment_id == payment.id)
    ).scalar_one()
    return -Decimal(str(total)).quantize(CENT)


def _card_payment(pi_id: str | None) -> Payment | None:
    if not pi_id:
        return None
    return db.session.execute(
        sa.select(Payment).where(Payment.source == "stripe", Payment.source_id == pi_id, Payment.kind == "payment")
    ).scalar_one_or_none()


def record_card_refund(charge: dict) -> str:
    """Stripe says a charge was refunded (cumulatively `amount_refunded`): record what the ledger lacks."""
    pi_id = charge.get("payment_intent")
    pi_id = pi_id.get("id") if isinstance(pi_id, dict) else pi_id
    original = _card_payment(pi_id)
    if original is None:
        return NO_MATCH
    invoice = ledger.lock_invoice(original.invoice_id) if original.invoice_id else None
    refunded = (Decimal(int(charge.get("amount_refunded") or 0)) / 100).quantize(CENT)
    missing = refunded - _refunded_of(original)
    what = f"{invoice.number}: " if invoice is not None else ""
    if missing <= 0:
        return f"{what}refund of {pi_id} already recorded"
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    source_id = refunds[0]["id"] if refunds and refunds[0].get("id") else f"{charge.get('id')}:refunded:{refunded}"
    row = ledger.record(amount=-missing, booked_on=clock.today(), method="card", source="stripe", source_id=source_id,
                        invoice=invoice, org_id=original.zitadel_org_id, reference=pi_id, currency=original.currency,
                        kind="refund", settles=original.id, note="refunded at Stripe")
    if row is None:
        return f"{what}refund {source_id} already recorded"
    if invoice is not None:
        ledger.settle(invoice, row)
        record_audit("invoice.refund_recorded", "invoice", invoice.number,
                     after={"amount_chf": -missing, "refund": source_id, "payment_intent": pi_id,
                            "balance_chf": ledger.balance_of(invoice).balance, "status": invoice.status})
    return f"{what}refund of {missing} recorded ({source_id})"


def refund_credit(org_id: str, amount: Decimal, *, method: str, reference: str | None = None,
                  booked_on: date | None = None, gw=None) -> list[Payment]:
    """Refund (part of) an org's credit balance by card (Stripe Refund) or record a bank refund; flushes."""
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        raise BillingInputError(f"the refund {amount} must be a positive amount in francs and Rappen")
    if method not in ("card", "bank_transfer"):
        raise BillingInputError("refund by card or by bank transfer")
    ledger.lock_org_credit(org_id)  # two refunds (or a refund and an invoice using the credit) never both take it
    credit = ledger.org_credit_chf(org_id)
    if amount > credit:
        raise BillingInputError(f"org {org_id} has CHF {credit} to its credit: it cannot be refunded {amount}")
    if method == "bank_transfer":
        return _refund_by_bank(org_id, amount, reference, booked_on or clock.today())
    return _refund_by_card(org_id, amount, gw)


def _refund_by_bank(org_id: str, amount: Decimal, reference: str | None, booked_on: date) -> list[Payment]:
    rows = []
    left = amount
    for source, available in ledger.credit_sources(org_id):
        take = min(available, left)
        if take <= 0:
            break
        rows.append(ledger.record(amount=-take, booked_on=booked_on, method="bank_transfer", source="manual",
                                  source_id=ledger.new_source_id("bank-refund"), invoice=source, org_id=org_id,
                                  reference=reference, kind="refund", note="credit balance refunded by bank"))
        left -= take
    record_audit("org.credit_refunded", "org", org_id,
                 after={"amount_chf": amount, "method": "bank_transfer", "reference": reference,
                        "credit_left_chf": ledger.org_credit_chf(org_id)})
    db.session.flush()
    return rows


def _refund_by_card(org_id: str, amount: Decimal, gw) -> list[Payment]:
    from .charging import minor_units
    from .customers import stepped

    # The card payments of the invoices holding the credit, newest first, not refunded before.
    candidates = []
    for source, available in ledger.credit_sources(org_id):
        if source is None:
            continue
        for payment in db.session.execute(
            sa.select(Payment).where(Payment.invoice_id == source.id, Payment.source == "stripe",
                                     Payment.kind == "payment").order_by(Payment.id.desc())
        ).scalars():
            if _refunded_of(payment) == 0:
                candidates.append((payment, min(available, payment.amount_chf)))
    payment = next((p for p, can in candidates if can >= amount), None)
    if payment is None:
        raise BillingInputError(
            f"no single card payment of org {org_id} holds CHF {amount} of its credit: refund by bank instead, "
            "or a smaller amount")
    payment_id, pi_id, invoice_id = payment.id, payment.source_id, payment.invoice_id
    gw = stepped(gw)
    refund = gw.create_refund(payment_intent_id=pi_id, amount_minor=minor_units(amount),
                              idempotency_key=f"pieced-refund-{payment_id}",
                              metadata={"pieced_payment_id": str(payment_id), "pieced_org_id": org_id})
    invoice = ledger.lock_invoice(invoice_id)
    payment = db.session.get(Payment, payment_id)
    row = ledger.record(amount=-amount, booked_on=clock.today(), method="card", source="stripe",
                        source_id=refund["id"], invoice=invoice, org_id=org_id, reference=pi_id, kind="refund",
                        settles=payment.id, note="credit balance refunded to the card")
    if row is None:
        raise BillingInputError(f"this refund ({refund['id']}) is recorded already")
    record_audit("org.credit_refunded", "org", org_id,
                 after={"amount_chf": amount, "method": "card", "refund": refund["id"], "payment_intent": pi_id,
                        "credit_left_chf": ledger.org_credit_chf(org_id)})
    db.session.flush()
    return [row]
