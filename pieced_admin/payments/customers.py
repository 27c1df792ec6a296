"""The org's Stripe customer and its cards: created or adopted once, then always used by stored id.

`ensure_customer` commits the id it learns in a step of its own, so a crash
later in the same request can never lose it (the next call would otherwise
adopt or, worse, create again). The card mirror (`org_payment_methods`) is
rewritten from Stripe by `sync_payment_methods` and patched by webhooks.
"""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import quote

import sqlalchemy as sa

from .. import clock
from ..audit import record_audit
from ..billing.facts import UnknownOrgError, known_org_ids
from ..extensions import db
from ..integrations.stripe_pay import (
    ORG_METADATA_KEY,
    PaymentProviderError,
    StripeGateway,
    StripeNotFoundError,
    gateway,
)
from ..models import OrgBillingConfig, OrgPaymentMethod
from ..models.types import utcnow

log = logging.getLogger(__name__)

__all__ = [
    "StepGateway", "stepped", "claim_write_lock", "find_org", "customer_idempotency_key", "ensure_customer", "sync_payment_methods", "create_setup_link",
    "mirror_card", "remove_card", "apply_default_card", "default_card", "card_is_usable",
]


def claim_write_lock() -> None:
    """On SQLite, open the transaction with the database write lock, as BEGIN IMMEDIATE would.

    SQLite refuses a write from a transaction that read before another
    connection (a webhook) committed; a step that reads and then records what
    Stripe said therefore takes the lock first (waiting its turn). A no-op on
    PostgreSQL.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.text("UPDATE stripe_events SET id = id WHERE 1 = 0"))


class StepGateway:
    """The Stripe gateway, with a transaction boundary around every call.

    Before the call the current transaction ends: nothing is held open across
    the network (PostgreSQL would sit idle in a transaction), and every write
    of the payments services is committed before they talk to Stripe anyway.
    After it, the next step starts with the write lock (`claim_write_lock`).
    """

    def __init__(self, gw: StripeGateway):
        self._gw = gw

    def __getattr__(self, name: str):
        method = getattr(self._gw, name)

        def call(*args, **kwargs):
            db.session.commit()
            try:
                return method(*args, **kwargs)
            finally:
                claim_write_lock()

        return call


def stepped(gw: StripeGateway | StepGateway | None) -> StepGateway:
    """A StepGateway on `gw` (default: the configured Stripe account)."""
    if isinstance(gw, StepGateway):
        return gw
    return StepGateway(gw or gateway())


def find_org(org_id: str) -> OrgBillingConfig:
    """The billing config of a known org (one with a config or a tenant); UnknownOrgError otherwise."""
    from ..orgs.services import get_org_config

    org_id = (org_id or "").strip()
    if not org_id or org_id not in known_org_ids([org_id]):
        raise UnknownOrgError(f"unknown org {org_id!r}: no billing config and no tenant has this id")
    return get_org_config(org_id)


def customer_idempotency_key(org_id: str) -> str:
    """The key every customer create of an org carries: Stripe answers a repeat with the same customer."""
    return f"pieced-customer-{org_id}"


# --------------------------------------------------------------------------- customer


def _adopt(gw: StepGateway, org_id: str) -> dict | None:
    """A customer created for this org before ids were stored (metadata `pieced_org_id`), if any.

    Search first; where search is unavailable (404) or failing, page through
    the customer list instead. When neither answers, raise: a customer is
    never created blindly while an older one may exist.
    """
    try:
        found = gw.search_customers_by_org(org_id)
    except PaymentProviderError as exc:
        if not isinstance(exc, StripeNotFoundError) and not exc.ambiguous:
            raise
        log.info("Stripe customer search unavailable (%s); listing customers to adopt org %s", exc, org_id)
        found = gw.list_customers_by_org(org_id)
    found = [c for c in found if not c.get("deleted")]
    if not found:
        return None
    found.sort(key=lambda c: (c.get("created") or 0, c.get("id")))
    if len(found) > 1:
        log.warning("org %s has %d Stripe customers (%s); adopting the oldest, %s", org_id, len(found),
                    ", ".join(c["id"] for c in found), found[0]["id"])
    return found[0]


def ensure_customer(config: OrgBillingConfig, gw: StripeGateway | StepGateway | None = None) -> str:
    """The org's Stripe customer id: the stored one, else adopted or created once and committed at once."""
    if config.stripe_customer_id:
        return config.stripe_customer_id
    gw = stepped(gw)
    org_id = config.zitadel_org_id
    adopted = _adopt(gw, org_id)
    if adopted is not None:
        customer_id, how = adopted["id"], "adopted an existing Stripe customer (metadata pieced_org_id)"
    else:
        created = gw.create_customer(org_id=org_id, name=config.display_name or org_id,
                                     email=config.billing_email, idempotency_key=customer_idempotency_key(org_id))
        customer_id, how = created["id"], "created the Stripe customer"
    config.stripe_customer_id = customer_id
    config.updated_at = utcnow()
    record_audit("org.stripe_customer", "org", org_id, before={"stripe_customer_id": None},
                 after={"stripe_customer_id": customer_id}, note=how)
    db.session.commit()  # its own step: the id is never lost once Stripe has it
    return customer_id


# --------------------------------------------------------------------------- the card mirror


