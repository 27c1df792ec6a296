"""Prices over time (SPEC §3): versions from an effective month, the month's prices resolved into the facts,
`pricing schedule` / `pricing show [--json]` (SPEC §5), refusal for months with an issued invoice."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices, preview_invoices, void_invoice
from pieced_admin.billing.prices import (
    PriceVersionError,
    prices_for_month,
    remove_version,
    replace_version,
    schedule_version,
)
from pieced_admin.models import AuditLog, PriceVersion

from ..factories import set_skill_price, spec_example, spec_pricing, zurich

OCT, NOV, DEC, JAN = Period(2026, 10), Period(2026, 11), Period(2026, 12), Period(2027, 1)


def fake_pdf(invoices):
    return [f"%PDF-1.4 {inv.number}".encode() for inv in invoices]


def show(runner, *args):
    result = runner.invoke(args=["pricing", "show", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_no_versions_means_the_base_rows(session):
    spec_pricing()
    prices = prices_for_month(NOV)
    assert prices.pricing.tenant_monthly_fee_chf == D("49.00")
    assert prices.skill_prices == {"searxng-local-search": D("0.10000")}
    assert set(prices.sources.values()) == {None}


def test_each_price_comes_from_the_latest_version_that_sets_it(session):
    spec_pricing()
    schedule_version(DEC, {"tenant_monthly_fee_chf": D("59.00")}, {"searxng-local-search": D("0.12")})
    schedule_version(Period(2027, 3), {"threema_message_chf": D("0.006")}, {"searxng-local-search": D("0")})
    table = {
        # month: (monthly fee, threema, searxng): base 49.00 / 0.005 / 0.10
        Period(2026, 11): (D("49.00"), D("0.005"), D("0.10")),
        Period(2026, 12): (D("59.00"), D("0.005"), D("0.12")),
        Period(2027, 2): (D("59.00"), D("0.005"), D("0.12")),
        Period(2027, 3): (D("59.00"), D("0.006"), D("0")),  # a skill price of 0 removes its line
    }
    for month, (fee, threema, searx) in table.items():
        p = prices_for_month(month)
        assert (p.pricing.tenant_monthly_fee_chf, p.pricing.threema_message_chf,
                p.skill_prices["searxng-local-search"]) == (fee, threema, searx), month.key


def test_a_version_for_january_leaves_earlier_months_unchanged_to_the_cent(runner, session):
    spec_example()
    (invoice,) = issue_invoices("org-acme", OCT, now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    session.commit()
    november = [(d.draft.lines, d.draft.net_chf, d.draft.total_chf) for d in preview_invoices("org-acme", NOV)]
    schedule_version(JAN, {"tenant_monthly_fee_chf": D("69.00"), "vat_rate_chli": D("8.50")},
                     {"searxng-local-search": D("0.50")})
    session.commit()
    # November: 49.00 + 30 × 0.10 = 52.00 net, VAT round(4.212) = 4.21, total 56.21, before and after.
    assert [(d.draft.lines, d.draft.net_chf, d.draft.total_chf) for d in preview_invoices("org-acme", NOV)] == november
    assert [(n, t) for _l, n, t in november] == [(D("52.00"), D("56.21"))]
    # October is issued: it verifies at its month's prices, unchanged.
    assert runner.invoke(args=["billing", "verify"]).exit_code == 0
    # A re-issue after a void: exactly the voided invoice's lines and amounts.
    void_invoice(invoice.number, "re-issue", render_pdf=False)
    (again,) = issue_invoices("org-acme", OCT, now=zurich(2026, 11, 20), render_pdfs=fake_pdf).issued
    assert [(l.kind, l.quantity, l.unit_price_chf, l.amount_chf) for l in again.lines] == \
           [(l.kind, l.quantity, l.unit_price_chf, l.amount_chf) for l in invoice.lines]
    assert (again.net_chf, again.vat_chf, again.total_chf) == (invoice.net_chf, invoice.vat_chf, invoice.total_chf)


def test_a_versioned_month_is_billed_at_its_prices(session):
    spec_example()
    schedule_version(OCT, {"tenant_monthly_fee_chf": D("62.00")}, {})
    (draft,) = [i.draft for i in preview_invoices("org-acme", OCT)]
    fee = next(l for l in draft.lines if l.kind == "monthly_fee")
    # 62 × 18 / 31 = 36.0 → 36.00
    assert (fee.unit_price_chf, fee.amount_chf) == (D("62.00"), D("36.00"))


def test_scheduling_for_a_month_with_an_issued_invoice_is_refused_with_one_line(runner, session):
    spec_example()
    issue_invoices("org-acme", OCT, now=zurich(2026, 11, 3), render_pdfs=fake_pdf)
    session.commit()
    result = runner.invoke(args=["pricing", "schedule", "--from", "2026-10", "tenant_monthly_fee_chf=59.00"])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert lines == ["Error: cannot schedule prices from 2026-10: invoice PC-2026-0001 of 2026-10 is issued at the "
                     "prices in force then (void it first, or choose a later month)"]
    # An earlier month would reach October too: refused as well.
    assert runner.invoke(args=["pricing", "schedule", "--from", "2026-09", "llm_markup_pct=5"]).exit_code == 2
    assert session.execute(sa.select(sa.func.count()).select_from(PriceVersion)).scalar_one() == 0


def test_a_scheduled_version_can_be_edited_or_removed_until_its_month_is_issued(session):
    spec_example()
    schedule_version(NOV, {"tenant_monthly_fee_chf": D("59.00")}, {})
    replace_version("2026-11", {"tenant_setup_fee_chf": D("120.00")}, {"searxng-local-search": D("0.20")})
    p = prices_for_month(NOV)
    assert (p.pricing.tenant_monthly_fee_chf, p.pricing.tenant_setup_fee_chf) == (D("49.00"), D("120.00"))
    issue_invoices("org-acme", NOV, now=zurich(2026, 12, 2), render_pdfs=fake_pdf)
    with pytest.raises(PriceVersionError, match="cannot change prices from 2026-11"):
        replace_version("2026-11", {"tenant_setup_fee_chf": D("1.00")}, {})
    with pytest.raises(PriceVersionError, match="cannot remove the version of prices from 2026-11"):
        remove_version("2026-11")
    schedule_version(DEC, {"tenant_monthly_fee_chf": D("59.00")}, {})
    remove_version("2026-12")
    actions = session.execute(sa.select(AuditLog.action).where(AuditLog.object_type == "price_version")
                              .order_by(AuditLog.id)).scalars().all()
    assert actions == ["price_version.schedule", "price_version.update", "price_version.schedule",
                       "price_version.remove"]


def test_pricing_show_json_is_exactly_the_spec_shape(runner, session):
    spec_pricing()
    set_skill_price("voice", "0.25")
    ok = runner.invoke(args=["pricing", "schedule", "--from", "2027-01", "tenant_monthly_fee_chf=59.00",
                             "skill:searxng-local-search=0.12", "threema_message_chf=0.006"])
    assert ok.exit_code == 0, ok.output
    with clock.pinned("2026-12-15"):
        this_month = show(runner)
    assert this_month == {
        "month": "2026-12",
        "platform": {"tenant_monthly_fee_chf": "49.00", "tenant_setup_fee_chf": "99.00", "threema_message_chf": "0.005",
                     "llm_usd_to_chf": "0.90", "llm_markup_pct": "20.00", "vat_rate_chli": "8.10"},
        "skills": {"searxng-local-search": "0.10", "voice": "0.25"},
    }
    january = show(runner, "--month", "2027-01")
    assert january["month"] == "2027-01"
    assert (january["platform"]["tenant_monthly_fee_chf"], january["platform"]["threema_message_chf"]) == ("59.00",
                                                                                                        "0.006")
    assert january["skills"] == {"searxng-local-search": "0.12", "voice": "0.25"}
    text = runner.invoke(args=["pricing", "show", "--month", "2027-01"]).output
    assert "tenant_monthly_fee_chf" in text and "from 2027-01" in text and "base" in text


@pytest.mark.parametrize("args, message", [
    (["--from", "2027-13", "tenant_monthly_fee_chf=1"], "Invalid month"),
    (["--from", "2027-01"], "name at least one price"),
    (["--from", "2027-01", "payment_terms_days=10"], "unknown price 'payment_terms_days'"),
    (["--from", "2027-01", "tenant_monthly_fee_chf=ten"], "must be a number"),
    (["--from", "2027-01", "tenant_monthly_fee_chf=1.234"], "at most 2 decimals"),
    (["--from", "2027-01", "tenant_monthly_fee_chf=-1"], "zero or more"),
    (["--from", "2027-01", "tenant_monthly_fee_chf"], "expected FIELD=VALUE"),
])
def test_bad_schedule_input_is_one_line_exit_2_and_writes_nothing(runner, session, args, message):
    result = runner.invoke(args=["pricing", "schedule", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert session.execute(sa.select(sa.func.count()).select_from(PriceVersion)).scalar_one() == 0
