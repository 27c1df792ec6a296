"""Usage is billed in the month it falls in, whether or not the tenant existed then (SPEC §3 after the lines
table); LLM spend exactly as LiteLLM reports it, rounded once; `llm`/`threema` lines only when priced."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from pieced_admin.billing.days import Period
from pieced_admin.billing.engine import BillingFacts, OrgFacts, Pricing, TenantFacts, compute_invoices
from pieced_admin.billing.issuing import preview_invoices

from ..factories import make_org, make_tenant, set_pricing, threema_messages, zurich
from ..peers.litellm_api import LiteLLMServer
from ..reminders.data import ready_default_entity

ZRH = ZoneInfo("Europe/Zurich")
PRICING = Pricing(tenant_monthly_fee_chf=D("0"), tenant_setup_fee_chf=D("99.00"), threema_message_chf=D("0.005"),
                  llm_usd_to_chf=D("1"), llm_markup_pct=D("0"), vat_rate_chli=D("8.10"))


def facts(*tenants, month="2026-11", pricing=PRICING):
    return BillingFacts(org=OrgFacts("org-acme", "CH", None), period=Period.parse(month), timezone="Europe/Zurich",
                        pricing=pricing, skill_prices={}, tenants=tenants, default_entity_id=1)


def tenant(created, deleted=None, **kw):
    return TenantFacts(name="acme-main", created_at=created, deleted_at=deleted, billing_entity_id=None, **kw)


def lines(drafts):
    return [(l.kind, l.quantity, l.amount_chf) for d in drafts for l in d.lines]


def test_llm_spend_is_rounded_once():
    # 1.0049996 USD × 1 CHF/USD = 1.0049996 → 1.00 (rounding the spend to 6 places first would give 1.005 → 1.01).
    t = tenant(datetime(2026, 10, 1, tzinfo=ZRH), llm_spend_usd=D("1.0049996"))
    # The quantity is shown (and stored) to six places, NUMERIC(16,6); it never feeds the amount.
    assert lines(compute_invoices(facts(t))) == [("llm", D("1.005000"), D("1.00"))]


@pytest.mark.parametrize("pricing, spend, messages, expected", [
    # no conversion rate: no llm line, whatever the spend
    (replace(PRICING, llm_usd_to_chf=D("0")), D("10"), 0, []),
    # no Threema price: no threema line, whatever the count
    (replace(PRICING, threema_message_chf=D("0")), D("0"), 500, []),
    # both priced: 10 × 1 = 10.00; 500 × 0.005 = 2.50
    (PRICING, D("10"), 500, [("llm", D("10"), D("10.00")), ("threema", D("500"), D("2.50"))]),
])
def test_usage_lines_only_when_priced(pricing, spend, messages, expected):
    t = tenant(datetime(2026, 10, 1, tzinfo=ZRH), llm_spend_usd=spend, threema_messages=messages)
    assert lines(compute_invoices(facts(t, pricing=pricing))) == expected


def test_usage_outside_the_tenants_life_is_billed_in_its_month():
    # Deleted in October, 7 messages reported in November: 7 × 0.005 = 0.035 → 0.04, billed in November.
    t = tenant(datetime(2026, 9, 1, tzinfo=ZRH), deleted=datetime(2026, 10, 20, tzinfo=ZRH), threema_messages=7,
               llm_spend_usd=D("0"))
    (draft,) = compute_invoices(facts(t))
    assert lines([draft]) == [("threema", D("7"), D("0.04"))] and draft.tenants == ("acme-main",)


def test_a_zero_length_tenant_pays_its_setup_fee():
    # Created and deleted at the same instant in November: the setup fee (created in M), no monthly fee.
    at = datetime(2026, 11, 5, 10, tzinfo=ZRH)
    assert lines(compute_invoices(facts(tenant(at, deleted=at, llm_spend_usd=D("0"))))) == [
        ("setup_fee", D("1"), D("99.00"))]


def test_spend_before_the_first_local_midnight_is_billed_in_the_previous_month(session, app):
    # Created 00:30 local on 1 November = 23:30 UTC on 31 October: LiteLLM puts its first half hour of spend in
    # the UTC day 2026-10-31, which October's query asks for. October bills it (no fee: it did not exist then).
    set_pricing(tenant_monthly_fee_chf="49.00", llm_usd_to_chf="1", vat_rate_chli="8.10")
    ready_default_entity()
    make_org("org-acme")
    make_tenant("acme-main", "org-acme", zurich(2026, 11, 1, 0, 30))
    threema_messages("acme-main", 3, datetime(2026, 10, 31, 23, 45, tzinfo=timezone.utc))  # 00:45 local, November
    with LiteLLMServer(api_key="sk-test") as server:
        server.set_spend("acme-main", "2026-10-31", "2.50")
        server.set_spend("acme-main", "2026-11-02", "4.00")
        app.config.update(LITELLM_URL=server.url, LITELLM_API_KEY="sk-test")
        october = [(l.kind, l.amount_chf) for i in preview_invoices("org-acme", Period(2026, 10)) for l in i.draft.lines]
        november = [(l.kind, l.amount_chf) for i in preview_invoices("org-acme", Period(2026, 11)) for l in i.draft.lines]
    assert october == [("llm", D("2.50"))]
    # November: the full month's fee 49.00, its own spend 4.00, 3 messages × 0 = no threema line (unpriced).
    assert november == [("monthly_fee", D("49.00")), ("llm", D("4.00"))]