def _card_fields(pm: dict) -> dict:
    card = pm.get("card") or {}
    return {
        "type": pm.get("type") or "card",
        "brand": card.get("brand"),
        "last4": card.get("last4"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
    }


def _org_cards(org_id: str) -> list[OrgPaymentMethod]:
    return list(db.session.execute(
        sa.select(OrgPaymentMethod).where(OrgPaymentMethod.zitadel_org_id == org_id).order_by(OrgPaymentMethod.id)
    ).scalars())


def _set_defaults(rows: list[OrgPaymentMethod], default_id: str | None) -> None:
    """Flag the customer's default card, or the only card; otherwise none."""
    ids = {r.stripe_payment_method_id for r in rows}
    if default_id not in ids:
        default_id = rows[0].stripe_payment_method_id if len(rows) == 1 else None
    for row in rows:
        flag = row.stripe_payment_method_id == default_id
        if row.is_default != flag:
            row.is_default = flag
            row.updated_at = utcnow()


def mirror_card(org_id: str, pm: dict) -> OrgPaymentMethod:
    """Insert or update one card of the org from a Stripe PaymentMethod (default flags kept)."""
    row = db.session.execute(
        sa.select(OrgPaymentMethod).filter_by(stripe_payment_method_id=pm["id"])
    ).scalar_one_or_none()
    fields = _card_fields(pm)
    if row is None:
        row = OrgPaymentMethod(zitadel_org_id=org_id, stripe_payment_method_id=pm["id"], is_default=False, **fields)
        db.session.add(row)
    else:
        row.zitadel_org_id = org_id
        for key, value in fields.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    db.session.flush()
    rows = _org_cards(org_id)
    current = next((r.stripe_payment_method_id for r in rows if r.is_default), None)
    _set_defaults(rows, current)
    return row


def remove_card(pm_id: str) -> str | None:
    """Drop a detached card from the mirror; returns the org it belonged to (None if unknown)."""
    row = db.session.execute(
        sa.select(OrgPaymentMethod).filter_by(stripe_payment_method_id=pm_id)
    ).scalar_one_or_none()
    if row is None:
        return None
    org_id = row.zitadel_org_id
    db.session.delete(row)
    db.session.flush()
    rows = _org_cards(org_id)
    _set_defaults(rows, next((r.stripe_payment_method_id for r in rows if r.is_default), None))
    return org_id


def apply_default_card(org_id: str, default_id: str | None) -> None:
    """Follow the customer's `invoice_settings.default_payment_method` in the mirror."""
    _set_defaults(_org_cards(org_id), default_id)
    db.session.flush()


def _default_id(customer: dict) -> str | None:
    value = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(value, dict):
        value = value.get("id")
    return value or None


def sync_payment_methods(config: OrgBillingConfig,
                         gw: StripeGateway | StepGateway | None = None) -> list[OrgPaymentMethod]:
    """Rewrite the org's mirrored cards from Stripe (brand, last4, expiry, default); detached ones go.

    Commits what is pending before each Stripe call (see StepGateway); the mirror is flushed, the caller commits.
    """
    gw = stepped(gw)
    customer_id = ensure_customer(config, gw)
    customer = gw.retrieve_customer(customer_id)
    if customer.get("deleted"):
        raise PaymentProviderError(
            f"Stripe says customer {customer_id} of org {config.zitadel_org_id} was deleted: "
            "restore it in the Stripe dashboard or clear the stored id")
    cards = gw.list_card_payment_methods(customer_id)
    org_id = config.zitadel_org_id
    before = sorted((r.stripe_payment_method_id, r.is_default) for r in _org_cards(org_id))
    seen = set()
    for pm in cards:
        seen.add(pm["id"])
        mirror_card(org_id, pm)
    for row in _org_cards(org_id):
        if row.stripe_payment_method_id not in seen:
            db.session.delete(row)
    db.session.flush()
    rows = _org_cards(org_id)
    _set_defaults(rows, _default_id(customer))
    db.session.flush()
    after = sorted((r.stripe_payment_method_id, r.is_default) for r in rows)
    if before != after:
        record_audit("org.payment_methods_sync", "org", org_id,
                     before={"cards": [f"{i}{' (default)' if d else ''}" for i, d in before]},
                     after={"cards": [f"{i}{' (default)' if d else ''}" for i, d in after]})
    return rows


def card_is_usable(row: OrgPaymentMethod, today=None) -> bool:
    """Not past its expiry month."""
    if not row.exp_year or not row.exp_month:
        return True
    today = today or clock.today()
    return (row.exp_year, row.exp_month) >= (today.year, today.month)


def default_card(rows: list[OrgPaymentMethod]) -> OrgPaymentMethod | None:
    """The card a charge goes to: the flagged default."""
    return next((r for r in rows if r.is_default), None)


# --------------------------------------------------------------------------- card setup link


def create_setup_link(config: OrgBillingConfig, base_url: str,
                      gw: StripeGateway | StepGateway | None = None) -> str:
    """A Stripe Checkout link (mode=setup) where the org's card holder saves a card for later charges."""
    gw = stepped(gw)
    customer_id = ensure_customer(config, gw)
    org_id = config.zitadel_org_id
    base = base_url.rstrip("/")
    page = f"{base}/orgs/{quote(org_id, safe='')}"
    success_url, cancel_url = f"{page}?card_setup=done", f"{page}?card_setup=cancelled"
    # Derived from our ids: a double click within the same minute returns the same session.
    minute = utcnow().strftime("%Y%m%d%H%M")
    digest = hashlib.sha256(success_url.encode()).hexdigest()[:8]
    session = gw.create_setup_session(
        customer_id=customer_id, success_url=success_url, cancel_url=cancel_url,
        idempotency_key=f"pieced-setup-{org_id}-{minute}-{digest}", metadata={ORG_METADATA_KEY: org_id},
    )
    url = session.get("url")
    if not url:
        raise PaymentProviderError("Stripe returned a Checkout session without a URL: try again")
    record_audit("org.card_setup_link", "org", org_id, after={"checkout_session": session.get("id")})
    db.session.flush()
    return url
