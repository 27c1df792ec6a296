"""Stripe: customers, payment methods, PaymentIntents, Checkout setup sessions, webhook verification.

A thin layer over the official `stripe` library (`StripeClient`). It reads the
settings, keeps the library's network retries on (a retried POST carries the
same idempotency key, so Stripe answers it once), and turns every library
error into `PaymentProviderError`, whose message names Stripe and says what to
do. It touches no database: what to store, and when, is decided in
`pieced_admin/payments/`.

Settings: `STRIPE_API_KEY` (none: Stripe is "not configured", a state the UI
shows, not a crash), `STRIPE_API_BASE` (only to point at a local Stripe fake),
`STRIPE_TIMEOUT` (seconds, default 30), `STRIPE_MAX_NETWORK_RETRIES` (default
2) and `STRIPE_RETRY_DELAY` (first back-off in seconds, default 0.5).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

log = logging.getLogger(__name__)

__all__ = [
    "PaymentProviderError", "StripeNotConfiguredError", "StripeNotFoundError", "CardDeclined", "StripeGateway",
    "is_configured", "gateway", "verify_webhook", "WebhookSignatureError", "ORG_METADATA_KEY",
]

# The metadata key naming our org on a Stripe customer (adoption of customers created before ids were stored).
ORG_METADATA_KEY = "pieced_org_id"


class PaymentProviderError(RuntimeError):
    """Stripe failed or refused a request; the message names Stripe and what to do."""

    def __init__(self, message: str, *, ambiguous: bool = False, status: int | None = None,
                 code: str | None = None):
        super().__init__(message)
        # True when Stripe may have done what was asked (timeout, 5xx, 429): repeat with the same key.
        self.ambiguous = ambiguous
        self.status = status
        self.code = code


class StripeNotConfiguredError(PaymentProviderError):
    """No STRIPE_API_KEY: card payments are switched off."""


class StripeNotFoundError(PaymentProviderError):
    """The object does not exist at Stripe (HTTP 404)."""


class CardDeclined(PaymentProviderError):
    """The card was declined; `decline_message` is Stripe's text, `payment_intent` its PaymentIntent (if any)."""

    def __init__(self, message: str, *, decline_message: str, payment_intent: dict | None = None,
                 code: str | None = None):
        super().__init__(message, status=402, code=code)
        self.decline_message = decline_message
        self.payment_intent = payment_intent


class WebhookSignatureError(ValueError):
    """The payload is not a Stripe event signed with our webhook secret."""


NOT_CONFIGURED = "Stripe is not configured: set STRIPE_API_KEY to collect card payments"


def is_configured() -> bool:
    """Whether card payments through Stripe are switched on (STRIPE_API_KEY set)."""
    return bool(current_app.config.get("STRIPE_API_KEY"))


class _RetryingRequestsClient(stripe.RequestsClient):
    """The library's requests client with a configurable back-off, retrying 429 as well.

    The library already retries timeouts, connection errors, 409 and 5xx; a
    429 (rate limit, lock timeout) is as transient, and the idempotency key
    that rides along every create makes repeating it safe.
    """

    def __init__(self, *, timeout: float, initial_delay: float, max_delay: float):
        super().__init__(timeout=timeout)
        self._initial_delay = initial_delay
        self._max_delay = max_delay

    def _should_retry(self, response, api_connection_error, num_retries, max_network_retries):
        if (response is not None and response[1] == 429
                and num_retries < (max_network_retries or 0)):
            return True
        return super()._should_retry(response, api_connection_error, num_retries, max_network_retries)

    def _sleep_time_seconds(self, num_retries: int) -> float:
        delay = min(self._initial_delay * (2 ** (num_retries - 1)), self._max_delay)
        return max(self._initial_delay, delay * (0.5 + random.random() / 2))


def _error_text(exc: stripe.StripeError) -> str:
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return text.strip()


