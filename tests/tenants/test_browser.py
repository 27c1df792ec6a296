"""The tenant pages in Chromium: an admin enables a package; finance sees the same pages without actions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pieced_admin.extensions import db
from pieced_admin.models import PlatformPricing, SkillPricing
from pieced_admin.tenants.backfill import run_backfill

from ..conftest import browser_login, screenshot
from .conftest import tenant, utc

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_admin_toggles_a_package_and_finance_only_reads(page, browser, live_server, kube_server, backend):
    app = live_server.app
    app.config["KUBE_API_HOST"] = kube_server.url
    kube_server.create(tenant("acme-main", "org-acme", ["chat"], created=utc(2026, 10, 10, 7)))
    kube_server.create(tenant("acme-lab", "org-acme", [], suspend=True, suspended_at=utc(2026, 11, 2, 9),
                              created=utc(2026, 10, 12, 8)))
    with app.app_context():
        pricing = db.session.get(PlatformPricing, 1)
        pricing.tenant_monthly_fee_chf = Decimal("49.00")
        db.session.add(SkillPricing(skill_id="voice", daily_price_chf=Decimal("0.25")))
        run_backfill()
        db.session.commit()

    browser_login(page, live_server, "admin")
    page.goto(f"{live_server.url}/tenants")
    assert page.locator("#tenant-list tbody tr").count() == 2
    page.click("#backfill-button")  # htmx POST with the CSRF header; already backfilled above
    page.wait_for_selector("#backfill-result >> text=The log already matched Kubernetes.")
    screenshot(page, f"tenants-list-admin-{backend}")

    page.click("text=acme-main")
    page.wait_for_url(f"{live_server.url}/tenants/acme-main")
    assert page.locator("#cr-packages").inner_text() == "chat"
    assert "voice" in page.locator("#known-skills").inner_html()  # priced, so offered
    page.fill("#skill_id", "voice")
    page.click("text=Enable package")
    page.wait_for_selector("text=voice enabled on acme-main in Kubernetes.")
    assert page.locator("#cr-packages").inner_text() == "chat, voice"
    assert page.locator("#tenant-timeline tr.timeline-enabled").last.inner_text().split("\t")[1:] == [
        "Skill enabled", "voice", "admin@pieced.local"]  # the person who enabled it, not "app"
    assert kube_server.patches[-1].body == {"spec": {"packages": ["chat", "voice"]}}
    screenshot(page, f"tenant-detail-admin-{backend}")

    finance = browser.new_context().new_page()
    browser_login(finance, live_server, "finance")
    finance.goto(f"{live_server.url}/tenants")
    assert finance.locator("text=Backfill from Kubernetes").count() == 0
    screenshot(finance, f"tenants-list-finance-{backend}")
    finance.goto(f"{live_server.url}/tenants/acme-main")
    assert finance.locator("#tenant-timeline").is_visible()
    assert finance.locator("#tenant-actions").count() == 0 and finance.locator("#tenant-entity").count() == 0
    screenshot(finance, f"tenant-detail-finance-{backend}")
    finance.context.close()
