"""The pricing page's prices over time: in force this month, scheduled versions with who scheduled them, past ones;
an admin schedules, edits and removes; a month with an issued invoice is refused next to the field."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices
from pieced_admin.billing.prices import schedule_version
from pieced_admin.models import PriceVersion

from ..factories import spec_example, spec_pricing, zurich
from ..orgs.support import Poster, text


@pytest.mark.now("2026-12-10")
def test_admin_schedules_edits_and_removes_a_version(admin_client, session):
    # The version form's fields are prefixed: their ids never collide with the base prices' form.
    spec_pricing()
    post = Poster(admin_client)
    bad = post("/pricing/versions", {"version-month": "2027-01", "version-tenant_monthly_fee_chf": "5.123"})
    assert bad.status_code == 422 and "tenant_monthly_fee_chf takes at most 2 decimals" in text(bad)
    done = post("/pricing/versions", {"version-month": "2027-01", "version-tenant_monthly_fee_chf": "59.00",
                                      "version-skills": "searxng-local-search=0.12"})
    assert done.status_code == 302
    version = session.execute(sa.select(PriceVersion)).scalar_one()
    assert (version.tenant_monthly_fee_chf, version.skill_prices, version.created_by) == (
        D("59.00"), {"searxng-local-search": "0.12"}, "admin@pieced.local")

    page = text(admin_client.get("/pricing"))
    assert page.count('id="tenant_monthly_fee_chf"') == 1 and 'id="version-tenant_monthly_fee_chf"' in page
    assert "In force in December 2026" in page and "No price change is scheduled." not in page
    assert "2027-01" in page and "Monthly fee 59.00" in page and "admin@pieced.local" in page

    edit = text(admin_client.get("/pricing/versions/2027-01/edit"))
    assert "Save the prices from 2027-01" in edit
    assert post("/pricing/versions/2027-01", {"edit-version-month": "2027-01", "edit-version-tenant_setup_fee_chf": "120"}
                ).status_code == 302
    session.refresh(version)
    assert (version.tenant_monthly_fee_chf, version.tenant_setup_fee_chf) == (None, D("120.00"))

    assert post("/pricing/versions/2027-01/delete").status_code == 302
    assert session.execute(sa.select(sa.func.count()).select_from(PriceVersion)).scalar_one() == 0


@pytest.mark.now("2026-12-10")
def test_a_month_with_an_issued_invoice_is_refused_and_past_versions_are_listed(admin_client, session):
    spec_example()
    schedule_version(Period(2026, 9), {"llm_markup_pct": D("25")}, {})
    issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=None)
    session.commit()
    post = Poster(admin_client)
    refused = post("/pricing/versions", {"version-month": "2026-10", "version-tenant_monthly_fee_chf": "59.00"})
    assert refused.status_code == 422
    assert "cannot schedule prices from 2026-10: invoice PC-2026-0001 of 2026-10 is issued" in text(refused)
    page = text(admin_client.get("/pricing"))
    assert "Past versions" in page and "LLM markup % 25.00" in page


@pytest.mark.now("2026-12-10")
def test_finance_sees_the_prices_over_time_without_forms(finance_client, session):
    spec_pricing()
    schedule_version(Period(2027, 1), {"tenant_monthly_fee_chf": D("59.00")}, {})
    session.commit()
    page = text(finance_client.get("/pricing"))
    assert "Monthly fee 59.00" in page and 'id="schedule-version"' not in page
    assert Poster(finance_client)("/pricing/versions", {"version-month": "2027-02",
                                                        "version-vat_rate_chli": "8.5"}).status_code == 403


@pytest.mark.now("2026-12-01T08:00:00+01:00")
def test_raising_the_base_fee_on_the_page_leaves_billed_months_alone(admin_client, session, runner):
    # Issue 11: November is issued; on 1 December the admin raises the monthly fee on the pricing page.
    from pieced_admin.billing.prices import prices_for_month
    from pieced_admin.models import PlatformPricing

    spec_example()
    issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3),
                   render_pdfs=lambda invoices: [b"%PDF-1.4 stand-in" for _ in invoices])
    session.commit()
    post = Poster(admin_client)
    form = {"tenant_monthly_fee_chf": "58.31", "tenant_setup_fee_chf": "99.00", "threema_message_chf": "0.005",
            "llm_usd_to_chf": "0.9", "llm_markup_pct": "20", "vat_rate_chli": "8.10", "payment_terms_days": "30"}
    assert post("/pricing", form).status_code == 302
    add = post("/pricing/skills", {"new-skill_id": "voice", "new-daily_price_chf": "0.30"})
    assert add.status_code in (200, 302)
    assert session.get(PlatformPricing, 1).tenant_monthly_fee_chf == D("58.31")  # the base row, as edited
    # October (issued) and November (not yet) keep 49.00 and no voice price; December has the new prices.
    for month, fee, voice in ((Period(2026, 10), D("49.00"), D("0")), (Period(2026, 11), D("49.00"), D("0")),
                              (Period(2026, 12), D("58.31"), D("0.30")), (Period(2027, 1), D("58.31"), D("0.30"))):
        p = prices_for_month(month)
        assert (p.pricing.tenant_monthly_fee_chf, p.skill_prices.get("voice", D("0"))) == (fee, voice), month.key
    result = runner.invoke(args=["billing", "verify"])
    assert result.exit_code == 0, result.output
