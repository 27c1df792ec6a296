"""Generate invoice from the org page: an htmx preview of the exact lines, then Issue (once)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.models import BillingEntity, Invoice, PlatformPricing

from ..peers.litellm_api import LiteLLMServer
from .support import HTMX, audit_entries, make_org, make_tenant, text


@pytest.fixture
def acme(session):
    """org-acme (CH) with one tenant live all of October 2026 and a 49.00 monthly fee."""
    pricing = session.get(PlatformPricing, 1)
    pricing.tenant_monthly_fee_chf = Decimal("49.00")
    pricing.tenant_setup_fee_chf = Decimal("99.00")
    entity = session.execute(sa.select(BillingEntity).filter_by(is_default=True)).scalar_one()
    entity.name, entity.iban = "PieCed AG", "CH4431999123000889012"
    entity.vat_number = "CHE-123.456.788 MWST"
    entity.street, entity.building_number, entity.postal_code, entity.city = "Bahnhofstrasse", "10", "8001", "Zürich"
    make_org(session, "org-acme", display_name="Acme Treuhand AG", country="CH", street="Seestrasse",
             building_number="41", postal_code="8002", city="Zürich")
    make_tenant(session, "acme-main", "org-acme", datetime(2026, 9, 15, 8, tzinfo=timezone.utc))
    session.commit()  # kept when a request rolls its own work back (the test's outer transaction still ends it)
    return entity


def _invoices(session) -> list[Invoice]:
    session.expire_all()
    return list(session.execute(sa.select(Invoice).order_by(Invoice.id)).scalars())


def test_preview_is_an_htmx_partial_with_the_exact_lines_and_totals(admin_client, acme, session):
    resp = admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX)
    assert resp.status_code == 200
    fragment = text(resp)
    assert fragment.lstrip().startswith('<section id="invoice-preview"')
    assert "<html" not in fragment
    # A full month live: 31 of 31 days → exactly the fee, 49.00. No setup fee (created in September).
    # VAT 8.10 % of 49.00 = 3.969 → 3.97; total 49.00 + 3.97 = 52.97.
    assert "acme-main" in fragment and "Monthly fee (31 of 31 days)" in fragment
    assert "Setup fee" not in fragment
    assert re.search(r"Net</th><td class=\"num\">49.00<", fragment)
    assert "VAT 8.10 %" in fragment and ">3.97<" in fragment
    assert ">52.97<" in fragment
    assert "LiteLLM is not configured" in fragment  # the engine's warning, shown with the draft
    assert "Issue 1 invoice for October 2026" in fragment
    assert _invoices(session) == []  # a preview saves nothing


def test_preview_abroad_shows_the_note_instead_of_vat(admin_client, acme, session):
    make_org(session, "org-isar", country="DE")
    make_tenant(session, "isar-dev", "org-isar", datetime(2026, 9, 15, tzinfo=timezone.utc))
    fragment = text(admin_client.get("/orgs/org-isar/preview?month=2026-10", headers=HTMX))
    assert "Place of supply abroad — not subject to Swiss VAT" in fragment
    assert "VAT 8.10" not in fragment
    assert ">49.00<" in fragment  # total = net: no VAT


def test_one_preview_per_billing_entity(admin_client, acme, session):
    other = BillingEntity(code="pieced-services", name="PieCed Services GmbH", invoice_prefix="PS")
    session.add(other)
    session.flush()
    make_tenant(session, "acme-hr", "org-acme", datetime(2026, 9, 20, tzinfo=timezone.utc),
                billing_entity_id=other.id)
    fragment = text(admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX))
    assert fragment.count('class="draft-invoice"') == 2
    assert "PieCed AG" in fragment and "PieCed Services GmbH" in fragment
    assert "Issue 2 invoices for October 2026" in fragment


def test_issue_shows_the_number_and_issuing_again_creates_nothing(admin_client, post, acme, session, app):
    resp = post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True)
    assert resp.status_code == 200
    fragment = text(resp)
    assert fragment.lstrip().startswith('<section id="invoice-preview"')
    assert "Issued <strong class=\"invoice-number\">PC-2026-0001</strong>" in fragment
    assert 'id="org-invoices"' in fragment and 'hx-swap-oob="true"' in fragment  # the list below updates too
    if "invoices.pdf" in app.view_functions:
        assert 'class="pdf-link"' in fragment
    (invoice,) = _invoices(session)
    assert (invoice.number, invoice.total_chf, invoice.issued_by) == ("PC-2026-0001", Decimal("52.97"),
                                                                      "admin@pieced.local")
    assert [e.action for e in audit_entries(session, "invoice", "PC-2026-0001")] == ["invoice.issue"]

    again = text(post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True))
    assert "Already issued as <strong class=\"invoice-number\">PC-2026-0001</strong>" in again
    assert len(_invoices(session)) == 1

    preview = text(admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX))
    assert "already issued as PC-2026-0001" in preview
    assert "Issue 1 invoice" not in preview  # nothing left to issue


def test_finance_may_issue(finance_client, post, acme, session):
    fragment = text(post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True))
    assert "PC-2026-0001" in fragment
    assert _invoices(session)[0].issued_by == "finance@pieced.local"
    # and sees the Issue button in the preview
    preview = text(finance_client.get("/orgs/org-acme/preview?month=2026-09", headers=HTMX))
    assert "Issue 1 invoice for September 2026" in preview


def test_zero_net_says_nothing_to_issue(admin_client, post, acme, session):
    pricing = session.get(PlatformPricing, 1)
    pricing.tenant_monthly_fee_chf = Decimal("0")
    session.flush()
    preview = text(admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX))
    assert "nothing to issue" in preview
    assert "Issue 1 invoice" not in preview
    result = text(post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True))
    assert "nothing to issue for October 2026" in result
    assert _invoices(session) == []


def test_a_bad_month_is_shown_next_to_the_field_and_nothing_is_issued(admin_client, post, acme, session):
    from pieced_admin.billing.days import Period
    from pieced_admin.billing.issuing import local_today

    this_month = Period.of(local_today())
    for month, message in [
        ("2026-13", "Enter a month as YYYY-MM"),
        ("October", "Enter a month as YYYY-MM"),
        ("", "Choose a month."),
        (this_month.next().key, "has not started yet"),
        (this_month.key, "is not over yet"),  # preview only until the month has ended
    ]:
        fragment = text(post("/orgs/org-acme/issue", {"month": month}, htmx=True))
        assert 'id="month-error"' in fragment, month
        assert message in fragment.split('id="month-error"', 1)[1], month
        assert 'aria-invalid="true"' in fragment
    assert _invoices(session) == []


def test_this_months_preview_is_shown_but_cannot_be_issued_yet(admin_client, acme):
    from pieced_admin.billing.days import Period
    from pieced_admin.billing.issuing import local_today

    this_month = Period.of(local_today()).key
    fragment = text(admin_client.get(f"/orgs/org-acme/preview?month={this_month}", headers=HTMX))
    assert "is not over yet" in fragment
    assert "Issue 1 invoice" not in fragment


def test_a_litellm_failure_names_litellm_and_issues_nothing(admin_client, post, acme, session, app):
    with LiteLLMServer(api_key="sk-right") as proxy:
        app.config.update(LITELLM_URL=proxy.url, LITELLM_API_KEY="sk-wrong")
        fragment = text(post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True))
        assert "LiteLLM" in fragment and "nothing was issued" in fragment
        assert _invoices(session) == []
        # the preview still shows, with the failure as a warning
        preview = text(admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX))
        assert "LiteLLM rejected the API key" in preview


def test_llm_spend_from_litellm_is_a_line(admin_client, acme, app):
    with LiteLLMServer(api_key="sk-right") as proxy:
        proxy.set_spend("acme-main", "2026-10-05", "12.3456")
        app.config.update(LITELLM_URL=proxy.url, LITELLM_API_KEY="sk-right")
        fragment = text(admin_client.get("/orgs/org-acme/preview?month=2026-10", headers=HTMX))
    # 12.3456 USD × 1 CHF/USD (the seeded rate) × (1 + 0 % markup) = 12.3456 → 12.35
    assert "LLM usage" in fragment and ">12.35<" in fragment
    assert "LiteLLM is not configured" not in fragment


def test_without_htmx_the_whole_page_comes_back(admin_client, post, acme, session):
    page = text(admin_client.get("/orgs/org-acme/preview?month=2026-10"))
    assert "<html" in page and 'id="invoice-preview"' in page and ">52.97<" in page
    resp = post("/orgs/org-acme/issue", {"month": "2026-10"})
    assert resp.status_code == 200 and "PC-2026-0001" in text(resp)


def test_card_orgs_get_the_collection_notes(admin_client, post, acme, session):
    config = session.execute(sa.text("SELECT id FROM org_billing_config WHERE zitadel_org_id = 'org-acme'")).scalar()
    assert config
    session.execute(sa.text("UPDATE org_billing_config SET pay_by_invoice = false WHERE zitadel_org_id = 'org-acme'"))
    session.expire_all()
    fragment = text(post("/orgs/org-acme/issue", {"month": "2026-10"}, htmx=True))
    assert "PC-2026-0001" in fragment
    assert 'class="note-list"' in fragment and "PC-2026-0001:" in fragment  # e.g. "charge pending"


def test_a_litellm_failure_for_an_org_without_a_config_yet_still_answers(admin_client, post, acme, session, app):
    make_tenant(session, "zeta-main", "org-zeta", datetime(2026, 9, 15, tzinfo=timezone.utc))
    session.commit()
    with LiteLLMServer(api_key="sk-right") as proxy:
        app.config.update(LITELLM_URL=proxy.url, LITELLM_API_KEY="sk-wrong")
        resp = post("/orgs/org-zeta/issue", {"month": "2026-10"}, htmx=True)
    assert resp.status_code == 200
    assert "LiteLLM" in text(resp)
    assert _invoices(session) == []
