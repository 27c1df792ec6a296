"""At most one customer and one charge, whatever Stripe or the network does.

localstripe ignores idempotency keys, and the point here is exactly what the
keys and the stored ids guarantee, so these tests run the official library
against the Stripe fake (tests/peers/stripe_fake.py), which honours
idempotency keys like Stripe and can answer 500/429, time out, or drop the
connection after it did the work.

Invoice of `make_card_org`: net 49.00 + VAT 3.97 (49.00 × 8.10 % = 3.969) = 52.97 CHF = 5297 Rappen.
"""

from __future__ import annotations

import pytest

from pieced_admin.billing.collection import collect_after_issue
from pieced_admin.extensions import db
from pieced_admin.integrations.stripe_pay import PaymentProviderError
from pieced_admin.models import ChargeAttempt, Invoice
from pieced_admin.payments.charging import charge_invoice
from pieced_admin.payments.customers import ensure_customer

from .conftest import issue_last_month, make_card_org


PI_CREATE = r"/v1/payment_intents"
CONFIRM = r"/v1/payment_intents/[^/]+/confirm"


def _card_invoice(fake, token="pm_card_visa"):
    org = make_card_org()
    db.session.commit()
    customer_id = ensure_customer(org)
    fake.client().v1.payment_methods.attach(token, {"customer": customer_id})
    [invoice] = issue_last_month(org.zitadel_org_id).issued
    return org, invoice


