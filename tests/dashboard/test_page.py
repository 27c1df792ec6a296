"""`/`: the dashboard page, its links to the lists behind each figure, and its empty state."""

from __future__ import annotations

from datetime import timedelta

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import local_today

from ..factories import make_org
from ..invoices.support import make_invoice


def test_the_dashboard_shows_figures_that_link_to_their_lists(finance_client, session):
    today = local_today()
    org = make_org("org-acme", display_name="Acme Treuhand AG")
    # 1000 net → 1081.00 total, 45 days overdue; 100 net → 108.10, not yet due
    make_invoice(org, number="PC-2026-0001", period=Period(2026, 6), issued=today - timedelta(days=75),
                 due=today - timedelta(days=45), net="1000.00")
    make_invoice(org, number="PC-2026-0002", period=Period(2026, 7), issued=today, due=today + timedelta(days=30),
                 net="100.00")
    html = finance_client.get("/").get_data(as_text=True)
    assert "1’189.10" in html                                # open: 1081.00 + 108.10
    assert "1’081.00" in html                                # overdue, and the 31–60 bucket
    assert 'href="/invoices?status=overdue"' in html
    assert 'href="/invoices?status=overdue&amp;aging=31-60"' in html
    assert 'href="/invoices?status=not_due"' in html
    assert f'href="/invoices?issued={today:%Y-%m}"' in html  # issued this month
    assert 'href="/invoices/PC-2026-0001"' in html and "45 days" in html  # needs attention: overdue
    assert "<svg" in html and "<title>" in html and "net</title>" in html
    assert f'href="/invoices?issued={today:%Y-%m}&amp;entity=pieced"' in html  # a bar links to its invoices


def test_an_empty_dashboard_says_what_to_do(admin_client, session):
    html = admin_client.get("/").get_data(as_text=True)
    assert "No invoices yet — issue one from an org" in html
    assert "0.00" in html
