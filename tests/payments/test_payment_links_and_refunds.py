"""When the bank wants the card holder to authenticate, a payment link is e-mailed; its webhook records the
payment; refunds (Stripe's and ours) are negative ledger rows, recorded once.

These run against the Stripe fake (tests/peers/stripe_fake.py), not localstripe: localstripe has no
Checkout Sessions in payment mode and no Refunds API. The fake answers with Stripe's documented JSON
(https://docs.stripe.com/api/checkout/sessions, https://docs.stripe.com/api/refunds) and honours
idempotency keys, which the at-most-once checks rely on.

The invoice: last month's 49.00 + VAT 3.97 = 52.97 CHF = 5297 Rappen.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.collection import collect_after_issue
from pieced_admin.billing.issuing import BillingInputError, mark_paid
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, ChargeAttempt, Invoice, Payment
from pieced_admin.payments import ledger
from pieced_admin.payments.charging import charge_invoice
from pieced_admin.payments.customers import ensure_customer
from pieced_admin.payments.refunds import refund_credit

from ..peers.smtp import SmtpSink
from .conftest import event, issue_last_month, make_card_org, signed

D = Decimal


@pytest.fixture
def sink(app):
    with SmtpSink() as server:
        app.config.update(server.config())
        yield server


def _card_invoice(fake, token: str):
    org = make_card_org()
    org.billing_email = "billing@acme.example"
    db.session.commit()
    customer_id = ensure_customer(org)
    fake.client().v1.payment_methods.attach(token, {"customer": customer_id})
    [invoice] = issue_last_month(org.zitadel_org_id).issued
    return org, invoice


def _webhook(client, type_, obj):
    body, header = signed(event(type_, obj))
    resp = client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": header})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["outcome"]


def _reload(invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def test_authentication_required_emails_one_payment_link_and_its_payment_is_recorded(on_fake, sink, client):
    org, invoice = _card_invoice(on_fake, "pm_card_authenticationRequired")
    [note] = collect_after_issue([invoice])
    assert "payment link e-mailed to billing@acme.example" in note
    [attempt] = db.session.execute(sa.select(ChargeAttempt).filter_by(invoice_id=invoice.id)).scalars().all()
    session = on_fake.sessions[attempt.checkout_session_id]
    assert (session["mode"], session["amount_total"], session["currency"]) == ("payment", 5297, "chf")
    [create] = on_fake.requests_to("POST", "/v1/checkout/sessions")
    assert create.idempotency_key == f"{attempt.idempotency_key}-payment-link"
    [mail] = sink.messages
    assert mail["To"] == "billing@acme.example" and invoice.number in mail["Subject"]
    assert session["url"] in mail.get_body(("plain",)).get_content()
    invoice = _reload(invoice)
    assert (invoice.status, invoice.charge_status) == ("issued", "requires_action")

    # Charging again (a re-run) neither charges nor creates a second link.
    charge_invoice(invoice.number)
    assert len(on_fake.created["checkout.session"]) == 1 and len(on_fake.created["charge"]) == 0

    paid = on_fake.pay_session(session["id"])
    outcome = _webhook(client, "checkout.session.completed", paid)
    assert outcome == f"{invoice.number}: paid by card ({paid['payment_intent']})"
    assert _webhook(client, "checkout.session.completed", paid).endswith(f"already paid by card ({paid['payment_intent']})")
    invoice = _reload(invoice)
    assert invoice.status == "paid"
    rows = db.session.execute(sa.select(Payment).filter_by(invoice_id=invoice.id)).scalars().all()
    assert [(r.amount_chf, r.source, r.source_id) for r in rows] == [(D("52.97"), "stripe", paid["payment_intent"])]


def test_requires_action_on_a_stored_payment_intent_sends_the_same_link_again(on_fake, sink):
    org, invoice = _card_invoice(on_fake, "pm_card_authenticationRequired")
    charge_invoice(invoice.number)                    # link 1, for the off-session decline
    [pi_id] = on_fake.created["payment_intent"]
    on_fake.set_payment_intent_status(pi_id, "requires_action")
    outcome = charge_invoice(invoice.number)          # the stored PaymentIntent is read again: requires_action
    assert "payment link e-mailed" in outcome.message
    assert len(sink.messages) == 2 and len(on_fake.created["checkout.session"]) == 1  # one link per attempt
    assert len(on_fake.created["payment_intent"]) == 1 and not on_fake.created["charge"]


def test_charge_refunded_records_the_refund_once_and_reopens_what_it_uncovers(on_fake, client):
    org, invoice = _card_invoice(on_fake, "pm_card_visa")
    collect_after_issue([invoice])
    invoice = _reload(invoice)
    assert invoice.status == "paid"
    pi = on_fake.payment_intents[invoice.stripe_payment_intent_id]
    charge = {"id": pi["latest_charge"], "object": "charge", "payment_intent": pi["id"], "amount": 5297,
              "amount_refunded": 2000, "refunded": False,
              "refunds": {"object": "list", "data": [{"id": "re_partial_1", "amount": 2000}]}}
    assert _webhook(client, "charge.refunded", charge) == f"{invoice.number}: refund of 20.00 recorded (re_partial_1)"
    assert _webhook(client, "charge.refunded", charge).endswith("already recorded")
    invoice = _reload(invoice)
    assert (invoice.status, ledger.balance_of(invoice).balance) == ("issued", D("20.00"))  # owed again
    assert _webhook(client, "charge.refunded", {**charge, "id": "ch_other", "payment_intent": "pi_unknown"}) == \
        "no matching record"


def test_a_credit_balance_is_refunded_to_the_card_at_most_once(on_fake, client):
    org, invoice = _card_invoice(on_fake, "pm_card_visa")
    collect_after_issue([invoice])
    invoice = _reload(invoice)
    # The customer also paid by bank: money received twice, 52.97 to the org's credit.
    db.session.add(Payment(invoice_id=invoice.id, zitadel_org_id=org.zitadel_org_id, amount_chf=D("52.97"),
                           booked_on=invoice.issued_at.date(), method="bank_transfer", source="bank_file",
                           source_id="CH44:TWICE-1"))
    db.session.commit()
    assert ledger.org_credit_chf(org.zitadel_org_id) == D("52.97")
    with pytest.raises(BillingInputError, match="cannot be refunded"):
        refund_credit(org.zitadel_org_id, D("60.00"), method="card")
    [row] = refund_credit(org.zitadel_org_id, D("52.97"), method="card")
    db.session.commit()
    [refund] = on_fake.refunds.values()
    assert (refund["amount"], refund["payment_intent"]) == (5297, invoice.stripe_payment_intent_id)
    [create] = on_fake.requests_to("POST", "/v1/refunds")
    card_payment = db.session.execute(sa.select(Payment).filter_by(source="stripe", kind="payment")).scalar_one()
    assert create.idempotency_key == f"pieced-refund-{card_payment.id}"
    assert ledger.org_credit_chf(org.zitadel_org_id) == D("0.00")
    assert _reload(invoice).status == "paid"   # the bank payment still pays it
    with pytest.raises(BillingInputError):
        refund_credit(org.zitadel_org_id, D("1.00"), method="card")
    assert len(on_fake.refunds) == 1
    # Stripe's charge.refunded for the same refund records nothing new.
    charge = {"id": "ch_x", "object": "charge", "payment_intent": invoice.stripe_payment_intent_id,
              "amount_refunded": 5297, "refunds": {"data": [{"id": refund["id"]}]}}
    assert _webhook(client, "charge.refunded", charge).endswith("already recorded")
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditLog)
                              .filter_by(action="org.credit_refunded")).scalar_one() == 1


def test_a_bank_refund_of_a_credit_balance_is_recorded_by_finance(app, session):
    from datetime import date

    from ..factories import make_org
    from ..invoices.support import make_invoice
    from pieced_admin import clock

    make_org("org-refund")
    invoice = make_invoice("org-refund", issued=date(2026, 11, 3))
    with clock.pinned("2026-11-20"):
        mark_paid(invoice.number, amount=D("150.00"))            # 150.00 - 108.10 = 41.90 to its credit
        refund_credit("org-refund", D("41.90"), method="bank_transfer", reference="ZKB-OUT-7")
    assert ledger.org_credit_chf("org-refund") == D("0.00")
    assert (invoice.status, ledger.balance_of(invoice).balance) == ("paid", D("0.00"))
    refund = session.execute(sa.select(Payment).filter_by(kind="refund")).scalar_one()
    assert (refund.amount_chf, refund.method, refund.reference) == (D("-41.90"), "bank_transfer", "ZKB-OUT-7")


def test_voiding_an_invoice_whose_payment_is_in_flight_cancels_it_at_stripe(on_fake, runner):
    from pieced_admin.payments.services import PaymentProviderError

    org, invoice = _card_invoice(on_fake, "pm_card_visa")
    # The PaymentIntent is created, but Stripe fails every confirmation: it stays open at Stripe.
    on_fake.fail("POST", r"/v1/payment_intents/[^/]+/confirm", 500, times=10)
    with pytest.raises(PaymentProviderError):
        charge_invoice(invoice.number)
    [pi_id] = on_fake.created["payment_intent"]
    assert on_fake.payment_intents[pi_id]["status"] == "requires_confirmation"
    result = runner.invoke(args=["billing", "void", invoice.number, "--reason", "issued twice"])
    assert result.exit_code == 0, result.output
    assert f"payment {pi_id} cancelled at Stripe" in result.output
    assert on_fake.payment_intents[pi_id]["status"] == "canceled"
    [cancel] = on_fake.requests_to("POST", f"/v1/payment_intents/{pi_id}/cancel")
    assert cancel.idempotency_key.endswith("-void-cancel")
    assert _reload(invoice).status == "void"