def _reload(invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


@pytest.mark.parametrize("status", [500, 429])
def test_an_error_answered_after_the_create_is_retried_with_the_same_key(on_fake, status):
    org, invoice = _card_invoice(on_fake)
    # Stripe creates the PaymentIntent, then the answer is lost in a 500 (or a 429 arrives).
    on_fake.fail("POST", PI_CREATE, status, after=True)

    [note] = collect_after_issue([invoice])

    assert "paid by card" in note
    assert len(on_fake.created["payment_intent"]) == 1 and len(on_fake.created["charge"]) == 1
    creates = on_fake.requests_to("POST", PI_CREATE)
    assert len(creates) == 2  # the library's retry ...
    assert {r.idempotency_key for r in creates} == {f"pieced-invoice-{invoice.id}-attempt-1"}  # ... same key
    invoice = _reload(invoice)
    assert invoice.status == "paid" and invoice.payment_reference == on_fake.created["payment_intent"][0]


def test_a_rate_limit_before_anything_happened_is_retried(on_fake):
    org, invoice = _card_invoice(on_fake)
    on_fake.fail("POST", PI_CREATE, 429, times=2)  # two 429s, then the third try goes through

    [note] = collect_after_issue([invoice])

    assert "paid by card" in note
    assert len(on_fake.created["payment_intent"]) == 1
    assert len(on_fake.requests_to("POST", PI_CREATE)) == 3


def test_a_timeout_after_stripe_processed_the_create_makes_no_second_payment(app, on_fake):
    org, invoice = _card_invoice(on_fake)
    app.config["STRIPE_TIMEOUT"] = 1.0
    on_fake.stall("POST", PI_CREATE, seconds=2.5)  # created at Stripe, answered too late

    [note] = collect_after_issue([invoice])

    assert "paid by card" in note
    assert len(on_fake.created["payment_intent"]) == 1 and len(on_fake.created["charge"]) == 1
    assert len(on_fake.requests_to("POST", CONFIRM)) == 1
    assert _reload(invoice).status == "paid"


def test_a_crash_between_create_and_store_reuses_the_key_and_stripe_returns_the_same_payment(on_fake):
    org, invoice = _card_invoice(on_fake)
    # Created at Stripe, then the connection drops on the first try and on both retries:
    # for us it is as if the process died before it could store the PaymentIntent id.
    on_fake.drop("POST", PI_CREATE, times=3)

    [note] = collect_after_issue([invoice])

    assert "card charge not done" in note and "Stripe could not be reached" in note
    invoice = _reload(invoice)
    [attempt] = db.session.query(ChargeAttempt).filter_by(invoice_id=invoice.id).all()
    assert (attempt.status, attempt.stripe_payment_intent_id) == ("creating", None)
    assert (invoice.status, invoice.charge_status, invoice.stripe_payment_intent_id) == ("issued", "error", None)
    [created] = on_fake.created["payment_intent"]
    assert on_fake.payment_intents[created]["status"] == "requires_confirmation"  # never confirmed

    outcome = charge_invoice(invoice.number)

    assert outcome.ok and outcome.payment_intent_id == created
    assert on_fake.created["payment_intent"] == [created]  # Stripe answered the same key with the same one
    assert len(on_fake.created["charge"]) == 1
    keys = {r.idempotency_key for r in on_fake.requests_to("POST", PI_CREATE)}
    assert keys == {f"pieced-invoice-{invoice.id}-attempt-1"}
    invoice = _reload(invoice)
    assert (invoice.status, invoice.stripe_payment_intent_id, invoice.payment_reference) == ("paid", created, created)


@pytest.mark.parametrize("fault", ["answer lost after charging", "refused before charging"])
def test_a_failed_confirm_is_settled_from_the_stored_payment(on_fake, fault):
    org, invoice = _card_invoice(on_fake)
    if fault == "answer lost after charging":
        on_fake.drop("POST", CONFIRM, times=3)  # the card is charged, the answer never arrives
    else:
        on_fake.fail("POST", CONFIRM, 503, times=3)  # Stripe is down: nothing charged yet

    [note] = collect_after_issue([invoice])
    assert "card charge not done" in note
    invoice = _reload(invoice)
    assert invoice.stripe_payment_intent_id is not None
    assert (invoice.status, invoice.charge_status) == ("issued", "error")

    outcome = charge_invoice(invoice.number)

    assert outcome.ok and "paid by card" in outcome.message
    assert len(on_fake.created["payment_intent"]) == 1
    assert len(on_fake.created["charge"]) == 1  # charged once, whichever way the first confirm failed
    assert _reload(invoice).status == "paid"


def test_without_stripe_a_card_invoice_is_issued_and_its_charge_waits(app, on_fake):
    org = make_card_org()
    db.session.commit()
    app.config["STRIPE_API_KEY"] = ""
    [invoice] = issue_last_month(org.zitadel_org_id).issued

    [note] = collect_after_issue([invoice])

    assert "charge pending (Stripe is not configured" in note
    invoice = _reload(invoice)
    assert (invoice.status, invoice.charge_status) == ("issued", "pending")
    assert "set STRIPE_API_KEY" in invoice.charge_message
    assert on_fake.requests == []


def test_customer_creation_is_idempotent_when_the_answer_is_lost(app, on_fake):
    org = make_card_org()
    db.session.commit()
    on_fake.search_lag = 60  # Stripe's search index lags writes: adoption cannot see a fresh customer
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 0
    on_fake.drop("POST", r"/v1/customers")

    with pytest.raises(PaymentProviderError, match="Stripe could not be reached"):
        ensure_customer(org)
    assert org.stripe_customer_id is None

    customer_id = ensure_customer(org)  # the same key again: Stripe returns the customer it made

    assert on_fake.created["customer"] == [customer_id]
    assert {r.idempotency_key for r in on_fake.requests_to("POST", r"/v1/customers")} == {
        f"pieced-customer-{org.zitadel_org_id}"}


def test_a_500_answered_after_the_customer_was_created_is_retried_with_the_same_key(on_fake):
    org = make_card_org()
    on_fake.fail("POST", r"/v1/customers", 500, after=True)

    customer_id = ensure_customer(org)

    assert on_fake.created["customer"] == [customer_id]
    assert len(on_fake.requests_to("POST", r"/v1/customers")) == 2


@pytest.mark.parametrize("change", ["canceled", "missing"])
def test_a_stored_payment_canceled_or_missing_at_stripe_is_never_recreated(on_fake, change):
    org, invoice = _card_invoice(on_fake, token="pm_card_chargeCustomerFail")
    collect_after_issue([invoice])
    [pi_id] = on_fake.created["payment_intent"]
    if change == "canceled":
        on_fake.set_payment_intent_status(pi_id, "canceled")
    else:
        on_fake.delete_payment_intent(pi_id)

    outcome = charge_invoice(invoice.number)

    assert not outcome.ok
    assert ("was canceled at Stripe" if change == "canceled" else "is missing at Stripe") in outcome.message
    assert on_fake.created["payment_intent"] == [pi_id]
    invoice = _reload(invoice)
    assert (invoice.status, invoice.charge_status) == ("issued", change)
