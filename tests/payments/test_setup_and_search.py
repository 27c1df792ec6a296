"""Calls localstripe cannot answer, against the Stripe fake: customer search and Checkout setup sessions.

localstripe has no `GET /v1/customers/search` (404) and no Checkout
Sessions, so these run the official library against tests/peers/stripe_fake.py,
which answers with Stripe's documented JSON shapes.
"""

from __future__ import annotations

import re

import pytest

from pieced_admin.extensions import db
from pieced_admin.payments.customers import create_setup_link, ensure_customer

from .conftest import htmx_post, make_card_org



def test_adoption_finds_the_older_customer_by_search_and_writes_its_id_back(on_fake):
    org = make_card_org()
    older = on_fake.add_customer(metadata={"pieced_org_id": org.zitadel_org_id})
    on_fake.add_customer(metadata={"pieced_org_id": "someone-else"})

    assert ensure_customer(org) == older["id"]

    assert org.stripe_customer_id == older["id"]
    [search] = on_fake.requests_to("GET", r"/v1/customers/search")
    assert search.params["query"] == f"metadata['pieced_org_id']:'{org.zitadel_org_id}'"
    assert on_fake.requests_to("POST", r"/v1/customers") == []  # nothing created
    assert ensure_customer(org) == older["id"]
    assert len(on_fake.requests) == 1  # the stored id is used: no second search


def test_when_search_is_unavailable_adoption_lists_customers_instead_of_creating(on_fake):
    org = make_card_org()
    on_fake.search_available = False  # as on localstripe (404), or during an outage
    for _ in range(12):
        on_fake.add_customer(metadata={"pieced_org_id": "another-org"})
    older = on_fake.add_customer(metadata={"pieced_org_id": org.zitadel_org_id})

    assert ensure_customer(org) == older["id"]
    assert on_fake.requests_to("POST", r"/v1/customers") == []


def test_when_neither_search_nor_list_answers_no_customer_is_created(app, on_fake):
    from pieced_admin.integrations.stripe_pay import PaymentProviderError

    org = make_card_org()
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 0
    on_fake.fail("GET", r"/v1/customers/search", 503)
    on_fake.fail("GET", r"/v1/customers", 503)

    with pytest.raises(PaymentProviderError, match="Stripe had an internal error while listing customers"):
        ensure_customer(org)
    assert on_fake.created["customer"] == [] and org.stripe_customer_id is None


def test_a_card_setup_link_is_a_checkout_setup_session_for_the_stored_customer(on_fake):
    org = make_card_org()

    url = create_setup_link(org, "https://billing.pieced.test")

    [session] = on_fake.sessions.values()
    assert url == session["url"] and url.startswith("https://checkout.stripe.com/")
    assert session["mode"] == "setup"
    assert session["customer"] == org.stripe_customer_id == on_fake.created["customer"][0]
    assert session["payment_method_types"] == ["card"]
    assert session["success_url"] == f"https://billing.pieced.test/orgs/{org.zitadel_org_id}?card_setup=done"
    assert session["cancel_url"] == f"https://billing.pieced.test/orgs/{org.zitadel_org_id}?card_setup=cancelled"
    [create] = on_fake.requests_to("POST", r"/v1/checkout/sessions")
    assert create.idempotency_key.startswith(f"pieced-setup-{org.zitadel_org_id}-")
    # The customer came first, in a step of its own.
    order = [r.path for r in on_fake.requests if r.method == "POST"]
    assert order == ["/v1/customers", "/v1/checkout/sessions"]


def test_the_setup_link_button_shows_the_link_to_copy(on_fake, admin_client):
    org = make_card_org()
    db.session.commit()

    resp = htmx_post(admin_client, f"/orgs/{org.zitadel_org_id}/stripe/setup-link")

    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.lstrip().startswith("<section id=\"org-payments\"")
    [session] = on_fake.sessions.values()
    assert re.search(rf'id="setup-link-url" value="{re.escape(session["url"])}" readonly', html)
    assert "Copy link" in html
    # Success and cancel pages come from PUBLIC_URL.
    assert session["success_url"].startswith("https://billing.pieced.test/orgs/")
    assert org.stripe_customer_id in html
