"""Pricing, entities and orgs in Chromium, signed in through the real OIDC login, on the demo data."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ..conftest import browser_login, screenshot, serve_demo

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture(scope="module")
def demo(db_factory, oidc_provider):
    """The demo data of 21 November 2026 (six orgs, two entities, priced skills, three months of invoices)."""
    with serve_demo(db_factory, oidc_provider, today=date(2026, 11, 21)) as server:
        yield server




def _query(live, statement, **params):
    from pieced_admin.extensions import db

    with live.app.app_context():
        return db.session.execute(sa.text(statement), params).all()


def _finance_page(browser, live):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    finance = context.new_page()
    browser_login(finance, live, "finance")
    return finance


def test_admin_edits_the_monthly_fee_and_a_skill_price_and_finance_sees_them(page, demo, browser, console_errors):
    url = demo.url
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_login(page, demo, "admin")
    console_errors.clear()  # the provider's own page is not ours to judge
    page.goto(f"{url}/pricing")
    expect(page.locator("#tenant_monthly_fee_chf")).to_have_value("49.00")

    page.fill("#tenant_monthly_fee_chf", "55.50")
    page.click("button:has-text('Save platform prices')")
    expect(page.locator(".flash-success")).to_contain_text("Saved Monthly fee")
    expect(page.locator("#tenant_monthly_fee_chf")).to_have_value("55.50")
    change = page.locator("#recent-changes li").first
    expect(change).to_contain_text("Monthly fee: 49.00 → 55.50")
    expect(change).to_contain_text("admin@pieced.local")

    # A skill price, edited inline: no page load (the marker on window survives).
    page.evaluate("window.__stay = true")
    page.click("[aria-label='Edit the price of web-browser']")
    price = page.locator("#edit-daily_price_chf")
    expect(price).to_be_focused()
    price.fill("0.25")
    price.press("Enter")  # keyboard: Enter saves
    row = page.locator("#skill-prices tr", has_text="web-browser")
    expect(row).to_contain_text("0.25")
    expect(page.locator("#recent-changes li").first).to_contain_text("Skill web-browser daily price: 0.20 → 0.25")
    assert page.evaluate("window.__stay") is True

    # A bad value is answered next to the field, nothing saved.
    page.fill("#new-skill_id", "beta-canvas")
    page.fill("#new-daily_price_chf", "-1")
    page.click("button:has-text('Add price')")
    expect(page.locator("#new-daily_price_chf-error")).to_have_text("Must not be negative.")
    page.fill("#new-daily_price_chf", "0.07")
    page.click("button:has-text('Add price')")
    expect(page.locator("#skill-prices tr", has_text="beta-canvas")).to_contain_text("0.07")

    # Removing asks first.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[aria-label='Remove the price of calendar-sync']")
    expect(page.locator("#skill-prices tr", has_text="calendar-sync")).to_have_count(0)
    assert page.evaluate("window.__stay") is True
    screenshot(page, "pricing-admin")
    assert console_errors == []

    # Persisted and audited.
    assert _query(demo, "SELECT tenant_monthly_fee_chf FROM platform_pricing")[0][0] == Decimal("55.50")
    assert _query(demo, "SELECT daily_price_chf FROM skill_pricing WHERE skill_id = 'web-browser'")[0][0] == Decimal("0.25")
    actions = [r[0] for r in _query(demo, "SELECT action FROM audit_log WHERE object_type IN "
                                          "('platform_pricing', 'skill_pricing') ORDER BY id")]
    assert actions == ["pricing.update", "skill_price.update", "skill_price.create", "skill_price.delete"]

    # Finance sees the new values, and no form.
    finance = _finance_page(browser, demo)
    finance.goto(f"{url}/pricing")
    expect(finance.locator(".pricing-values")).to_contain_text("CHF 55.50")
    expect(finance.locator("#skill-prices tr", has_text="web-browser")).to_contain_text("0.25")
    expect(finance.locator("#recent-changes")).to_contain_text("Monthly fee: 49.00 → 55.50")
    assert finance.locator("main form").count() == 0
    assert finance.locator("main button").count() == 0
    screenshot(finance, "pricing-finance")


def test_admin_previews_and_issues_an_invoice_from_the_org_page(page, demo, console_errors):
    url = demo.url
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_login(page, demo, "admin")
    console_errors.clear()  # the provider's own page is not ours to judge
    page.goto(f"{url}/orgs")
    expect(page.locator("#org-list tbody tr")).to_have_count(6)
    screenshot(page, "orgs-admin")

    page.fill("#org-q", "acme")  # htmx narrows the list as one types
    expect(page.locator("#org-list tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/orgs\?q=acme"))
    page.click("#org-list a:has-text('Acme Treuhand AG')")
    expect(page.locator("h1")).to_have_text("Acme Treuhand AG")
    screenshot(page, "org-admin")

    # Last month is offered (the demo issued August to October already); preview July 2026,
    # when acme-main was Acme's only tenant.
    expect(page.locator("#month")).to_have_value("2026-10")
    before = _query(demo, "SELECT count(*) FROM invoices")[0][0]
    page.evaluate("window.__stay = true")
    page.fill("#month", "2026-07")
    page.click("#invoice-preview button:has-text('Preview')")
    drafts = page.locator("#invoice-preview .draft-invoice")
    expect(drafts).to_have_count(1)
    expect(drafts.first).to_contain_text("PieCed AG")
    expect(drafts.first).to_contain_text("acme-main")
    expect(drafts.first).to_contain_text("LiteLLM is not configured")
    expect(drafts.first.locator("tfoot")).to_contain_text("VAT 8.10 %")
    screenshot(page, "org-preview-admin")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#invoice-preview button:has-text('Issue 1 invoice for July 2026')")
    number = page.locator("#invoice-preview .issued-invoice .invoice-number")
    expect(number).to_have_text(re.compile(r"^PC-2026-\d{4}$"))
    issued = number.inner_text()
    expect(page.locator("#org-invoices")).to_contain_text(issued)  # the list below follows
    assert page.evaluate("window.__stay") is True  # no page load
    pdf_hrefs = page.locator("#invoice-preview .issued-invoice .pdf-link").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    screenshot(page, "org-issued-admin")
    assert console_errors == []

    # Issuing again shows the invoice that exists and creates nothing.
    page.click("#invoice-preview button:has-text('Preview')")
    expect(page.locator("#invoice-preview")).to_contain_text(f"already issued as {issued}")
    expect(page.locator("#invoice-preview button:has-text('Issue')")).to_have_count(0)
    assert _query(demo, "SELECT count(*) FROM invoices")[0][0] == before + 1

    if "invoices.pdf" not in demo.app.view_functions:
        pytest.skip("invoices.pdf is not in this build yet: the page leaves the PDF link out until it is")
    assert len(pdf_hrefs) == 1
    response = page.request.get(url + pdf_hrefs[0])
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body()[:5] == b"%PDF-"


def test_entities_for_admin_and_every_config_page_for_finance(page, demo, browser, console_errors):
    url = demo.url
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_login(page, demo, "admin")
    console_errors.clear()  # the provider's own page is not ours to judge
    page.goto(f"{url}/entities")
    expect(page.locator(".entity-card")).to_have_count(2)
    expect(page.locator(".entity-card").first).to_contain_text("QR-IBAN → QRR")
    screenshot(page, "entities-admin")
    page.click(".entity-card >> nth=1 >> text=Edit")
    expect(page.locator("#iban")).to_have_value("CH93 0076 2011 6238 5295 7")
    expect(page.locator("#iban-kind")).to_contain_text("Plain IBAN")
    page.fill("#iban", "CH44 3199 9123 0008 8901 2")  # the hint follows as one types
    expect(page.locator("#iban-kind")).to_contain_text("QR-IBAN")
    screenshot(page, "entity-edit-admin")
    page.fill("#invoice_prefix", "PC")
    page.click("button:has-text('Save entity')")
    expect(page.locator("#invoice_prefix-error")).to_contain_text("PC is the invoice prefix of PieCed AG already")
    page.goto(f"{url}/entities/new")
    screenshot(page, "entity-new-admin")
    assert console_errors == []

    finance = _finance_page(browser, demo)
    for path, name in [("/entities", "entities-finance"), ("/orgs", "orgs-finance"),
                       ("/orgs/org-isar-robotics", "org-finance")]:
        finance.goto(url + path)
        screenshot(finance, name)
    entity_href = _query(demo, "SELECT id FROM billing_entities WHERE code = 'pieced-services'")[0][0]
    finance.goto(f"{url}/entities/{entity_href}")
    expect(finance.locator("#iban")).to_have_count(0)
    screenshot(finance, "entity-finance")
    finance.goto(f"{url}/orgs/org-isar-robotics")
    expect(finance.locator("#billing_email")).to_have_count(0)
    finance.click("#invoice-preview button:has-text('Preview')")
    expect(finance.locator("#invoice-preview")).to_contain_text("Place of supply abroad")
    expect(finance.locator("#invoice-preview")).to_contain_text("already issued as PC-2026-")
    screenshot(finance, "org-preview-finance")
