"""Charging issued card invoices, through the official library against localstripe.

Issuing runs as the CLI runs it: `issue_invoices`, commit, then
`collect_after_issue`, which charges card orgs. localstripe ignores
idempotency keys, so the at-most-once tests that depend on them run against
the Stripe fake (test_charging_faults.py); here the stored ids do the work.

The org of `make_card_org` is billed a whole month: net 49.00,
VAT 49.00 × 8.10 % = 3.969 -> 3.97, total 52.97 CHF = 5297 Rappen.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin.billing.collection import collect_after_issue
from pieced_admin.billing.issuing import BillingInputError
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, ChargeAttempt, Invoice
from pieced_admin.payments.charging import charge_invoice
from pieced_admin.payments.customers import ensure_customer
from pieced_admin.payments.services import card_orgs_without_payment_method

from .conftest import issue_last_month, make_card_org

pytestmark = pytest.mark.xdist_group("stripe")


def _card_org_with(localstripe, token: str):
    org = make_card_org()
    db.session.commit()
    customer_id = ensure_customer(org)
    card = localstripe.client().v1.payment_methods.attach(token, {"customer": customer_id})
    return org, customer_id, card


def _attempts(invoice) -> list[ChargeAttempt]:
    return db.session.execute(
        sa.select(ChargeAttempt).filter_by(invoice_id=invoice.id).order_by(ChargeAttempt.attempt)).scalars().all()


def test_issuing_a_card_invoice_charges_the_exact_total_once_and_marks_it_paid(on_localstripe, runner):
    org, customer_id, card = _card_org_with(on_localstripe, "pm_card_visa")

    result = issue_last_month(org.zitadel_org_id)
    [invoice] = result.issued
    assert invoice.charge_status == "pending"
    notes = collect_after_issue(result.issued)

    [pi] = on_localstripe.payment_intents_of(customer_id)
    assert (pi["amount"], pi["currency"], pi["status"], pi["payment_method"]) == (5297, "chf", "succeeded", card.id)
    assert pi["metadata"] == {"pieced_invoice_id": str(invoice.id), "pieced_invoice_number": invoice.number,
                              "pieced_org_id": org.zitadel_org_id, "pieced_attempt": "1"}
    assert notes == [f"{invoice.number}: paid by card ({pi['id']})"]
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.payment_method, invoice.payment_reference) == ("paid", "card", pi["id"])
    assert (invoice.charge_status, invoice.stripe_payment_intent_id) == ("succeeded", pi["id"])
    [attempt] = _attempts(invoice)
    assert (attempt.attempt, attempt.idempotency_key, attempt.amount_minor, attempt.status) == (
        1, f"pieced-invoice-{invoice.id}-attempt-1", 5297, "succeeded")

    # Charging a paid invoice again, by hand or through the CLI, creates nothing at Stripe.
    with pytest.raises(BillingInputError, match="already paid"):
        charge_invoice(invoice.number)
    again = runner.invoke(args=["billing", "charge", invoice.number])
    assert again.exit_code == 2 and "already paid" in again.output
    assert collect_after_issue([invoice]) == []
    assert len(on_localstripe.payment_intents_of(customer_id)) == 1


def test_a_declined_card_leaves_the_invoice_issued_and_only_an_explicit_retry_charges_again(on_localstripe, runner):
    org, customer_id, declining = _card_org_with(on_localstripe, "pm_card_chargeCustomerFail")
    result = issue_last_month(org.zitadel_org_id)
    [invoice] = result.issued

    [note] = collect_after_issue(result.issued)

    assert "Stripe declined the card" in note
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "issued"
    assert invoice.charge_status == "failed"
    assert invoice.charge_message.startswith("Card declined: ")
    [first] = _attempts(invoice)
    assert first.status == "failed" and first.error
    assert len(on_localstripe.payment_intents_of(customer_id)) == 1

    # Asked again without --retry: the declined PaymentIntent is read back, nothing new is created.
    plain = runner.invoke(args=["billing", "charge", invoice.number])
    assert plain.exit_code == 1 and "--retry" in plain.output
    assert len(on_localstripe.payment_intents_of(customer_id)) == 1

    # The card holder fixes the card (a new default); an explicit retry is a new attempt with a new key.
    stripe = on_localstripe.client()
    good = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
    stripe.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
    retried = runner.invoke(args=["billing", "charge", invoice.number, "--retry"])

    assert retried.exit_code == 0, retried.output
    assert "paid by card" in retried.output
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    first, second = _attempts(invoice)
    assert second.idempotency_key == f"pieced-invoice-{invoice.id}-attempt-2" != first.idempotency_key
    assert (invoice.status, invoice.payment_reference, second.status) == (
        "paid", second.stripe_payment_intent_id, "succeeded")
    by_id = {pi["id"]: pi for pi in on_localstripe.payment_intents_of(customer_id)}
    assert len(by_id) == 2
    # The declined one was cancelled before retrying, so it can never be charged later.
    assert by_id[first.stripe_payment_intent_id]["status"] == "canceled"
    assert by_id[second.stripe_payment_intent_id]["status"] == "succeeded"


def test_a_card_org_without_a_card_still_gets_its_invoice_and_needs_attention(on_localstripe):
    org = make_card_org()
    bank = make_card_org(pay_by_invoice=True)
    db.session.commit()
    result = issue_last_month(org.zitadel_org_id)
    [invoice] = result.issued

    [note] = collect_after_issue(result.issued)

    assert "No usable card for Acme AG" in note
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.charge_status) == ("issued", "no_payment_method")
    assert "Send the org a card setup link" in invoice.charge_message
    assert _attempts(invoice) == []
    assert org.zitadel_org_id in [o.zitadel_org_id for o in card_orgs_without_payment_method()]
    assert bank.zitadel_org_id not in [o.zitadel_org_id for o in card_orgs_without_payment_method()]
    audit = db.session.execute(sa.select(AuditLog.action).filter_by(object_id=invoice.number)).scalars().all()
    assert "invoice.charge_no_payment_method" in audit


def test_bank_transfer_invoices_are_not_charged(on_localstripe, runner):
    org = make_card_org(pay_by_invoice=True)
    db.session.commit()
    result = issue_last_month(org.zitadel_org_id)
    [invoice] = result.issued

    assert collect_after_issue(result.issued) == []
    refused = runner.invoke(args=["billing", "charge", invoice.number])
    assert refused.exit_code == 2 and "paid by bank transfer" in refused.output
    unknown = runner.invoke(args=["billing", "charge", "PC-1999-0001"])
    assert unknown.exit_code == 2 and "unknown invoice number" in unknown.output
