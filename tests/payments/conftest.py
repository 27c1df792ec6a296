"""Card payment tests: one localstripe per test session, a Stripe fake per test, and a card org to bill.

The localstripe tests are marked `xdist_group("stripe")`, so pytest-xdist
(`--dist loadgroup`) keeps them on one worker and one localstripe serves them.
Every test uses org ids of its own, since localstripe's state outlives each
test's database rollback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.extensions import db
from pieced_admin.models import OrgBillingConfig, TenantLifecycle
from pieced_admin.orgs.services import default_entity
from pieced_admin.pricing.services import get_pricing
from tests.conftest import peer_missing
from tests.peers.localstripe_server import LocalStripeUnavailable, start_localstripe
from tests.peers.stripe_fake import StripeFake

# Last month, whenever the tests run: a whole month of one tenant is billed exactly the monthly fee.
LAST_MONTH = Period.of(clock.today("Europe/Zurich")).previous()  # the suite's day
WEBHOOK_SECRET = "whsec_pieced_test_secret"

_localstripe = {}


@pytest.fixture(scope="session")
def localstripe():
    """One localstripe for the session (it keeps state in one process), stopped at the end."""
    try:
        server = start_localstripe()
    except LocalStripeUnavailable as exc:
        peer_missing(str(exc))
    yield server
    server.stop()


def stripe_settings(base_url: str, api_key: str, **extra) -> dict:
    """Settings that point the app at a Stripe peer, with the library's retries on and short back-offs."""
    return {
        "STRIPE_API_KEY": api_key,
        "STRIPE_API_BASE": base_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_NETWORK_RETRIES": 2,
        "STRIPE_RETRY_DELAY": 0.01,
        "STRIPE_RETRY_MAX_DELAY": 0.05,
        "STRIPE_TIMEOUT": 5,
        "PUBLIC_URL": "https://billing.pieced.test",
        **extra,
    }


@pytest.fixture
def on_localstripe(app, localstripe):
    """The test app talking to localstripe."""
    app.config.update(stripe_settings(localstripe.url, localstripe.api_key))
    return localstripe


@pytest.fixture
def fake():
    with StripeFake() as server:
        yield server


@pytest.fixture
def on_fake(app, fake):
    """The test app talking to the Stripe fake."""
    app.config.update(stripe_settings(fake.url, "sk_test_pieced_fake"))
    return fake


def new_org_id(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_card_org(org_id: str | None = None, *, pay_by_invoice: bool = False, name: str = "Acme AG",
                  monthly_fee: str = "49.00") -> OrgBillingConfig:
    """A CH org with one tenant live all of last month (created in 2020).

    Pricing: monthly fee 49.00, VAT 8.10 %. Last month's invoice: net 49.00 (a whole month),
    VAT 49.00 × 8.10 % = 3.969 -> 3.97, total 52.97 CHF = 5297 Rappen.
    """
    org_id = org_id or new_org_id()
    entity = default_entity()
    entity.street, entity.building_number, entity.postal_code, entity.city, entity.country = (
        "Musterstrasse", "1", "8000", "Zürich", "CH")
    entity.iban = entity.iban or "CH9300762011623852957"
    entity.vat_number = entity.vat_number or "CHE-123.456.788 MWST"
    pricing = get_pricing()
    pricing.tenant_monthly_fee_chf = Decimal(monthly_fee)
    pricing.tenant_setup_fee_chf = Decimal("0.00")
    pricing.vat_rate_chli = Decimal("8.10")
    config = OrgBillingConfig(zitadel_org_id=org_id, display_name=name, billing_email="billing@acme.test",
                              country="CH", pay_by_invoice=pay_by_invoice, street="Bahnhofstrasse",
                              building_number="1", postal_code="8001", city="Zürich")
    db.session.add(config)
    db.session.add(TenantLifecycle(tenant_name=f"{org_id}-main", zitadel_org_id=org_id,
                                   created_at=datetime(2020, 1, 1, 8, 0, tzinfo=timezone.utc)))
    db.session.flush()
    return config


def issue_last_month(org_id: str):
    """Issue the org's invoices of last month (no PDF renderer needed here) and commit, as the CLI does."""
    from pieced_admin.billing.issuing import issue_invoices

    result = issue_invoices(org_id, LAST_MONTH, render_pdfs=None)
    db.session.commit()
    return result


def signed(payload: dict | bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    """A body and its `Stripe-Signature` header, computed as Stripe does: HMAC-SHA256 of "t.payload"."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={t},v1={digest}"


def event(type_: str, obj: dict, event_id: str | None = None) -> dict:
    """A Stripe event envelope (https://docs.stripe.com/api/events/object)."""
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:20]}", "object": "event", "type": type_,
            "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
            "data": {"object": obj}, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}}


def htmx_post(client, url: str, data: dict | None = None):
    """POST as the partials' htmx buttons do: with the CSRF token the shell hands out, and HX-Request."""
    import re

    page = client.get("/").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    return client.post(url, data=data or {}, headers={"X-CSRFToken": token, "HX-Request": "true"})
