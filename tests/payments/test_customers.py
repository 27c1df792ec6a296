"""The org's Stripe customer and its cards, through the official library against localstripe.

localstripe has no customer search (it answers 404), so adoption here goes
through the list fallback; adoption by search is tested against the Stripe
fake in test_stripe_fake_calls.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, OrgPaymentMethod
from pieced_admin.payments.customers import ensure_customer

from .conftest import make_card_org

pytestmark = pytest.mark.xdist_group("stripe")


def test_ensure_customer_twice_makes_one_customer_and_stores_its_id(on_localstripe, runner):
    org = make_card_org(name="Acme AG")
    db.session.commit()

    first = runner.invoke(args=["stripe", "ensure-customer", "--org", org.zitadel_org_id])
    second = runner.invoke(args=["stripe", "ensure-customer", "--org", org.zitadel_org_id])

    assert first.exit_code == 0, first.output
    customer_id = first.output.strip()
    assert customer_id.startswith("cus_")
    assert second.exit_code == 0 and second.output.strip() == customer_id
    db.session.expire_all()
    assert org.stripe_customer_id == customer_id
    [customer] = on_localstripe.customers_of_org(org.zitadel_org_id)
    assert customer["id"] == customer_id
    assert customer["name"] == "Acme AG" and customer["email"] == "billing@acme.test"
    audit = db.session.execute(sa.select(AuditLog).filter_by(action="org.stripe_customer",
                                                             object_id=org.zitadel_org_id)).scalars().all()
    assert [a.after for a in audit] == [{"stripe_customer_id": customer_id}]


def test_a_customer_created_before_ids_were_stored_is_adopted_through_the_list(on_localstripe, session):
    org = make_card_org()
    # Created by an older version: metadata names the org, but we never stored its id.
    older = on_localstripe.client().v1.customers.create({"metadata": {"pieced_org_id": org.zitadel_org_id}})

    assert ensure_customer(org) == older.id

    assert org.stripe_customer_id == older.id
    assert [c["id"] for c in on_localstripe.customers_of_org(org.zitadel_org_id)] == [older.id]


def test_ensure_customer_errors_are_one_line(app, runner, on_localstripe):
    unknown = runner.invoke(args=["stripe", "ensure-customer", "--org", "org-nobody-knows"])
    assert unknown.exit_code == 2
    assert "unknown org 'org-nobody-knows'" in unknown.output

    org = make_card_org()
    db.session.commit()
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"  # nothing listens: Stripe is unreachable
    app.config["STRIPE_MAX_NETWORK_RETRIES"] = 0
    down = runner.invoke(args=["stripe", "ensure-customer", "--org", org.zitadel_org_id])
    assert down.exit_code == 1
    assert "Stripe could not be reached" in down.output
    db.session.expire_all()
    assert org.stripe_customer_id is None

    app.config["STRIPE_API_KEY"] = ""
    off = runner.invoke(args=["stripe", "ensure-customer", "--org", org.zitadel_org_id])
    assert off.exit_code == 2
    assert "Stripe is not configured: set STRIPE_API_KEY" in off.output


def test_sync_mirrors_an_attached_card_and_drops_it_once_detached(on_localstripe, runner):
    org = make_card_org()
    db.session.commit()
    customer_id = ensure_customer(org)
    stripe = on_localstripe.client()
    card = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})

    result = runner.invoke(args=["stripe", "sync", "--org", org.zitadel_org_id])

    assert result.exit_code == 0, result.output
    assert f"{card.id}  Visa •••• 4242  12/2030 (default)" in result.output
    [row] = db.session.execute(sa.select(OrgPaymentMethod).filter_by(zitadel_org_id=org.zitadel_org_id)).scalars()
    assert (row.stripe_payment_method_id, row.brand, row.last4, row.exp_month, row.exp_year, row.is_default) == (
        card.id, "visa", "4242", 12, 2030, True)  # the only card is the default

    stripe.v1.payment_methods.detach(card.id)
    result = runner.invoke(args=["stripe", "sync", "--org", org.zitadel_org_id])

    assert result.exit_code == 0, result.output
    assert "no card saved at Stripe" in result.output
    assert db.session.execute(
        sa.select(sa.func.count()).select_from(OrgPaymentMethod).filter_by(zitadel_org_id=org.zitadel_org_id)
    ).scalar_one() == 0


def test_the_customers_default_card_is_the_default_among_several(on_localstripe, session):
    from pieced_admin.payments.customers import sync_payment_methods

    org = make_card_org()
    customer_id = ensure_customer(org)
    stripe = on_localstripe.client()
    first = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
    second = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})

    assert [r.is_default for r in sync_payment_methods(org)] == [False, False]  # two cards, none chosen

    stripe.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": second.id}})
    rows = {r.stripe_payment_method_id: r.is_default for r in sync_payment_methods(org)}
    assert rows == {first.id: False, second.id: True}
