"""An org's page: its billing config (validated, audited) and what finance may see."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pieced_admin.models import BillingEntity, OrgBillingConfig

from .support import audit_entries, make_invoice, make_org, make_tenant, text

VALID = {
    "display_name": "Acme Treuhand AG",
    "billing_email": "accounts@acme-treuhand.ch",
    "street": "Seestrasse",
    "building_number": "41",
    "postal_code": "8002",
    "city": "Zürich",
    "country": "CH",
    "vat_number": "CHE-111.222.333 MWST",
    "language": "de",
    "payment_terms_days": "",
    "billing_entity_id": "",
    "pay_by_invoice": "y",
    "auto_invoice_enabled": "y",
}


@pytest.fixture
def acme(session):
    config = make_org(session, "org-acme")
    make_tenant(session, "acme-main", "org-acme", datetime(2026, 9, 1, 8, tzinfo=timezone.utc))
    return config


def _config(session, org_id="org-acme") -> OrgBillingConfig:
    session.expire_all()
    return session.query(OrgBillingConfig).filter_by(zitadel_org_id=org_id).one()


def test_admin_edits_the_config_and_it_is_audited(admin_client, post, session, acme):
    resp = post("/orgs/org-acme", VALID)
    assert resp.status_code == 302
    config = _config(session)
    assert (config.display_name, config.billing_email, config.city, config.language) == (
        "Acme Treuhand AG", "accounts@acme-treuhand.ch", "Zürich", "de")
    assert config.payment_terms_days is None  # empty = the platform default
    assert config.billing_entity_id is None  # empty = the default entity
    assert config.pay_by_invoice and config.auto_invoice_enabled and not config.auto_reminders_enabled

    (entry,) = audit_entries(session, "org", "org-acme")
    assert entry.action == "org.update" and entry.actor == "admin@pieced.local"
    assert entry.before["display_name"] is None and entry.after["display_name"] == "Acme Treuhand AG"
    assert entry.before["language"] == "en" and entry.after["language"] == "de"
    assert "pay_by_invoice" not in entry.after  # true before and after: not a change
    assert "Saved the billing config" in text(admin_client.get("/orgs/org-acme"))


def test_entity_terms_and_card_payment_are_saved(admin_client, post, session, acme):
    other = BillingEntity(code="pieced-services", name="PieCed Services GmbH", invoice_prefix="PS")
    session.add(other)
    session.flush()
    data = {**VALID, "billing_entity_id": str(other.id), "payment_terms_days": "10", "country": "DE"}
    del data["pay_by_invoice"]  # an unticked checkbox is not sent
    assert post("/orgs/org-acme", data).status_code == 302
    config = _config(session)
    assert (config.billing_entity_id, config.payment_terms_days, config.country, config.pay_by_invoice) == (
        other.id, 10, "DE", False)
    (entry,) = audit_entries(session, "org", "org-acme")
    assert entry.before["pay_by_invoice"] is True and entry.after["pay_by_invoice"] is False


CONFIG_RULES = [
    ("billing_email", "not-an-address", "Enter an e-mail address"),
    ("payment_terms_days", "400", "Between 0 and 365 days."),
    ("payment_terms_days", "-3", "Between 0 and 365 days."),
    ("payment_terms_days", "ten", "whole number of days"),
    ("country", "XX", "Not a valid choice"),
    ("language", "fr", "Not a valid choice"),
    ("billing_entity_id", "999", "Not a valid choice"),
    ("city", "x" * 36, "At most 35 characters."),
    ("street", "x" * 71, "At most 70 characters."),
    ("postal_code", "1" * 17, "At most 16 characters."),
]


def test_each_rule_is_shown_next_to_its_field(admin_client, post, session, acme):
    for field, value, message in CONFIG_RULES:
        resp = post("/orgs/org-acme", {**VALID, field: value})
        assert resp.status_code == 422, (field, value)
        page = text(resp)
        assert f'id="{field}-error">' in page, (field, value)
        error = page.split(f'id="{field}-error">', 1)[1].split("</small>", 1)[0]
        assert message in error, (field, value, error)
    assert audit_entries(session, "org", "org-acme") == []
    assert _config(session).display_name is None


def test_the_page_shows_tenants_invoices_and_the_generate_panel(admin_client, session, acme):
    make_invoice(session, "org-acme", "PC-2026-0007", "52.97")
    page = text(admin_client.get("/orgs/org-acme"))
    assert "acme-main" in page
    assert "PC-2026-0007" in page and "52.97" in page and "badge-issued" in page
    assert 'id="invoice-preview"' in page and 'type="month"' in page
    assert 'value="2026-10"' in page or 'name="month"' in page  # defaults to last month


def test_links_follow_the_endpoints_that_exist(admin_client, session, acme, app):
    make_invoice(session, "org-acme", "PC-2026-0007", "52.97")
    page = text(admin_client.get("/orgs/org-acme"))
    if "tenants.detail" in app.view_functions:
        assert '>acme-main</a>' in page
    else:
        assert '<td>acme-main</td>' in page
    if "invoices.detail" in app.view_functions:
        assert '>PC-2026-0007</a>' in page
    else:
        assert '<td>PC-2026-0007</td>' in page


def test_an_org_known_only_from_its_tenants_gets_a_page(admin_client, session):
    make_tenant(session, "zeta-main", "org-zeta", datetime(2026, 9, 1, tzinfo=timezone.utc))
    resp = admin_client.get("/orgs/org-zeta")
    assert resp.status_code == 200
    assert "zeta-main" in text(resp)


def test_an_unknown_org_is_404(admin_client):
    assert admin_client.get("/orgs/org-nope").status_code == 404
    assert admin_client.get("/orgs/org-nope/preview?month=2026-10").status_code == 404


def test_finance_reads_the_config_without_a_form(finance_client, session, acme):
    acme.display_name = "Acme Treuhand AG"
    session.flush()
    page = text(finance_client.get("/orgs/org-acme"))
    assert "Acme Treuhand AG" in page and "platform default" in page
    assert 'name="billing_email"' not in page
    assert "Save billing config" not in page


def test_finance_cannot_change_the_config_even_with_a_csrf_token(finance_client, post, session, acme):
    resp = post("/orgs/org-acme", VALID)
    assert resp.status_code == 403
    assert _config(session).display_name is None
    assert audit_entries(session, "org", "org-acme") == []


def test_card_payment_warns_without_stripe_or_a_card_and_offers_the_setup_link(app, admin_client, session, acme):
    page = text(admin_client.get("/orgs/org-acme"))
    warning = page.split('class="flash flash-warning card-warning"', 1)[1].split("</div>", 1)[0]
    assert "hidden" in warning.split(">", 1)[0]  # shown once "pays by invoice" is unticked
    assert "Stripe is not set up here (STRIPE_API_KEY)" in warning and "no usable card" in warning
    assert "card-setup-link" not in warning  # no link to a setup that cannot work
    app.config["STRIPE_API_KEY"] = "sk_test_configured"
    page = text(admin_client.get("/orgs/org-acme"))
    warning = page.split('class="flash flash-warning card-warning"', 1)[1].split("</div>", 1)[0]
    assert "Stripe is not set up" not in warning and "no usable card" in warning
    assert 'href="#org-payments" class="card-setup-link">Create a card setup link</a>' in warning


def test_the_change_history_names_who_changed_what(admin_client, post, session, acme):
    assert "No change recorded yet." in text(admin_client.get("/orgs/org-acme"))
    post("/orgs/org-acme", {**VALID, "display_name": "Acme Treuhand AG"})
    history = text(admin_client.get("/orgs/org-acme")).split('id="change-history"', 1)[1]
    assert "org.update" in history and "by admin@pieced.local" in history
    assert "Acme Treuhand AG" in history
