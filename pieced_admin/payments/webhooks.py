"""Stripe webhooks: verified first, stored once by event id, handled in the caller's one transaction.

Events are matched to our records only through ids we stored (PaymentIntent
id -> charge attempt / invoice; customer id -> org; payment method id -> the
mirror), never through metadata. An event for ids we do not know is stored
with the outcome "no matching record" and changes nothing; an unknown event
type is stored and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from ..audit import acting_as, record_audit
from ..extensions import db
from ..models.dialect import insert_for
from ..integrations.stripe_pay import WebhookSignatureError, verify_webhook
from ..models import ChargeAttempt, Invoice, OrgBillingConfig, OrgPaymentMethod, StripeEvent
from ..models.types import utcnow
from ..web.payloads import json_too_deep
from .charging import record_failure, settle_checkout, settle_paid
from .customers import apply_default_card, mirror_card, remove_card

log = logging.getLogger(__name__)

__all__ = ["WebhookResult", "handle_webhook", "NO_MATCH"]

NO_MATCH = "no matching record"
WEBHOOK_ACTOR = "stripe:webhook"


@dataclass
class WebhookResult:
    """The HTTP answer to Stripe: a status code and a small JSON body."""

    status: int
    body: dict


def _id_of(value) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _attempt_for(pi_id: str) -> tuple[Invoice | None, ChargeAttempt | None]:
    attempt = db.session.execute(
        sa.select(ChargeAttempt).filter_by(stripe_payment_intent_id=pi_id).order_by(ChargeAttempt.id.desc()).limit(1)
    ).scalar_one_or_none()
    if attempt is not None:
        return db.session.get(Invoice, attempt.invoice_id), attempt
    invoice = db.session.execute(sa.select(Invoice).filter_by(stripe_payment_intent_id=pi_id)).scalar_one_or_none()
    return invoice, None


def _org_for_customer(customer_id: str | None) -> OrgBillingConfig | None:
    if not customer_id:
        return None
    return db.session.execute(
        sa.select(OrgBillingConfig).filter_by(stripe_customer_id=customer_id)
    ).scalar_one_or_none()


# --------------------------------------------------------------------------- handlers


def _payment_succeeded(obj: dict) -> str:
    invoice, attempt = _attempt_for(obj.get("id"))
    if invoice is None:
        return NO_MATCH
    return f"{invoice.number}: {settle_paid(invoice, attempt, obj)}"


def _payment_failed(obj: dict) -> str:
    invoice, attempt = _attempt_for(obj.get("id"))
    if invoice is None:
        return NO_MATCH
    message = ((obj.get("last_payment_error") or {}).get("message")) or "the card was declined"
    if attempt is not None and attempt.status == "succeeded":
        return f"{invoice.number}: ignored, the payment already succeeded"
    record_failure(invoice, attempt, message)
    record_audit("invoice.charge_failed_webhook", "invoice", invoice.number,
                 note=f"Stripe reported {obj.get('id')} failed: {message}")
    return f"{invoice.number}: card declined ({message})"


def _payment_method_changed(obj: dict) -> str:
    pm_id = obj.get("id")
    org = _org_for_customer(_id_of(obj.get("customer")))
    if org is None:
        # Detached (customer now null) or a customer that is not ours: only the mirror knows it.
        known = db.session.execute(
            sa.select(OrgPaymentMethod.zitadel_org_id).filter_by(stripe_payment_method_id=pm_id)
        ).scalar_one_or_none()
        if known is None:
            return NO_MATCH
        remove_card(pm_id)
        record_audit("org.payment_method_removed", "org", known, before={"card": pm_id})
        return f"{known}: card {pm_id} removed"
    mirror_card(org.zitadel_org_id, obj)
    return f"{org.zitadel_org_id}: card {pm_id} mirrored"


def _payment_method_detached(obj: dict) -> str:
    org_id = remove_card(obj.get("id"))
    if org_id is None:
        return NO_MATCH
    record_audit("org.payment_method_removed", "org", org_id, before={"card": obj.get("id")})
    return f"{org_id}: card {obj.get('id')} removed"


def _customer_updated(obj: dict) -> str:
    org = _org_for_customer(obj.get("id"))
    if org is None:
        return NO_MATCH
    default_id = _id_of((obj.get("invoice_settings") or {}).get("default_payment_method"))
    apply_default_card(org.zitadel_org_id, default_id)
    return f"{org.zitadel_org_id}: default card {default_id or 'none'}"


def _customer_deleted(obj: dict) -> str:
    org = _org_for_customer(obj.get("id"))
    if org is None:
        return NO_MATCH
    rows = db.session.execute(
        sa.select(OrgPaymentMethod).filter_by(zitadel_org_id=org.zitadel_org_id)
    ).scalars().all()
    for row in rows:
        db.session.delete(row)
    note = f"Stripe customer {obj.get('id')} was deleted at Stripe; its {len(rows)} card(s) removed from the mirror"
    record_audit("org.stripe_customer_deleted", "org", org.zitadel_org_id, note=note)
    return f"{org.zitadel_org_id}: {note}"


def _checkout_completed(obj: dict) -> str:
    """A payment link (Checkout, mode=payment) was paid: matched through the session id we stored."""
    if obj.get("mode") != "payment":
        return f"ignored: a {obj.get('mode')} session"
    attempt = db.session.execute(
        sa.select(ChargeAttempt).filter_by(checkout_session_id=obj.get("id"))).scalar_one_or_none()
    if attempt is None:
        return NO_MATCH
    invoice = db.session.get(Invoice, attempt.invoice_id)
    if obj.get("payment_status") != "paid":
        return f"{invoice.number}: payment link session completed, not paid yet ({obj.get('payment_status')})"
    return f"{invoice.number}: {settle_checkout(attempt, obj)}"


def _charge_refunded(obj: dict) -> str:
    """A card payment (partly) refunded at Stripe: the refund is a negative ledger row, recorded once."""
    from .refunds import record_card_refund

    return record_card_refund(obj)


HANDLERS: dict[str, Callable[[dict], str]] = {
    "payment_intent.succeeded": _payment_succeeded,
    "checkout.session.completed": _checkout_completed,
    "charge.refunded": _charge_refunded,
    "payment_intent.payment_failed": _payment_failed,
    "payment_method.attached": _payment_method_changed,
    "payment_method.updated": _payment_method_changed,
    "payment_method.automatically_updated": _payment_method_changed,
    "payment_method.detached": _payment_method_detached,
    "customer.updated": _customer_updated,
    "customer.deleted": _customer_deleted,
}


# --------------------------------------------------------------------------- entry point


def _store_once(event_id: str, event_type: str, payload: dict) -> bool:
    """Insert the event unless its id is stored already; False for a replay.

    The insert is the transaction's first statement: a concurrent delivery of
    the same event waits for it (and then finds the id), and on SQLite the
    write lock is held before anything is read.
    """
    table = StripeEvent.__table__
    inserted = db.session.execute(
        insert_for(table).values(id=event_id, type=event_type, payload=payload)
        .on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    ).scalar_one_or_none()
    return inserted is not None


MAX_EVENT_DEPTH = 64  # Stripe's objects nest a dozen levels at most
REFERENCE_FIELDS = ("customer", "payment_method", "payment_intent", "invoice", "charge")
OBJECT_FIELDS = ("last_payment_error", "invoice_settings", "metadata")


def _reference_ok(value) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        value = value.get("id")
        if value is None:
            return True
    return isinstance(value, str) and len(value) <= 255


def malformed_event(event: dict) -> str | None:
    """What makes a signed event unusable (our columns and handlers rely on its shape), or None."""
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 100:
        return "the event id must be a text of 1 to 100 characters"
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        return "the event type must be a text of 1 to 100 characters"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data.object must be an object"
    obj = data["object"]
    if not _reference_ok(obj.get("id")) or isinstance(obj.get("id"), dict):
        return "data.object.id must be a text of at most 255 characters"
    for name in REFERENCE_FIELDS:
        if not _reference_ok(obj.get(name)):
            return f"data.object.{name} must be an id or an object with an id"
    for name in OBJECT_FIELDS:
        if obj.get(name) is not None and not isinstance(obj.get(name), dict):
            return f"data.object.{name} must be an object"
    return None


def handle_webhook(payload: bytes, signature: str | None) -> WebhookResult:
    """Verify, store once and handle one delivery; flushes, the caller commits (one transaction)."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return WebhookResult(503, {"error": "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET"})
    if json_too_deep(payload or b"", MAX_EVENT_DEPTH):
        log.warning("rejected a Stripe webhook: the body nests deeper than %d levels", MAX_EVENT_DEPTH)
        return WebhookResult(400, {"error": f"invalid Stripe webhook: nested deeper than {MAX_EVENT_DEPTH} levels"})
    try:
        event = verify_webhook(payload, signature, secret)
    except WebhookSignatureError as exc:
        log.warning("rejected a Stripe webhook: %s", exc)
        return WebhookResult(400, {"error": f"invalid Stripe webhook: {exc}"})
    problem = malformed_event(event)
    if problem:
        # Signed, so it is Stripe's (or someone holding our secret): a 400 stops the retries, the log keeps it.
        log.warning("rejected a signed Stripe webhook %r: %s", str(event.get("id"))[:120], problem)
        return WebhookResult(400, {"error": f"malformed Stripe event: {problem}"})

    event_id, event_type = event["id"], event["type"]
    if not _store_once(event_id, event_type, event):
        return WebhookResult(200, {"received": event_id, "outcome": "duplicate: already handled"})
    stored = db.session.get(StripeEvent, event_id)

    handler = HANDLERS.get(event_type)
    obj = event["data"]["object"]
    with acting_as(WEBHOOK_ACTOR):
        outcome = handler(obj) if handler else f"ignored: {event_type} is not handled"
    stored.outcome = outcome[:300]
    stored.processed_at = utcnow()
    db.session.flush()
    log.info("Stripe event %s (%s): %s", event_id, event_type, outcome)
    return WebhookResult(200, {"received": event_id, "outcome": outcome})
