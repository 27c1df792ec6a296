"""Every page of the admin, with the demo data, for both roles: it renders, without console errors.

The screenshots land in test-output/screenshots/every-page/ for a person to look through.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from ..conftest import TEST_OUTPUT, browser_login, serve_demo

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
    ]
    if run is not None:
        pages.append(("run", f"/runs/{run}"))
    return pages


@pytest.mark.parametrize("who", ["admin", "finance"])
def test_every_page_renders_without_console_errors(page, demo, who, console_errors):
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
        page.screenshot(path=str(folder / f"{name}-{who}.png"), full_page=True)
        assert console_errors == [], (path, console_errors)
