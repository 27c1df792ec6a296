"""Webhooks as localstripe delivers them: signed with our secret, over HTTP, about a second after each event.

The app is served by `live_server` (a database of its own that really
commits); localstripe is told where to deliver with `POST /_config/webhooks/<id>`.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from pieced_admin.billing.collection import collect_after_issue
from pieced_admin.extensions import db
from pieced_admin.models import Invoice, OrgPaymentMethod, StripeEvent
from pieced_admin.payments.customers import ensure_customer

from .conftest import WEBHOOK_SECRET, issue_last_month, make_card_org, stripe_settings

pytestmark = pytest.mark.xdist_group("stripe")


def _wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()  # see what the server's requests committed
        result = check()
        if result:
            return result
        db.session.rollback()  # and hold no transaction (SQLite: no lock) while the server works
        time.sleep(0.1)
    raise AssertionError("localstripe's webhook delivery did not arrive in time")


def _event(type_: str, needle: str):
    return db.session.execute(
        sa.select(StripeEvent).where(StripeEvent.type == type_, StripeEvent.outcome.contains(needle))
    ).scalars().first()


def test_localstripe_deliveries_are_verified_stored_and_handled(live_server, localstripe):
    app = live_server.app
    app.config.update(stripe_settings(localstripe.url, localstripe.api_key))
    stripe = localstripe.client()

    with app.app_context():
        org = make_card_org()
        db.session.commit()
        org_id = org.zitadel_org_id
        # Issued before deliveries start: on SQLite, issuing reads before it writes, and a webhook
        # committing in between makes SQLite refuse its write ("database is locked").
        [invoice] = issue_last_month(org_id).issued
        number = invoice.number
        localstripe.register_webhook("pieced-tests", f"{live_server.url}/stripe/webhook", WEBHOOK_SECRET)
        customer_id = ensure_customer(org)
        stripe.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer_id})
        collect_after_issue([invoice])  # declined

        failed = _wait_for(lambda: _event("payment_intent.payment_failed", number))
        assert "card declined" in failed.outcome
        assert failed.processed_at is not None and failed.payload["data"]["object"]["customer"] == customer_id

        # The card holder adds a good card and makes it the default: customer.updated moves the mirror.
        good = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
        db.session.add(OrgPaymentMethod(zitadel_org_id=org_id, stripe_payment_method_id=good.id, brand="visa",
                                        last4="4242", exp_month=12, exp_year=2030))
        db.session.commit()
        stripe.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
        _wait_for(lambda: _event("customer.updated", f"default card {good.id}"))
        assert db.session.execute(
            sa.select(OrgPaymentMethod.is_default).filter_by(stripe_payment_method_id=good.id)).scalar_one()

        from pieced_admin.payments.charging import charge_invoice

        assert charge_invoice(number, retry=True).ok
        succeeded = _wait_for(lambda: _event("payment_intent.succeeded", number))
        assert "already paid by card" in succeeded.outcome  # the charge settled it; the webhook agrees
        invoice = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
        assert invoice.status == "paid"
        # localstripe also delivers events we do not handle: stored and ignored.
        assert db.session.execute(sa.select(StripeEvent.outcome).filter_by(type="customer.created")).scalars().first() \
            == "ignored: customer.created is not handled"
