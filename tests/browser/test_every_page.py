"""Every page of the admin, with the demo data, for both roles and on a phone: it renders, without console
errors, without serious or critical axe-core violations, and nothing runs off a 390 px screen.

The screenshots land in test-output/screenshots/every-page/ for a person to look through.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from ..conftest import TEST_OUTPUT, browser_login, serve_demo
from .axe import assert_no_serious_axe

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def demo(db_factory, oidc_provider):
    with serve_demo(db_factory, oidc_provider, today=date(2026, 11, 21)) as server:
        yield server


def _pages(demo) -> list[tuple[str, str]]:
    """(name, path) of every page a person can open: the lists and one of each detail page."""
    from pieced_admin.extensions import db
    from pieced_admin.models import BillingEntity, BillingRun, Invoice, TenantLifecycle

    with demo.app.app_context():
        invoice = db.session.execute(sa.select(Invoice.number).order_by(Invoice.number)).scalars().first()
        void = db.session.execute(sa.select(Invoice.number).filter_by(status="void")).scalars().first()
        tenant = db.session.execute(sa.select(TenantLifecycle.tenant_name).order_by(TenantLifecycle.id)).scalars().first()
        entity = db.session.execute(sa.select(BillingEntity.id).order_by(BillingEntity.id)).scalars().first()
        run = db.session.execute(sa.select(BillingRun.id)).scalars().first()
        db.session.remove()
    pages = [
        ("dashboard", "/"),
        ("invoices", "/invoices"),
        ("invoices-overdue", "/invoices?status=overdue"),
        ("invoice", f"/invoices/{invoice}"),
        ("invoice-void", f"/invoices/{void}"),
        ("orgs", "/orgs"),
        ("org", "/orgs/org-acme"),
        ("org-abroad", "/orgs/org-isar-robotics"),
        ("org-card", "/orgs/org-zuger-pflege"),
        ("tenants", "/tenants"),
        ("tenant", f"/tenants/{tenant}"),
        ("pricing", "/pricing"),
        ("entities", "/entities"),
        ("entity", f"/entities/{entity}"),
        ("runs", "/runs"),
        ("vat-return", "/reports/vat"),
        ("journal", "/reports/journal"),
    ]
    if run is not None:
        pages.append(("run", f"/runs/{run}"))
    return pages


@pytest.mark.parametrize("who,width", [("admin", 1400), ("finance", 1400), ("admin", 390)])
def test_every_page_renders_without_console_errors(page, demo, who, width, console_errors):
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, demo, who)
    folder = TEST_OUTPUT / "screenshots" / "every-page"
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in _pages(demo):
        console_errors.clear()
        response = page.goto(f"{demo.url}{path}")
        assert response.status == 200, (path, response.status)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() >= 1, path
        assert "Something went wrong" not in page.content(), path
        page.screenshot(path=str(folder / f"{name}-{who}-{width}.png"), full_page=True)
        assert console_errors == [], (path, console_errors)
        assert_no_serious_axe(page, path)
        # Nothing runs off a phone's screen sideways (wide tables scroll inside their own frame).
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width + 1, (path, wide)
