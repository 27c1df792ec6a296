"""Invariants of the billing engine over random tenant histories (hypothesis).

The year-long check compares the engine with a slow reference written here
from the rules alone: for each local day it replays the events to find the
tenant's state on every stretch of the day between events.
"""

import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pieced_admin.billing.engine import (
    BillingFacts,
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
YEAR = 2026
SKILLS = ("alpha", "beta")
PRICING = Pricing(
    tenant_monthly_fee_chf=D("49.00"),
    tenant_setup_fee_chf=D("0"),
    threema_message_chf=D("0.005"),
    llm_usd_to_chf=D("0.9"),
    llm_markup_pct=D("20"),
    vat_rate_chli=D("8.10"),
)
PRICES = {"alpha": D("0.10"), "beta": D("0.35")}

# Instants are whole seconds from a point before the year to one after it.
ORIGIN = datetime(YEAR - 1, 11, 1, tzinfo=UTC)
SPAN = int((datetime(YEAR + 1, 2, 1, tzinfo=UTC) - ORIGIN).total_seconds())
LOCAL_MIDNIGHTS = [
    int((datetime.combine(date(YEAR - 1, 11, 1) + timedelta(days=n), datetime.min.time(), ZRH) - ORIGIN).total_seconds())
    for n in range(SPAN // 86400)
]

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Mostly random seconds; often exactly (or one second around) a local midnight,
# where off-by-one-day mistakes live.
instants = st.one_of(
    st.integers(0, SPAN - 1),
    st.builds(lambda m, d: max(0, m + d), st.sampled_from(LOCAL_MIDNIGHTS), st.sampled_from([-1, 0, 0, 1])),
)


def at(seconds: int) -> datetime:
    return ORIGIN + timedelta(seconds=seconds)


@st.composite
def tenants(draw, name="t1"):
    """A tenant with a random life, suspensions and skill toggles; all event times distinct."""
    n_susp = draw(st.integers(0, 8))
    n_skill = draw(st.integers(0, 10))
    times = draw(st.lists(instants, min_size=n_susp + n_skill + 2, max_size=n_susp + n_skill + 2, unique=True))
    created, deleted, *event_times = times
    if draw(st.booleans()):
        created, deleted = min(created, deleted), max(created, deleted)
    else:
        deleted = None
    suspensions = tuple(
        SuspensionEvent(kind=draw(st.sampled_from(["suspended", "resumed"])), occurred_at=at(t), id=n)
        for n, t in enumerate(event_times[:n_susp], start=1)
    )
    skills = tuple(
        SkillEvent(
            skill_id=draw(st.sampled_from(SKILLS)),
            kind=draw(st.sampled_from(["enabled", "disabled"])),
            occurred_at=at(t),
            id=n,
        )
        for n, t in enumerate(event_times[n_susp:], start=1)
    )
    return TenantFacts(
        name=name,
        created_at=at(created),
        deleted_at=None if deleted is None else at(deleted),
        billing_entity_id=None,
        skill_events=skills,
        suspension_events=suspensions,
        threema_messages=draw(st.integers(0, 3000)),
        llm_spend_usd=draw(st.decimals(0, 100, places=4)),
    )


def facts_for(month: Period, *ts: TenantFacts) -> BillingFacts:
    return BillingFacts(
        org=OrgFacts(org_id="org-p", country="CH", billing_entity_id=None),
        period=month,
        timezone="Europe/Zurich",
        pricing=PRICING,
        skill_prices=PRICES,
        tenants=ts,
        default_entity_id=1,
    )


def months_of(year: int):
    return [Period(year, m) for m in range(1, 13)]


# --- slow reference, straight from the rules ----------------------------------


def ref_local_days(year: int):
    day = date(year, 1, 1)
    while day.year == year:
        start = datetime.combine(day, datetime.min.time(), ZRH).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZRH).astimezone(UTC)
        yield day, start, end
        day += timedelta(days=1)


def ref_state(events, moment, on_kind):
    """Replay events (ordered by time, then id) up to and including moment."""
    state = False
    for e in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        if e.occurred_at > moment:
            break
        state = e.kind == on_kind
    return state


def ref_live(t: TenantFacts, moment: datetime) -> bool:
    exists = t.created_at <= moment and (t.deleted_at is None or moment < t.deleted_at)
    return exists and not ref_state(t.suspension_events, moment, "suspended")


def ref_day_flags(t: TenantFacts, start: datetime, end: datetime, skill: str | None = None) -> bool:
    """Is the tenant live (and, given a skill, the skill on) during a positive part of [start, end)?"""
    cuts = {start, end, t.created_at}
    if t.deleted_at is not None:
        cuts.add(t.deleted_at)
    cuts.update(e.occurred_at for e in t.suspension_events)
    cuts.update(e.occurred_at for e in t.skill_events)
    points = sorted(c for c in cuts if start <= c <= end)
    # The state is constant on each stretch [p, q) between consecutive cuts: sample it at p.
    for p, q in zip(points, points[1:]):
        if p < q and ref_live(t, p):
            if skill is None:
                return True
            if ref_state([e for e in t.skill_events if e.skill_id == skill], p, "enabled"):
                return True
    return False


# --- properties ---------------------------------------------------------------


@PROPERTY_SETTINGS
@given(tenants(), st.sampled_from(months_of(YEAR)))
def test_billable_days_never_exceed_existence(t, month):
    days = compute_tenant_days(t, month, "Europe/Zurich")
    existing = compute_tenant_days(replace(t, suspension_events=()), month, "Europe/Zurich")
    assert 0 <= days.billable_days <= existing.billable_days <= month.days_in_month
    for n in days.skill_days.values():
        assert 0 < n <= days.billable_days


@PROPERTY_SETTINGS
@given(tenants(), st.sampled_from(months_of(YEAR)), instants)
def test_adding_a_suspension_never_raises_the_amount(t, month, when):
    taken = {e.occurred_at for e in (*t.suspension_events, *t.skill_events)}
    moment = at(when)
    if moment in taken:
        moment += timedelta(microseconds=1)
    extra = SuspensionEvent(kind="suspended", occurred_at=moment, id=1000)
    suspended_more = replace(t, suspension_events=(*t.suspension_events, extra))
    before = compute_invoices(facts_for(month, t))[0]
    after = compute_invoices(facts_for(month, suspended_more))[0]
    assert after.net_chf <= before.net_chf
    assert after.total_chf <= before.total_chf
    assert (
        compute_tenant_days(suspended_more, month, "Europe/Zurich").billable_days
        <= compute_tenant_days(t, month, "Europe/Zurich").billable_days
    )


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(tenants())
def test_year_of_months_matches_day_by_day_reference(t):
    engine_billable = 0
    engine_skill = dict.fromkeys(SKILLS, 0)
    for month in months_of(YEAR):
        days = compute_tenant_days(t, month, "Europe/Zurich")
        engine_billable += days.billable_days
        for skill, n in days.skill_days.items():
            engine_skill[skill] += n

    reference_billable = 0
    reference_skill = dict.fromkeys(SKILLS, 0)
    for _, start, end in ref_local_days(YEAR):
        if ref_day_flags(t, start, end):
            reference_billable += 1
            for skill in SKILLS:
                reference_skill[skill] += ref_day_flags(t, start, end, skill)

    assert engine_billable == reference_billable
    assert engine_skill == reference_skill


@PROPERTY_SETTINGS
@given(tenants("t1"), tenants("t2"), st.sampled_from(months_of(YEAR)), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_event_order(t1, t2, month, rnd: random.Random):
    def shuffled(t: TenantFacts) -> TenantFacts:
        skills, suspensions = list(t.skill_events), list(t.suspension_events)
        rnd.shuffle(skills)
        rnd.shuffle(suspensions)
        return replace(t, skill_events=tuple(skills), suspension_events=tuple(suspensions))

    t2 = replace(t2, billing_entity_id=rnd.choice([None, 2]))
    expected = compute_invoices(facts_for(month, t1, t2))
    assert compute_invoices(facts_for(month, t1, t2)) == expected
    assert compute_invoices(facts_for(month, shuffled(t2), shuffled(t1))) == expected
