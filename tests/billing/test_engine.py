"""The billing engine against SPEC §3: the worked example, then a table of edge cases.

Each expectation carries its arithmetic in a comment. Times are Europe/Zurich
local unless written with utc().
"""

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from pieced_admin.billing.engine import (
    WARNING_LLM_NOT_CONFIGURED,
    WARNING_NO_TENANTS,
    BillingFacts,
    InvoiceDraft,
    OrgFacts,
    Period,
    Pricing,
    SkillEvent,
    SuspensionEvent,
    TenantFacts,
    compute_invoices,
    compute_tenant_days,
)

ZRH = ZoneInfo("Europe/Zurich")
UTC = timezone.utc
SEARX = "searxng-local-search"
ABROAD_EN = "Place of supply abroad — not subject to Swiss VAT"
ABROAD_DE = "Ort der Leistung im Ausland — nicht der Schweizer MWST unterstellt"

PRICING = Pricing(
    tenant_monthly_fee_chf=D("49.00"),
    tenant_setup_fee_chf=D("99.00"),
    threema_message_chf=D("0.005"),
    llm_usd_to_chf=D("0.9"),
    llm_markup_pct=D("20"),
    vat_rate_chli=D("8.10"),
)
# Only the monthly fee and skills cost something: isolates day counting.
DAYS_PRICING = replace(
    PRICING, tenant_setup_fee_chf=D("0"), threema_message_chf=D("0"), llm_usd_to_chf=D("0")
)
ZERO_PRICING = Pricing(*(D("0"),) * 6)


def local(*args):
    return datetime(*args, tzinfo=ZRH)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def tenant(name="acme-main", created=None, deleted=None, entity=None, skills=(), suspensions=(), **kw):
    """A tenant; skills are (skill, kind, when[, id]) and suspensions (kind, when[, id])."""
    kw.setdefault("llm_spend_usd", D("0"))  # LiteLLM answered: no spend
    return TenantFacts(
        name=name,
        created_at=created or local(2026, 1, 1),
        deleted_at=deleted,
        billing_entity_id=entity,
        skill_events=tuple(SkillEvent(*s) for s in skills),
        suspension_events=tuple(SuspensionEvent(*s) for s in suspensions),
        **kw,
    )


def facts(*tenants, month="2026-10", country="CH", org_entity=None, pricing=PRICING, prices=None, **kw):
    org_kw = {k: kw.pop(k) for k in ("language",) if k in kw}
    return BillingFacts(
        org=OrgFacts(org_id="org-acme", country=country, billing_entity_id=org_entity, **org_kw),
        period=Period.parse(month),
        timezone="Europe/Zurich",
        pricing=pricing,
        skill_prices={SEARX: D("0.10")} if prices is None else prices,
        tenants=tenants,
        default_entity_id=1,
        **kw,
    )


def only(drafts: list[InvoiceDraft]) -> InvoiceDraft:
    assert len(drafts) == 1
    return drafts[0]


def summary(draft: InvoiceDraft):
    """Lines as (tenant, kind, skill, quantity, amount) for compact comparisons."""
    return [(l.tenant_name, l.kind, l.skill_id, l.quantity, l.amount_chf) for l in draft.lines]


# --- SPEC §3 worked example ---------------------------------------------------


def worked_example_facts(**kw):
    acme = tenant(
        created=local(2026, 10, 10, 9),
        skills=[(SEARX, "enabled", local(2026, 10, 10, 9), 1)],
        suspensions=[("suspended", local(2026, 10, 20, 12), 1), ("resumed", local(2026, 10, 25, 8), 2)],
        threema_messages=1234,
        llm_spend_usd=D("12.3456"),
    )
    return facts(acme, **kw)


