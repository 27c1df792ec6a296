"""POST /stripe/webhook with events signed by hand the way Stripe signs them
(`Stripe-Signature: t=<time>,v1=<HMAC-SHA256 of "<time>.<body>">`).

The records the events point to are set up directly in the database: the
webhook matches them only through the ids we stored.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, ChargeAttempt, Invoice, OrgPaymentMethod, StripeEvent
from pieced_admin.orgs.services import default_entity

from .conftest import event, make_card_org, signed



@pytest.fixture
def webhook_app(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_pieced_test_secret"
    return app


def _post(client, payload, signature=None, **sign):
    body, header = signed(payload, **sign)
    return client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": signature or header})


def _charged_invoice(pi_id="pi_test_charged", customer_id="cus_test_charged") -> tuple[Invoice, ChargeAttempt]:
    """An issued card invoice whose first attempt created `pi_id` (total 52.97 = 5297 Rappen)."""
    org = make_card_org()
    org.stripe_customer_id = customer_id
    invoice = Invoice(
        number="PC-2026-9001", zitadel_org_id=org.zitadel_org_id,
        billing_entity_id=default_entity().id, period_start=date(2026, 10, 1), period_end=date(2026, 10, 31),
        status="issued", issued_at=clock.now(), due_date=date(2026, 12, 21), currency="CHF",
        net_chf=Decimal("49.00"), vat_rate=Decimal("8.10"), vat_chf=Decimal("3.97"), total_chf=Decimal("52.97"),
        charge_status="processing", stripe_payment_intent_id=pi_id,
    )
    db.session.add(invoice)
    db.session.flush()
    attempt = ChargeAttempt(invoice_id=invoice.id, attempt=1, idempotency_key=f"pieced-invoice-{invoice.id}-attempt-1",
                            stripe_payment_intent_id=pi_id, amount_minor=5297, status="requires_confirmation")
    db.session.add(attempt)
    db.session.flush()
    return invoice, attempt


def _pi(pi_id, status="succeeded", customer="cus_test_charged", **extra) -> dict:
    return {"id": pi_id, "object": "payment_intent", "amount": 5297, "currency": "chf", "status": status,
            "customer": customer, "metadata": {}, **extra}


def _count(model, **filters) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).filter_by(**filters)).scalar_one()


def test_a_forged_signature_is_refused_and_nothing_is_stored(webhook_app, client):
    invoice, _ = _charged_invoice()
    payload = event("payment_intent.succeeded", _pi("pi_test_charged"))

    forged = _post(client, payload, secret="whsec_someone_else")
    unsigned = client.post("/stripe/webhook", json=payload)
    stale = _post(client, payload, timestamp=1_000_000_000)  # 2001: outside Stripe's 5-minute tolerance

    assert [forged.status_code, unsigned.status_code, stale.status_code] == [400, 400, 400]
    assert "invalid Stripe webhook" in forged.get_json()["error"]
    assert _count(StripeEvent) == 0
    db.session.refresh(invoice)
    assert invoice.status == "issued"


def test_without_a_signing_secret_nothing_is_accepted(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = ""
    resp = _post(client, event("payment_intent.succeeded", _pi("pi_x")))
    assert resp.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in resp.get_json()["error"]
    assert _count(StripeEvent) == 0


def test_payment_succeeded_marks_the_invoice_paid_once_however_often_it_is_delivered(webhook_app, client):
    invoice, attempt = _charged_invoice()
    payload = event("payment_intent.succeeded", _pi("pi_test_charged"), event_id="evt_paid_1")

    first = _post(client, payload)
    replay = _post(client, payload)

    assert first.status_code == 200 and first.get_json()["outcome"] == f"{invoice.number}: paid by card (pi_test_charged)"
    assert replay.status_code == 200 and replay.get_json()["outcome"].startswith("duplicate")
    db.session.refresh(invoice)
    db.session.refresh(attempt)
    assert (invoice.status, invoice.payment_method, invoice.payment_reference, invoice.charge_status) == (
        "paid", "card", "pi_test_charged", "succeeded")
    assert invoice.paid_by == "stripe:webhook"
    assert attempt.status == "succeeded"
    assert _count(StripeEvent, id="evt_paid_1") == 1
    assert _count(AuditLog, action="invoice.mark_paid", object_id=invoice.number) == 1

    # The same payment reported again under another event id changes nothing either.
    again = _post(client, event("payment_intent.succeeded", _pi("pi_test_charged")))
    assert again.get_json()["outcome"] == f"{invoice.number}: already paid by card (pi_test_charged)"
    assert _count(AuditLog, action="invoice.mark_paid", object_id=invoice.number) == 1


def test_payment_failed_is_recorded_on_the_invoice_timeline(webhook_app, client):
    invoice, attempt = _charged_invoice()
    failed = _pi("pi_test_charged", status="requires_payment_method",
                 last_payment_error={"type": "card_error", "code": "card_declined",
                                     "message": "Your card has insufficient funds."})

    resp = _post(client, event("payment_intent.payment_failed", failed))

    assert resp.status_code == 200
    db.session.refresh(invoice)
    db.session.refresh(attempt)
    assert invoice.status == "issued"
    assert (invoice.charge_status, invoice.charge_message) == ("failed", "Card declined: Your card has insufficient funds.")
    assert (attempt.status, attempt.error) == ("failed", "Your card has insufficient funds.")
    actions = db.session.execute(sa.select(AuditLog.action, AuditLog.actor).filter_by(object_id=invoice.number)).all()
    assert ("invoice.charge_failed", "stripe:webhook") in actions


def test_events_for_unknown_ids_are_stored_and_change_nothing(webhook_app, client):
    invoice, _ = _charged_invoice()
    unknown = [
        event("payment_intent.succeeded", _pi("pi_nobody_knows", metadata={"pieced_invoice_number": invoice.number,
                                                                         "pieced_invoice_id": str(invoice.id)})),
        event("payment_intent.payment_failed", _pi("pi_nobody_knows", status="requires_payment_method")),
        event("payment_method.attached", {"id": "pm_unknown", "object": "payment_method", "type": "card",
                                          "customer": "cus_unknown", "card": {"brand": "visa", "last4": "4242"}}),
        event("customer.updated", {"id": "cus_unknown", "object": "customer", "metadata": {
            "pieced_org_id": invoice.zitadel_org_id}, "invoice_settings": {"default_payment_method": None}}),
    ]
    for payload in unknown:
        assert _post(client, payload).status_code == 200
    ignored = _post(client, event("invoice.finalized", {"id": "in_123", "object": "invoice"}))

    assert ignored.get_json()["outcome"] == "ignored: invoice.finalized is not handled"
    outcomes = db.session.execute(sa.select(StripeEvent.outcome)).scalars().all()
    assert outcomes.count("no matching record") == 4 and len(outcomes) == 5
    db.session.refresh(invoice)
    # Metadata naming our invoice is never used to match: only stored ids are.
    assert (invoice.status, invoice.charge_status) == ("issued", "processing")
    assert _count(OrgPaymentMethod) == 0


def test_card_events_keep_the_mirror_up_to_date(webhook_app, client):
    invoice, _ = _charged_invoice(customer_id="cus_mirror")
    org_id = invoice.zitadel_org_id

    def card(pm_id, last4, customer="cus_mirror"):
        return {"id": pm_id, "object": "payment_method", "type": "card", "customer": customer,
                "card": {"brand": "mastercard", "last4": last4, "exp_month": 3, "exp_year": 2031}}

    _post(client, event("payment_method.attached", card("pm_a", "4444")))
    _post(client, event("payment_method.attached", card("pm_b", "5555")))
    _post(client, event("customer.updated", {"id": "cus_mirror", "object": "customer",
                                             "invoice_settings": {"default_payment_method": "pm_b"}}))
    _post(client, event("payment_method.updated", {**card("pm_b", "5555"),
                                                   "card": {"brand": "mastercard", "last4": "5555",
                                                            "exp_month": 4, "exp_year": 2032}}))

    rows = {r.stripe_payment_method_id: (r.last4, r.exp_month, r.exp_year, r.is_default)
            for r in db.session.execute(sa.select(OrgPaymentMethod).filter_by(zitadel_org_id=org_id)).scalars()}
    # pm_a was the default while it was the only card; the customer's default is now pm_b.
    assert rows == {"pm_a": ("4444", 3, 2031, False), "pm_b": ("5555", 4, 2032, True)}

    # Detached: Stripe sends the method with customer null; the mirror knows whose it was.
    _post(client, event("payment_method.detached", card("pm_b", "5555", customer=None)))
    rows = {r.stripe_payment_method_id: r.is_default
            for r in db.session.execute(sa.select(OrgPaymentMethod).filter_by(zitadel_org_id=org_id)).scalars()}
    assert rows == {"pm_a": True}  # the only card left is the default
