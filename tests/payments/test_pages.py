"""The payments partials on the org and invoice pages, and their buttons, as admin and finance see them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import Invoice, OrgPaymentMethod
from pieced_admin.payments.customers import ensure_customer
from pieced_admin.payments.services import card_orgs_without_payment_method

from .conftest import htmx_post, issue_last_month, make_card_org

pytestmark = pytest.mark.xdist_group("stripe")


def test_the_org_page_says_when_stripe_is_not_configured(admin_client):
    org = make_card_org()
    db.session.commit()

    html = admin_client.get(f"/orgs/{org.zitadel_org_id}").get_data(as_text=True)

    assert 'id="org-payments"' in html
    assert "Stripe is not configured" in html
    assert "Sync from Stripe" not in html and "Create card setup link" not in html


def test_admin_syncs_the_cards_from_the_org_page(on_localstripe, admin_client):
    org = make_card_org()
    db.session.commit()
    customer_id = ensure_customer(org)
    card = on_localstripe.client().v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})

    page = admin_client.get(f"/orgs/{org.zitadel_org_id}").get_data(as_text=True)
    assert "Sync from Stripe" in page and "Create card setup link" in page
    assert "No card on file" in page and "needs attention" in page

    resp = htmx_post(admin_client, f"/orgs/{org.zitadel_org_id}/stripe/sync")

    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and html.lstrip().startswith('<section id="org-payments"')
    assert "Synced from Stripe: 1 card(s)." in html
    assert "Visa •••• 4242" in html and "12/2030" in html and card.id in html and "default" in html
    assert customer_id in html


def test_finance_sees_the_cards_but_not_the_admin_buttons(on_localstripe, finance_client):
    org = make_card_org()
    db.session.add(OrgPaymentMethod(zitadel_org_id=org.zitadel_org_id, stripe_payment_method_id="pm_shown",
                                    brand="mastercard", last4="4444", exp_month=3, exp_year=2031, is_default=True))
    db.session.commit()

    html = finance_client.get(f"/orgs/{org.zitadel_org_id}").get_data(as_text=True)

    assert "Mastercard •••• 4444" in html and "03/2031" in html
    assert "Sync from Stripe" not in html and "Create card setup link" not in html
    refused = htmx_post(finance_client, f"/orgs/{org.zitadel_org_id}/stripe/sync")
    assert refused.status_code == 403


def test_finance_charges_a_declined_invoice_again_from_the_invoice_page(on_localstripe, finance_client):
    org = make_card_org()
    db.session.commit()
    customer_id = ensure_customer(org)
    stripe = on_localstripe.client()
    stripe.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer_id})
    [invoice] = issue_last_month(org.zitadel_org_id).issued
    number = invoice.number

    first = htmx_post(finance_client, f"/invoices/{number}/charge")
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and html.lstrip().startswith('<section id="invoice-charges"')
    assert "Stripe declined the card" in html and "needs attention" in html
    assert "Retry charge" in html and 'name="retry" value="1"' in html
    assert "CHF 52.97" in html  # 5297 Rappen

    good = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
    stripe.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
    second = htmx_post(finance_client, f"/invoices/{number}/charge", {"retry": "1"})

    html = second.get_data(as_text=True)
    assert "paid by card" in html
    assert "Charge card" not in html and "Retry charge" not in html  # charged: no button any more
    page = finance_client.get(f"/invoices/{number}").get_data(as_text=True)
    assert 'id="invoice-charges"' in page and "succeeded" in page
    db.session.expire_all()
    assert db.session.execute(sa.select(Invoice.status).filter_by(number=number)).scalar_one() == "paid"


def test_card_orgs_without_a_usable_card_in_one_query(app, session):
    from datetime import date

    without = make_card_org(name="No Card AG")
    expired = make_card_org(name="Expired AG")
    with_card = make_card_org(name="Card AG")
    make_card_org(name="Bank AG", pay_by_invoice=True)
    db.session.add_all([
        OrgPaymentMethod(zitadel_org_id=expired.zitadel_org_id, stripe_payment_method_id="pm_old", exp_month=10,
                         exp_year=2026),
        OrgPaymentMethod(zitadel_org_id=with_card.zitadel_org_id, stripe_payment_method_id="pm_ok", exp_month=11,
                         exp_year=2026),
    ])
    db.session.flush()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    target = db.session.connection()
    sa.event.listen(target, "before_cursor_execute", count)
    try:
        found = card_orgs_without_payment_method(today=date(2026, 11, 21))
    finally:
        sa.event.remove(target, "before_cursor_execute", count)
    names = [o.display_name for o in found]
    assert "No Card AG" in names and "Expired AG" in names  # a card that expired in October is not usable
    assert "Card AG" not in names and "Bank AG" not in names
    assert len(statements) == 1