def test_worked_example_to_the_cent():
    draft = only(compute_invoices(worked_example_facts()))
    assert draft.org_id == "org-acme"
    assert draft.billing_entity_id == 1
    assert draft.period == Period(2026, 10)
    assert (draft.period_start, draft.period_end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert draft.currency == "CHF"
    assert draft.tenants == ("acme-main",)
    assert summary(draft) == [
        # created in October and the setup fee is > 0: 1 × 99.00
        ("acme-main", "setup_fee", None, D("1"), D("99.00")),
        # live Oct 10–20 (11 days: suspended Oct 20 at 12:00, so Oct 20 counts)
        # + Oct 25–31 (7 days: resumed Oct 25 at 08:00) = 18 days;
        # Oct 21–24 are wholly suspended. 49 × 18 / 31 = 28.4516… → 28.45
        ("acme-main", "monthly_fee", None, D("18"), D("28.45")),
        # enabled at creation, never disabled: the same 18 live days × 0.10 = 1.80
        ("acme-main", "skill", SEARX, D("18"), D("1.80")),
        # 12.3456 × 0.9 × (1 + 20/100) = 12.3456 × 1.08 = 13.333248 → 13.33
        ("acme-main", "llm", None, D("12.3456"), D("13.33")),
        # 1234 × 0.005 = 6.17
        ("acme-main", "threema", None, D("1234"), D("6.17")),
    ]
    assert [l.position for l in draft.lines] == [1, 2, 3, 4, 5]
    # the LLM unit price, 0.9 × 1.2 = 1.08, is kept to 5 places like the stored unit prices
    assert [l.unit_price_chf for l in draft.lines] == [D("99.00"), D("49.00"), D("0.10"), D("1.08000"), D("0.005")]
    # 99.00 + 28.45 + 1.80 + 13.33 + 6.17 = 148.75
    assert draft.net_chf == D("148.75")
    assert draft.vat_rate == D("8.10")
    # 148.75 × 8.10 / 100 = 12.04875 → 12.05
    assert draft.vat_chf == D("12.05")
    # 148.75 + 12.05 = 160.80
    assert draft.total_chf == D("160.80")
    assert draft.vat_note is None
    assert draft.warnings == ()


def test_worked_example_descriptions():
    draft = only(compute_invoices(worked_example_facts()))
    assert [l.description for l in draft.lines] == [
        "acme-main — Setup fee",
        "acme-main — Monthly fee (18 of 31 days)",
        "acme-main — Skill searxng-local-search (18 days)",
        "acme-main — LLM usage (12.3456 USD at 1.08 CHF/USD)",
        "acme-main — Threema messages",
    ]


def test_worked_example_in_german():
    draft = only(compute_invoices(worked_example_facts(language="de")))
    assert [l.description for l in draft.lines] == [
        "acme-main — Einrichtungsgebühr",
        "acme-main — Monatsgebühr (18 von 31 Tagen)",
        "acme-main — Skill searxng-local-search (18 Tage)",
        "acme-main — LLM-Nutzung (12.3456 USD zu 1.08 CHF/USD)",
        "acme-main — Threema-Nachrichten",
    ]
    assert draft.total_chf == D("160.80")  # the language changes words, not amounts


def test_amounts_are_decimals_with_two_places():
    draft = only(compute_invoices(worked_example_facts()))
    for value in [draft.net_chf, draft.vat_chf, draft.total_chf, *(l.amount_chf for l in draft.lines)]:
        assert isinstance(value, D)
        assert value.as_tuple().exponent == -2


# --- billable days: the monthly fee line ---------------------------------------
# Each case: (tenant, month, billable days, monthly fee amount). Fee 49.00.

MONTHLY_FEE_CASES = {
    # 2026-03-29 has 23 hours (02:00 CET → 03:00 CEST); live only that day: 1 day.
    # 49 × 1 / 31 = 1.5806… → 1.58
    "dst-23-hour-day": (tenant(created=local(2026, 3, 29), deleted=local(2026, 3, 30)), "2026-03", 1, D("1.58")),
    # 2026-10-25 has 25 hours (03:00 CEST → 02:00 CET); live only that day: 1 day → 1.58
    "dst-25-hour-day": (tenant(created=local(2026, 10, 25), deleted=local(2026, 10, 26)), "2026-10", 1, D("1.58")),
    # live during the extra hour only (02:00–02:59 CET, the second 02:00 of Oct 25): still 1 day
    "dst-repeated-hour": (
        tenant(created=utc(2026, 10, 25, 1), deleted=utc(2026, 10, 25, 2)),
        "2026-10",
        1,
        D("1.58"),
    ),
    # full months across a DST change: 31 of 31 days = exactly the fee
    "dst-full-march": (tenant(), "2026-03", 31, D("49.00")),
    "dst-full-october": (tenant(), "2026-10", 31, D("49.00")),
    # 30-day month, full: 49 × 30 / 30 = 49.00
    "full-november": (tenant(), "2026-11", 30, D("49.00")),
    # created at 00:00 local Oct 10: Oct 10–31 = 22 days, Oct 9 not billed. 49 × 22 / 31 = 34.774… → 34.77
    "created-at-local-midnight": (tenant(created=local(2026, 10, 10)), "2026-10", 22, D("34.77")),
    # one microsecond earlier: Oct 9 is touched too, 23 days. 49 × 23 / 31 = 36.354… → 36.35
    "created-just-before-midnight": (
        tenant(created=local(2026, 10, 10) - timedelta(microseconds=1)),
        "2026-10",
        23,
        D("36.35"),
    ),
    # created at 00:00 UTC Oct 10 = 02:00 local Oct 10: 22 days
    "created-at-utc-midnight": (tenant(created=utc(2026, 10, 10)), "2026-10", 22, D("34.77")),
    # deleted at 00:00 local Oct 20: Oct 1–19 = 19 days, Oct 20 not billed. 49 × 19 / 31 = 30.032… → 30.03
    "deleted-at-local-midnight": (tenant(deleted=local(2026, 10, 20)), "2026-10", 19, D("30.03")),
    # deleted one second later: Oct 20 touched, 20 days. 49 × 20 / 31 = 31.612… → 31.61
    "deleted-just-after-midnight": (tenant(deleted=local(2026, 10, 20, 0, 0, 1)), "2026-10", 20, D("31.61")),
    # deleted at 00:00 local Oct 1 = the month start: not billed at all in October
    "deleted-at-month-start": (tenant(deleted=local(2026, 10, 1)), "2026-10", 0, None),
    # created at 00:00 local Nov 1 = the month end: not billed in October
    "created-at-month-end": (tenant(created=local(2026, 11, 1)), "2026-10", 0, None),
    # suspended 00:00 Oct 20, resumed 00:00 Oct 25: Oct 20–24 (5 days) excluded, 26 days.
    # 49 × 26 / 31 = 41.096… → 41.10
    "suspension-midnight-to-midnight": (
        tenant(suspensions=[("suspended", local(2026, 10, 20), 1), ("resumed", local(2026, 10, 25), 2)]),
        "2026-10",
        26,
        D("41.10"),
    ),
    # suspended at 10:00 Oct 20 (that day is paid) for good: Oct 1–20 = 20 days → 31.61
    "suspended-at-10": (tenant(suspensions=[("suspended", local(2026, 10, 20, 10))]), "2026-10", 20, D("31.61")),
    # resumed at 23:00 Oct 24 (that day is paid): Oct 20–23 excluded, 27 days. 49 × 27 / 31 = 42.677… → 42.68
    "resumed-at-23": (
        tenant(suspensions=[("suspended", local(2026, 10, 20), 1), ("resumed", local(2026, 10, 24, 23), 2)]),
        "2026-10",
        27,
        D("42.68"),
    ),
    # duplicates change nothing: suspended Oct 5 (again Oct 8), resumed 00:00 Oct 10 (again Oct 12):
    # Oct 5–9 excluded, 26 days → 41.10
    "repeated-suspend-resume": (
        tenant(
            suspensions=[
                ("suspended", local(2026, 10, 5), 1),
                ("suspended", local(2026, 10, 8), 2),
                ("resumed", local(2026, 10, 10), 3),
                ("resumed", local(2026, 10, 12), 4),
            ]
        ),
        "2026-10",
        26,
        D("41.10"),
    ),
    # a resume while not suspended changes nothing; suspended 00:00 Oct 15 for good: Oct 1–14 = 14 days.
    # 49 × 14 / 31 = 22.129… → 22.13
    "resume-when-not-suspended": (
        tenant(suspensions=[("resumed", local(2026, 10, 3), 1), ("suspended", local(2026, 10, 15), 2)]),
        "2026-10",
        14,
        D("22.13"),
    ),
    # suspended before it was even created counts; resumed 00:00 Oct 11: Oct 11–31 = 21 days.
    # 49 × 21 / 31 = 33.193… → 33.19
    "suspended-before-creation": (
        tenant(
            created=local(2026, 9, 15),
            suspensions=[("suspended", local(2026, 9, 1), 1), ("resumed", local(2026, 10, 11), 2)],
        ),
        "2026-10",
        21,
        D("33.19"),
    ),
    # suspended the whole month: billed (a draft) but 0 days, so no monthly line
    "suspended-all-month": (tenant(suspensions=[("suspended", local(2026, 9, 20))]), "2026-10", 0, None),
    # suspended and resumed twice within Oct 5, live in between: Oct 5 still billed, full month
    "toggles-within-a-day": (
        tenant(
            suspensions=[
                ("suspended", local(2026, 10, 5, 8), 1),
                ("resumed", local(2026, 10, 5, 9), 2),
                ("suspended", local(2026, 10, 5, 10), 3),
                ("resumed", local(2026, 10, 5, 11), 4),
            ]
        ),
        "2026-10",
        31,
        D("49.00"),
    ),
    # suspended and resumed at the same instant: ordered by id, never suspended for any length
    "suspend-resume-same-instant": (
        tenant(suspensions=[("suspended", local(2026, 10, 5), 1), ("resumed", local(2026, 10, 5), 2)]),
        "2026-10",
        31,
        D("49.00"),
    ),
    # same instant, resumed first by id: the tenant stays suspended from Oct 5 on: Oct 1–4 = 4 days.
    # 49 × 4 / 31 = 6.322… → 6.32
    "resume-suspend-same-instant": (
        tenant(suspensions=[("resumed", local(2026, 10, 5), 1), ("suspended", local(2026, 10, 5), 2)]),
        "2026-10",
        4,
        D("6.32"),
    ),
    # September has 30 days; live Sep 16–30 = 15 days: 49 × 15 / 30 = 24.50
    "thirty-day-month-half": (tenant(created=local(2026, 9, 16)), "2026-09", 15, D("24.50")),
}


@pytest.mark.parametrize(("t", "month", "days", "amount"), MONTHLY_FEE_CASES.values(), ids=MONTHLY_FEE_CASES.keys())
def test_monthly_fee_days(t, month, days, amount):
    period = Period.parse(month)
    assert compute_tenant_days(t, period, "Europe/Zurich").billable_days == days
    draft = only(compute_invoices(facts(t, month=month, pricing=DAYS_PRICING, prices={})))
    monthly = [l for l in draft.lines if l.kind == "monthly_fee"]
    if amount is None:
        assert monthly == []
    else:
        assert [(l.quantity, l.unit_price_chf, l.amount_chf) for l in monthly] == [(D(days), D("49.00"), amount)]


# --- skill days ---------------------------------------------------------------
# Each case: (tenant, skill days, skill line amount). Price 0.10/day, October 2026 (31 days).

SKILL_CASES = {
    # enabled and disabled twice on Oct 5: 1 day × 0.10 = 0.10
    "toggled-several-times-in-a-day": (
        tenant(
            skills=[
                (SEARX, "enabled", local(2026, 10, 5, 10), 1),
                (SEARX, "disabled", local(2026, 10, 5, 11), 2),
                (SEARX, "enabled", local(2026, 10, 5, 15), 3),
                (SEARX, "disabled", local(2026, 10, 5, 16), 4),
            ]
        ),
        1,
        D("0.10"),
    ),
    # on from 00:00 Oct 1 to 00:00 Oct 11: Oct 1–10 = 10 days × 0.10 = 1.00
    "midnight-to-midnight": (
        tenant(skills=[(SEARX, "enabled", local(2026, 10, 1), 1), (SEARX, "disabled", local(2026, 10, 11), 2)]),
        10,
        D("1.00"),
    ),
    # duplicates change nothing: enabled Oct 1 (again Oct 5), disabled 00:00 Oct 11 (again Oct 15): 10 days
    "repeated-enable-disable": (
        tenant(
            skills=[
                (SEARX, "enabled", local(2026, 10, 1), 1),
                (SEARX, "enabled", local(2026, 10, 5), 2),
                (SEARX, "disabled", local(2026, 10, 11), 3),
                (SEARX, "disabled", local(2026, 10, 15), 4),
            ]
        ),
        10,
        D("1.00"),
    ),
    # a disable for a skill that is off changes nothing: disabled Oct 2, enabled 00:00 Oct 30: Oct 30–31 = 2 days
    "disable-when-off": (
        tenant(skills=[(SEARX, "disabled", local(2026, 10, 2), 1), (SEARX, "enabled", local(2026, 10, 30), 2)]),
        2,
        D("0.20"),
    ),
    # on Oct 12–18 while the tenant is suspended Oct 10–19: no skill day
    "enabled-while-suspended": (
        tenant(
            skills=[(SEARX, "enabled", local(2026, 10, 12), 1), (SEARX, "disabled", local(2026, 10, 18), 2)],
            suspensions=[("suspended", local(2026, 10, 10), 1), ("resumed", local(2026, 10, 20), 2)],
        ),
        0,
        None,
    ),
    # enabled Oct 12 during a suspension that ends 00:00 Oct 20, then on for good: Oct 20–31 = 12 days → 1.20
    "enabled-while-suspended-then-resumed": (
        tenant(
            skills=[(SEARX, "enabled", local(2026, 10, 12), 1)],
            suspensions=[("suspended", local(2026, 10, 10), 1), ("resumed", local(2026, 10, 20), 2)],
        ),
        12,
        D("1.20"),
    ),
    # on before the month, off exactly at 00:00 Oct 1: nothing in October
    "disabled-at-month-start": (
        tenant(skills=[(SEARX, "enabled", local(2026, 9, 3), 1), (SEARX, "disabled", local(2026, 10, 1), 2)]),
        0,
        None,
    ),
    # enabled and disabled at the same instant (in that id order): never on for any length
    "enable-disable-same-instant": (
        tenant(skills=[(SEARX, "enabled", local(2026, 10, 7, 12), 1), (SEARX, "disabled", local(2026, 10, 7, 12), 2)]),
        0,
        None,
    ),
    # the same instant, disabled first by id: on from Oct 7 12:00 on: Oct 7–31 = 25 days → 2.50
    "disable-enable-same-instant": (
        tenant(skills=[(SEARX, "disabled", local(2026, 10, 7, 12), 1), (SEARX, "enabled", local(2026, 10, 7, 12), 2)]),
        25,
        D("2.50"),
    ),
    # enabled before creation counts: created 00:00 Oct 10, on since Sep 1: Oct 10–31 = 22 days → 2.20
    "enabled-before-creation": (
        tenant(created=local(2026, 10, 10), skills=[(SEARX, "enabled", local(2026, 9, 1), 1)]),
        22,
        D("2.20"),
    ),
    # on all month, tenant deleted 00:00 Oct 20: Oct 1–19 = 19 days → 1.90
    "tenant-deleted": (
        tenant(deleted=local(2026, 10, 20), skills=[(SEARX, "enabled", local(2026, 9, 1), 1)]),
        19,
        D("1.90"),
    ),
}


@pytest.mark.parametrize(("t", "days", "amount"), SKILL_CASES.values(), ids=SKILL_CASES.keys())
def test_skill_days(t, days, amount):
    assert compute_tenant_days(t, Period(2026, 10), "Europe/Zurich").skill_days.get(SEARX, 0) == days
    draft = only(compute_invoices(facts(t, pricing=DAYS_PRICING)))
    skill = [(l.quantity, l.amount_chf) for l in draft.lines if l.kind == "skill"]
    assert skill == ([] if amount is None else [(D(days), amount)])


def test_skill_description_singular():
    t = SKILL_CASES["toggled-several-times-in-a-day"][0]
    (en,) = [l for l in only(compute_invoices(facts(t))).lines if l.kind == "skill"]
    (de,) = [l for l in only(compute_invoices(facts(t, language="de"))).lines if l.kind == "skill"]
    assert en.description == "acme-main — Skill searxng-local-search (1 day)"
    assert de.description == "acme-main — Skill searxng-local-search (1 Tag)"


# --- half-up rounding, one line at a time --------------------------------------
# Each case: (pricing overrides, tenant overrides, month, kind, amount).

ROUNDING_CASES = {
    # 25 × 0.005 = 0.125 → 0.13 (half-even would give 0.12)
    "threema-0.125": ({"threema_message_chf": D("0.005")}, {"threema_messages": 25}, "2026-10", "threema", D("0.13")),
    # 1 × 0.005 = 0.005 → 0.01
    "threema-0.005": ({"threema_message_chf": D("0.005")}, {"threema_messages": 1}, "2026-10", "threema", D("0.01")),
    # 535 × 0.005 = 2.675 → 2.68 (as a float, 2.675 is 2.67499… and would round to 2.67)
    "threema-2.675": ({"threema_message_chf": D("0.005")}, {"threema_messages": 535}, "2026-10", "threema", D("2.68")),
    # 2.675 USD × 1 × (1 + 0/100) = 2.675 → 2.68
    "llm-2.675": (
        {"llm_usd_to_chf": D("1"), "llm_markup_pct": D("0")},
        {"llm_spend_usd": D("2.675")},
        "2026-10",
        "llm",
        D("2.68"),
    ),
    # 0.0041 USD × 0.9 × 1.2 = 0.004428 → 0.00: a line of zero, still shown (the spend was > 0)
    "llm-below-a-cent": ({}, {"llm_spend_usd": D("0.0041")}, "2026-10", "llm", D("0.00")),
    # 0.25 × 15 / 30 = 0.125 exactly → 0.13 (live Sep 16–30 = 15 of 30 days)
    "monthly-0.125": (
        {"tenant_monthly_fee_chf": D("0.25")},
        {"created_at": local(2026, 9, 16)},
        "2026-09",
        "monthly_fee",
        D("0.13"),
    ),
    # 0.05 × 3 / 30 = 0.005 exactly → 0.01 (live Sep 28–30 = 3 of 30 days)
    "monthly-0.005": (
        {"tenant_monthly_fee_chf": D("0.05")},
        {"created_at": local(2026, 9, 28)},
        "2026-09",
        "monthly_fee",
        D("0.01"),
    ),
}


@pytest.mark.parametrize(
    ("pricing_kw", "tenant_kw", "month", "kind", "amount"), ROUNDING_CASES.values(), ids=ROUNDING_CASES.keys()
)
def test_rounding_half_up_per_line(pricing_kw, tenant_kw, month, kind, amount):
    pricing = replace(ZERO_PRICING, **{"llm_usd_to_chf": D("0.9"), "llm_markup_pct": D("20"), **pricing_kw})
    t = replace(tenant(created=local(2026, 1, 1)), **tenant_kw)
    draft = only(compute_invoices(facts(t, month=month, pricing=pricing, prices={})))
    assert [(l.kind, l.amount_chf) for l in draft.lines] == [(kind, amount)]
    assert draft.net_chf == amount


def test_each_line_is_rounded_on_its_own():
    # Two tenants with 1 message each at 0.005: each line 0.005 → 0.01, net 0.02
    # (rounding the sum 0.010 once would give 0.01).
    pricing = replace(ZERO_PRICING, threema_message_chf=D("0.005"))
    draft = only(
        compute_invoices(
            facts(tenant("a", threema_messages=1), tenant("b", threema_messages=1), pricing=pricing)
        )
    )
    assert [l.amount_chf for l in draft.lines] == [D("0.01"), D("0.01")]
    assert draft.net_chf == D("0.02")


def test_vat_rounds_half_up():
    # 1000 × 0.005 = 5.00 net; 5.00 × 8.10 / 100 = 0.405 → 0.41 (half-even: 0.40); total 5.41
    pricing = replace(ZERO_PRICING, threema_message_chf=D("0.005"), vat_rate_chli=D("8.10"))
    draft = only(compute_invoices(facts(tenant(threema_messages=1000), pricing=pricing)))
    assert (draft.net_chf, draft.vat_chf, draft.total_chf) == (D("5.00"), D("0.41"), D("5.41"))


# --- billing entities ---------------------------------------------------------


def test_tenant_with_its_own_entity_gets_its_own_draft():
    a = tenant("a-main", threema_messages=200)  # follows the org: entity 3
    b = tenant("b-side", entity=7, threema_messages=400)  # override: entity 7
    drafts = compute_invoices(facts(b, a, org_entity=3, entity_currency={7: "EUR"}))
    assert [d.billing_entity_id for d in drafts] == [3, 7]
    first, second = drafts
    assert {l.tenant_name for l in first.lines} == {"a-main"} and first.tenants == ("a-main",)
    assert {l.tenant_name for l in second.lines} == {"b-side"} and second.tenants == ("b-side",)
    assert (first.currency, second.currency) == ("CHF", "EUR")
    # a-main: 49.00 (full month) + 200 × 0.005 = 1.00 → net 50.00; VAT 50.00 × 0.081 = 4.05
    assert (first.net_chf, first.vat_chf, first.total_chf) == (D("50.00"), D("4.05"), D("54.05"))
    # b-side: 49.00 + 400 × 0.005 = 2.00 → net 51.00; VAT 51.00 × 0.081 = 4.131 → 4.13
    assert (second.net_chf, second.vat_chf, second.total_chf) == (D("51.00"), D("4.13"), D("55.13"))
    assert [l.position for l in second.lines] == [1, 2]  # numbered per invoice


def test_entity_falls_back_to_default():
    draft = only(compute_invoices(facts(tenant(), org_entity=None)))
    assert draft.billing_entity_id == 1


def test_tenant_override_equal_to_org_entity_shares_the_draft():
    draft = only(compute_invoices(facts(tenant("a"), tenant("b", entity=3), org_entity=3)))
    assert draft.tenants == ("a", "b")


# --- VAT ----------------------------------------------------------------------


def test_foreign_org_pays_no_swiss_vat():
    draft = only(compute_invoices(facts(tenant(), country="DE")))
    # 49.00 full month; abroad: VAT rate 0, VAT 0, total = net
    assert (draft.net_chf, draft.vat_rate, draft.vat_chf, draft.total_chf) == (
        D("49.00"),
        D("0"),
        D("0.00"),
        D("49.00"),
    )
    assert draft.vat_note == ABROAD_EN


def test_foreign_org_note_in_german():
    draft = only(compute_invoices(facts(tenant(), country="DE", language="de")))
    assert draft.vat_note == ABROAD_DE


def test_liechtenstein_org_pays_vat():
    draft = only(compute_invoices(facts(tenant(), country="LI")))
    # 49.00 × 8.10 / 100 = 3.969 → 3.97
    assert (draft.vat_rate, draft.vat_chf, draft.total_chf, draft.vat_note) == (D("8.10"), D("3.97"), D("52.97"), None)


def test_country_code_is_case_insensitive():
    assert only(compute_invoices(facts(tenant(), country="ch"))).vat_chf == D("3.97")


# --- which tenants, which lines -----------------------------------------------


def test_tenant_deleted_before_the_month_gives_an_empty_draft():
    gone = tenant(created=local(2026, 1, 1), deleted=local(2026, 9, 30, 12))
    draft = only(compute_invoices(facts(gone, org_entity=4)))
    assert draft.billing_entity_id == 4
    assert draft.lines == ()
    assert draft.tenants == ()
    assert (draft.net_chf, draft.vat_chf, draft.total_chf) == (D("0.00"), D("0.00"), D("0.00"))
    assert draft.warnings == (WARNING_NO_TENANTS,)


def test_org_without_tenants_gives_an_empty_draft():
    draft = only(compute_invoices(facts()))
    assert draft.lines == () and draft.net_chf == D("0.00")
    assert draft.warnings == (WARNING_NO_TENANTS,)


def test_setup_fee_only_in_the_creation_month():
    t = tenant(created=local(2026, 10, 31, 23, 30))
    october = only(compute_invoices(facts(t, month="2026-10")))
    november = only(compute_invoices(facts(t, month="2026-11")))
    # October: setup 99.00 + 1 day 49 × 1 / 31 = 1.58
    assert summary(october) == [
        ("acme-main", "setup_fee", None, D("1"), D("99.00")),
        ("acme-main", "monthly_fee", None, D("1"), D("1.58")),
    ]
    # November: full month 49.00, no setup fee
    assert summary(november) == [("acme-main", "monthly_fee", None, D("30"), D("49.00"))]


def test_setup_fee_uses_local_month():
    # created 2026-10-31 23:30 UTC = 2026-11-01 00:30 local: a November tenant
    t = tenant(created=utc(2026, 10, 31, 23, 30))
    assert compute_invoices(facts(t, month="2026-10"))[0].lines == ()
    assert [l.kind for l in compute_invoices(facts(t, month="2026-11"))[0].lines] == ["setup_fee", "monthly_fee"]


def test_zero_prices_give_no_lines():
    t = tenant(
        created=local(2026, 10, 2),
        skills=[(SEARX, "enabled", local(2026, 10, 2))],
        threema_messages=500,
        llm_spend_usd=D("3.5"),
    )
    draft = only(compute_invoices(facts(t, pricing=ZERO_PRICING, prices={SEARX: D("0")})))
    assert draft.lines == ()
    assert draft.tenants == ("acme-main",)  # billed, just nothing to charge
    assert draft.net_chf == D("0.00")
    assert WARNING_NO_TENANTS not in draft.warnings


def test_skill_without_price_gives_no_line():
    t = tenant(skills=[("unpriced-skill", "enabled", local(2026, 9, 1)), (SEARX, "enabled", local(2026, 9, 1))])
    draft = only(compute_invoices(facts(t, pricing=DAYS_PRICING, prices={SEARX: D("0.10")})))
    # 49.00 + 31 × 0.10 = 3.10; nothing for the unpriced skill
    assert summary(draft) == [
        ("acme-main", "monthly_fee", None, D("31"), D("49.00")),
        ("acme-main", "skill", SEARX, D("31"), D("3.10")),
    ]
    assert compute_tenant_days(t, Period(2026, 10), "Europe/Zurich").skill_days == {
        SEARX: 31,
        "unpriced-skill": 31,
    }


def test_line_order_across_tenants_and_skills():
    def busy(name, created):
        return tenant(
            name,
            created=created,
            skills=[("zeta", "enabled", local(2026, 9, 1)), ("alpha", "enabled", local(2026, 9, 1))],
            threema_messages=10,
            llm_spend_usd=D("1"),
        )

    # given out of order; sorted by tenant name, then setup, monthly, skills by id, llm, threema
    draft = only(
        compute_invoices(
            facts(
                busy("zz-last", local(2026, 1, 1)),
                busy("aa-first", local(2026, 10, 1)),
                prices={"alpha": D("0.20"), "zeta": D("0.30")},
            )
        )
    )
    assert [(l.position, l.tenant_name, l.kind, l.skill_id) for l in draft.lines] == [
        (1, "aa-first", "setup_fee", None),
        (2, "aa-first", "monthly_fee", None),
        (3, "aa-first", "skill", "alpha"),
        (4, "aa-first", "skill", "zeta"),
        (5, "aa-first", "llm", None),
        (6, "aa-first", "threema", None),
        (7, "zz-last", "monthly_fee", None),
        (8, "zz-last", "skill", "alpha"),
        (9, "zz-last", "skill", "zeta"),
        (10, "zz-last", "llm", None),
        (11, "zz-last", "threema", None),
    ]
    # per tenant: 49.00 + 31 × 0.20 = 6.20 + 31 × 0.30 = 9.30 + 1 × 1.08 = 1.08 + 10 × 0.005 = 0.05 → 65.63;
    # aa-first adds the 99.00 setup fee: 65.63 × 2 + 99.00 = 230.26
    assert draft.net_chf == D("230.26")


# --- warnings -----------------------------------------------------------------


def test_llm_not_configured_warns_and_bills_no_llm():
    t = tenant(llm_spend_usd=D("10"))
    drafts = compute_invoices(
        facts(t, tenant("other", entity=2), llm_configured=False, warnings=("Loader: something odd.",))
    )
    assert len(drafts) == 2
    for draft in drafts:
        assert draft.warnings == ("Loader: something odd.", WARNING_LLM_NOT_CONFIGURED)
        assert all(l.kind != "llm" for l in draft.lines)


def test_unknown_llm_spend_is_a_warning():
    draft = only(compute_invoices(facts(tenant(llm_spend_usd=None))))
    assert draft.warnings == ("LLM usage of acme-main is unknown: not billed.",)


def test_loader_warnings_are_copied_into_every_draft():
    drafts = compute_invoices(facts(tenant("a"), tenant("b", entity=9), warnings=("w1", "w2")))
    assert [d.warnings for d in drafts] == [("w1", "w2"), ("w1", "w2")]


def test_usage_of_a_tenant_outside_its_life_is_billed_in_its_month():
    # SPEC §3: usage is billed in the month it falls in, whether or not the tenant existed then.
    # 3 messages × 0.005 = 0.015 → 0.02; no monthly fee (no billable day), no setup fee (created in 2026-01).
    gone = tenant("gone", deleted=local(2026, 9, 1), threema_messages=3)
    draft = only(compute_invoices(facts(gone, tenant("here", created=local(2026, 10, 31, 12), llm_spend_usd=D("0")))))
    assert draft.tenants == ("gone", "here")
    assert [(l.tenant_name, l.kind, l.amount_chf) for l in draft.lines] == [
        ("gone", "threema", D("0.02")), ("here", "setup_fee", D("99.00")), ("here", "monthly_fee", D("1.58"))]
    assert draft.warnings == ()


# --- bad input ----------------------------------------------------------------


def test_unknown_event_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown event kind 'paused'"):
        compute_invoices(facts(tenant(suspensions=[("paused", local(2026, 10, 2))])))


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="Naive datetime"):
        compute_invoices(facts(tenant(created=datetime(2026, 10, 1))))


def test_float_prices_are_refused():
    with pytest.raises(TypeError, match="tenant_monthly_fee_chf"):
        compute_invoices(facts(tenant(), pricing=replace(PRICING, tenant_monthly_fee_chf=49.0)))


def test_facts_are_not_changed():
    f = worked_example_facts()
    before = repr(f)
    compute_invoices(f)
    assert repr(f) == before


def test_llm_amount_uses_the_exact_rate():
    # rate 0.912345 × (1 + 7.5/100) = 0.980770875 CHF/USD, shown as 0.98077 (5 places);
    # amount = 10000 × 0.980770875 = 9807.70875 → 9807.71 (the shown rate would give 9807.70)
    pricing = replace(ZERO_PRICING, llm_usd_to_chf=D("0.912345"), llm_markup_pct=D("7.5"))
    draft = only(compute_invoices(facts(tenant(llm_spend_usd=D("10000")), pricing=pricing)))
    (line,) = draft.lines
    assert (line.kind, line.quantity, line.unit_price_chf, line.amount_chf) == (
        "llm",
        D("10000"),
        D("0.98077"),
        D("9807.71"),
    )
    assert line.description == "acme-main — LLM usage (10000 USD at 0.98077 CHF/USD)"
