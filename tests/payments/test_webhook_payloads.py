"""Signed webhook deliveries whose payload is malformed get a 400 and a log line, never a 500
(a 500 makes Stripe retry for days), and store nothing."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from pieced_admin.models import StripeEvent

from .conftest import event, signed


@pytest.fixture
def webhook_app(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_pieced_test_secret"
    return app


def _post(client, payload):
    body, header = signed(payload)
    return client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": header})


def _stored(session) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(StripeEvent)).scalar_one()


def _with(**changes):
    payload = event("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"})
    payload.update(changes)
    return payload


MALFORMED = [
    (_with(data="not an object"), "data.object must be an object"),
    (_with(data=["a", "list"]), "data.object must be an object"),
    (_with(data={"object": "pi_x"}), "data.object must be an object"),
    (_with(data={"object": None}), "data.object must be an object"),
    (_with(id="evt_" + "x" * 97), "event id must be a text of 1 to 100 characters"),
    (_with(id=12345), "event id must be a text"),
    (_with(type=["payment_intent.succeeded"]), "event type must be a text"),
    (_with(data={"object": {"id": ["pi_x"], "object": "payment_intent"}}), "data.object.id must be a text"),
    (_with(data={"object": {"id": {"x": 1}}}), "data.object.id must be a text"),
    (_with(data={"object": {"id": "pi_x", "last_payment_error": "declined"}}), "last_payment_error must be an object"),
    (_with(type="customer.updated", data={"object": {"id": "cus_x", "invoice_settings": ["x"]}}),
     "invoice_settings must be an object"),
    (_with(type="payment_method.attached", data={"object": {"id": "pm_x", "customer": ["cus_x"]}}),
     "customer must be an id"),
]


@pytest.mark.parametrize("payload, says", MALFORMED)
def test_a_malformed_signed_event_is_a_400_and_logged(webhook_app, client, session, caplog, payload, says):
    with caplog.at_level(logging.WARNING, logger="pieced_admin.payments.webhooks"):
        resp = _post(client, payload)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert says in resp.get_json()["error"]
    assert any("rejected a signed Stripe webhook" in r.getMessage() and says in r.getMessage()
               for r in caplog.records)
    assert _stored(session) == 0


def test_a_deeply_nested_body_is_a_400(webhook_app, client, session):
    body = b'{"id": "evt_1", "type": "x", "data": {"object": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    resp = _post(client, body)
    assert resp.status_code == 400
    assert "nested deeper" in resp.get_json()["error"]
    assert _stored(session) == 0


def test_a_well_formed_event_of_100_characters_is_accepted(webhook_app, client, session):
    resp = _post(client, _with(id="evt_" + "x" * 96))
    assert resp.status_code == 200
    assert _stored(session) == 1
