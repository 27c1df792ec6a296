"""No bare 500 from sizes: form limits match the columns and the QR-bill, and issuing refuses, with one
clear line and before a number is taken, what the columns or the QR-bill cannot hold."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import BillingInputError, issue_invoices
from pieced_admin.models import Invoice, InvoiceNumberCounter, OrgBillingConfig, SkillPricing

from ..factories import complete_default_entity, make_org, make_tenant, set_pricing, spec_example, threema_messages, zurich
from ..orgs.support import post  # noqa: F401  (fixture)
from ..orgs.test_org_detail import VALID as ORG_VALID
from ..pricing.test_pricing_pages import VALID as PRICING_VALID


def fake_pdf(invoices):
    """A stand-in PDF renderer (the PDF itself is tested elsewhere)."""
    return [f"%PDF-1.4 {inv.number}".encode() for inv in invoices]


def _error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error next to {field}"
    return match.group(1)


def _nothing_issued(session):
    assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar_one() == 0
    counters = session.execute(sa.select(InvoiceNumberCounter.last_number)).scalars().all()
    assert all(n == 0 for n in counters)


@pytest.mark.parametrize("field, value, says", [
    ("threema_message_chf", "1.00001", "at 1’000’000 messages a month"),
    ("threema_message_chf", "99999.99999", "at 1’000’000 messages a month"),
    ("tenant_monthly_fee_chf", "1000000.01", "At most 1’000’000.00"),
    ("tenant_setup_fee_chf", "99999999.99", "At most 1’000’000.00"),
    ("llm_usd_to_chf", "11", "per USD; at most 10.00"),
])
def test_a_price_whose_month_could_overflow_is_refused_next_to_its_field(admin_client, post, session, field,
                                                                          value, says):
    resp = post("/pricing", {**PRICING_VALID, field: value})
    assert resp.status_code == 422
    assert says in _error(resp.get_data(as_text=True), field)


def test_rate_and_markup_together_are_bounded(admin_client, post):
    resp = post("/pricing", {**PRICING_VALID, "llm_usd_to_chf": "5", "llm_markup_pct": "150"})
    assert resp.status_code == 422
    assert "CHF 12.50 per USD" in _error(resp.get_data(as_text=True), "llm_usd_to_chf")
    assert post("/pricing", {**PRICING_VALID, "llm_usd_to_chf": "5", "llm_markup_pct": "100"}).status_code == 302


def test_a_skill_price_whose_month_could_overflow_is_refused(admin_client, post, session):
    resp = post("/pricing/skills", {"new-skill_id": "web", "new-daily_price_chf": "10000.00001"}, htmx=True)
    assert "a month of 31 days" in resp.get_data(as_text=True)
    assert session.get(SkillPricing, "web") is None
    assert post("/pricing/skills", {"new-skill_id": "web", "new-daily_price_chf": "10000"}, htmx=True).status_code == 200
    assert session.get(SkillPricing, "web") is not None


def test_org_and_entity_names_are_at_most_70_characters(admin_client, post, session):
    make_org("org-acme")
    session.commit()
    resp = post("/orgs/org-acme", {**ORG_VALID, "display_name": "A" * 71})
    assert resp.status_code == 422
    assert "At most 70 characters" in _error(resp.get_data(as_text=True), "display_name")
    assert post("/orgs/org-acme", {**ORG_VALID, "display_name": "A" * 70}).status_code == 302
    resp = post("/entities/new", {"name": "B" * 71, "code": "x", "iban": "CH93 0076 2011 6238 5295 7",
                                  "invoice_prefix": "XX", "postal_code": "3011", "city": "Bern", "country": "CH",
                                  "currency": "CHF"})
    assert resp.status_code == 422
    assert "At most 70 characters" in _error(resp.get_data(as_text=True), "name")


def test_an_amount_beyond_numeric_10_2_is_a_clear_error_at_issue(session, runner):
    # Prices set by plain SQL (an operator), past the form's limits: 1'001 × 99'999.99999 > 99'999'999.99.
    set_pricing(threema_message_chf=Decimal("99999.99999"))
    complete_default_entity()
    make_org("org-big")
    make_tenant("big-main", "org-big", zurich(2026, 10, 1))
    threema_messages("big-main", 1001, zurich(2026, 10, 15))
    session.commit()
    with pytest.raises(BillingInputError, match=r"big-main threema line .* more than an invoice amount can hold"):
        issue_invoices("org-big", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf)
    session.rollback()
    _nothing_issued(session)
    result = runner.invoke(args=["billing", "issue", "--org", "org-big", "--month", "2026-10"])
    assert result.exit_code == 2, result.output
    assert "more than an invoice amount can hold (99’999’999.99)" in result.output
    _nothing_issued(session)


def test_a_name_the_qr_bill_cannot_carry_is_a_clear_error_at_issue(session, admin_client, post):
    spec_example()
    session.execute(sa.update(OrgBillingConfig).values(display_name="N" * 120))  # stored before the limit
    session.commit()
    resp = post("/orgs/org-acme/issue", {"month": "2026-10"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert ("Nothing was issued: org org-acme&#39;s name is longer than the 70 characters a QR-bill can carry"
            in page)
    _nothing_issued(session)