def _translate(exc: stripe.StripeError, doing: str) -> PaymentProviderError:
    """One line naming Stripe, what failed and what to do."""
    status = getattr(exc, "http_status", None)
    code = getattr(exc, "code", None)
    text = _error_text(exc)
    if isinstance(exc, stripe.CardError):
        pi = None
        body = getattr(exc, "json_body", None) or {}
        if isinstance(body.get("error"), dict):
            pi = body["error"].get("payment_intent")
        return CardDeclined(f"Stripe declined the card while {doing}: {text}", decline_message=text,
                            payment_intent=pi, code=code)
    if isinstance(exc, stripe.AuthenticationError) or isinstance(exc, stripe.PermissionError):
        return PaymentProviderError(
            f"Stripe refused our API key while {doing} ({text}): check STRIPE_API_KEY", status=status, code=code)
    if isinstance(exc, stripe.APIConnectionError):
        return PaymentProviderError(
            f"Stripe could not be reached while {doing} ({text}); nothing is lost: try again in a few minutes",
            ambiguous=True, status=status, code=code)
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        return PaymentProviderError(
            f"Stripe is rate-limiting us while {doing} ({text}); try again in a minute",
            ambiguous=True, status=status, code=code)
    if isinstance(exc, stripe.APIError) and status is not None and status < 500:
        return PaymentProviderError(
            f"Stripe gave an answer we cannot read while {doing} (HTTP {status}): check STRIPE_API_BASE",
            status=status, code=code)
    if (status is not None and status >= 500) or isinstance(exc, stripe.APIError):
        return PaymentProviderError(
            f"Stripe had an internal error while {doing} ({text}); try again later "
            "(https://status.stripe.com)", ambiguous=True, status=status, code=code)
    if status == 404:
        return StripeNotFoundError(f"Stripe has no such object while {doing} ({text})", status=status, code=code)
    return PaymentProviderError(f"Stripe refused the request while {doing}: {text}", status=status, code=code)


def _plain(obj: Any) -> Any:
    """A Stripe object as plain dicts and lists (what we read, store and test against)."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj


@dataclass
class StripeGateway:
    """The calls pieced-admin makes to Stripe, each with the options it needs."""

    client: stripe.StripeClient

    # ------------------------------------------------------------------ customers

    def create_customer(self, *, org_id: str, name: str | None, email: str | None,
                        idempotency_key: str) -> dict:
        params: dict[str, Any] = {"metadata": {ORG_METADATA_KEY: org_id}}
        if name:
            params["name"] = name
        if email:
            params["email"] = email
        return self._call("creating the customer", self.client.v1.customers.create, params,
                          {"idempotency_key": idempotency_key})

    def retrieve_customer(self, customer_id: str) -> dict:
        return self._call("reading the customer", self.client.v1.customers.retrieve, customer_id)

    def search_customers_by_org(self, org_id: str) -> list[dict]:
        """Customers whose metadata names the org (Search API); StripeNotFoundError where search is unavailable."""
        query = f"metadata['{ORG_METADATA_KEY}']:'{_quote_search(org_id)}'"
        result = self._call("searching customers", self.client.v1.customers.search, {"query": query, "limit": 10},
                            raw=True)
        return [_plain(c) for c in result.data]

    def list_customers_by_org(self, org_id: str) -> list[dict]:
        """Every customer whose metadata names the org, found by paging through the customer list."""
        def pages():
            listing = self._call("listing customers", self.client.v1.customers.list, {"limit": 100}, raw=True)
            yield from listing.auto_paging_iter()

        found = []
        try:
            for customer in pages():
                data = _plain(customer)
                if (data.get("metadata") or {}).get(ORG_METADATA_KEY) == org_id and not data.get("deleted"):
                    found.append(data)
        except stripe.StripeError as exc:
            raise _translate(exc, "listing customers") from exc
        return found

    # ------------------------------------------------------------------ payment methods

    def list_card_payment_methods(self, customer_id: str) -> list[dict]:
        try:
            listing = self.client.v1.payment_methods.list({"customer": customer_id, "type": "card", "limit": 100})
            return [_plain(pm) for pm in listing.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise _translate(exc, "listing the customer's cards") from exc

    def create_setup_session(self, *, customer_id: str, success_url: str, cancel_url: str,
                             idempotency_key: str, metadata: dict[str, str]) -> dict:
        params = {
            "mode": "setup",
            "customer": customer_id,
            "payment_method_types": ["card"],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
        }
        return self._call("creating a card setup link", self.client.v1.checkout.sessions.create, params,
                          {"idempotency_key": idempotency_key})

    def create_payment_session(self, *, customer_id: str, amount_minor: int, currency: str, description: str,
                               success_url: str, cancel_url: str, idempotency_key: str,
                               metadata: dict[str, str]) -> dict:
        """A Stripe-hosted payment page (Checkout, mode=payment) for one amount."""
        params = {
            "mode": "payment",
            "customer": customer_id,
            "payment_method_types": ["card"],
            "line_items": [{"quantity": 1, "price_data": {
                "currency": currency.lower(), "unit_amount": amount_minor, "product_data": {"name": description}}}],
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
        }
        return self._call("creating a payment link", self.client.v1.checkout.sessions.create, params,
                          {"idempotency_key": idempotency_key})

    def create_refund(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str,
                      metadata: dict[str, str]) -> dict:
        """Refund part or all of a PaymentIntent's charge."""
        params = {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata}
        return self._call("refunding the card payment", self.client.v1.refunds.create, params,
                          {"idempotency_key": idempotency_key})

    # ------------------------------------------------------------------ payment intents

    def create_payment_intent(self, *, amount_minor: int, currency: str, customer_id: str, payment_method_id: str,
                              metadata: dict[str, str], idempotency_key: str) -> dict:
        params = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        return self._call("creating the payment", self.client.v1.payment_intents.create, params,
                          {"idempotency_key": idempotency_key})

    def confirm_payment_intent(self, payment_intent_id: str, *, idempotency_key: str) -> dict:
        return self._call("charging the card", self.client.v1.payment_intents.confirm, payment_intent_id,
                          {"off_session": True}, {"idempotency_key": idempotency_key})

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict:
        return self._call("reading the payment", self.client.v1.payment_intents.retrieve, payment_intent_id)

    def cancel_payment_intent(self, payment_intent_id: str, *, idempotency_key: str) -> dict:
        return self._call("cancelling the payment", self.client.v1.payment_intents.cancel,
                          payment_intent_id, {}, {"idempotency_key": idempotency_key})

    # ------------------------------------------------------------------ plumbing

    def _call(self, doing: str, method, *args, raw: bool = False):
        try:
            result = method(*args)
        except stripe.StripeError as exc:
            raise _translate(exc, doing) from exc
        return result if raw else _plain(result)


def _quote_search(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def gateway() -> StripeGateway:
    """A gateway on the configured Stripe account; StripeNotConfiguredError without STRIPE_API_KEY."""
    cfg = current_app.config
    api_key = cfg.get("STRIPE_API_KEY")
    if not api_key:
        raise StripeNotConfiguredError(NOT_CONFIGURED)
    base = (cfg.get("STRIPE_API_BASE") or "").rstrip("/")
    http = _RetryingRequestsClient(
        timeout=float(cfg.get("STRIPE_TIMEOUT", 30)),
        initial_delay=float(cfg.get("STRIPE_RETRY_DELAY", 0.5)),
        max_delay=float(cfg.get("STRIPE_RETRY_MAX_DELAY", 5)),
    )
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=int(cfg.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
        http_client=http,
    )
    return StripeGateway(client)


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> dict:
    """The event as a dict, once its `Stripe-Signature` checks out against `secret`; else WebhookSignatureError."""
    if not signature:
        raise WebhookSignatureError("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureError(f"signature does not match: {exc.user_message or exc}") from None
    except ValueError as exc:
        raise WebhookSignatureError(f"payload is not a JSON event: {exc}") from None
    data = event.to_dict()
    if not data.get("id") or not data.get("type"):
        raise WebhookSignatureError("payload is not a Stripe event (no id or type)")
    return data
