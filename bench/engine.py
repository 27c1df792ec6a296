"""Benchmark of the pure billing engine: 10,000 tenant-months of realistic facts.

Run: .venv/bin/python bench/engine.py [--tenant-months N] [--runs R] [--seed S]
Facts are generated in memory (no database), so this times the engine alone.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pieced_admin.billing.engine import (  # noqa: E402
    BillingFacts,
    OrgFacts,
    Period,
    Pricing,
    SkillEvent,
    SuspensionEvent,
    TenantFacts,
    compute_invoices,
)

UTC = timezone.utc
PERIOD = Period(2026, 10)  # has the 25-hour day
SKILLS = [
    "searxng-local-search",
    "calendar-sync",
    "mail-digest",
    "doc-reader",
    "voice-notes",
    "crm-bridge",
    "code-runner",
    "image-gen",
]
PRICING = Pricing(
    tenant_monthly_fee_chf=Decimal("49.00"),
    tenant_setup_fee_chf=Decimal("99.00"),
    threema_message_chf=Decimal("0.005"),
    llm_usd_to_chf=Decimal("0.9"),
    llm_markup_pct=Decimal("20"),
    vat_rate_chli=Decimal("8.10"),
)
SKILL_PRICES = {skill: Decimal(n * 5 + 5) / 100 for n, skill in enumerate(SKILLS) if skill != "code-runner"}


def random_tenant(rnd: random.Random, name: str) -> TenantFacts:
    """A tenant created within the last two years, with skills, some suspensions and usage."""
    month_start = datetime(2026, 9, 30, 22, tzinfo=UTC)
    month_end = datetime(2026, 10, 31, 23, tzinfo=UTC)

    def instant(lo: datetime, hi: datetime) -> datetime:
        return lo + timedelta(seconds=rnd.randrange(int((hi - lo).total_seconds())))

    created = instant(month_start - timedelta(days=720), month_end) if rnd.random() < 0.9 else instant(month_start, month_end)
    deleted = instant(max(created, month_start), month_end + timedelta(days=10)) if rnd.random() < 0.05 else None

    skill_events = []
    event_id = 0
    for skill in rnd.sample(SKILLS, rnd.randint(2, 6)):
        event_id += 1
        skill_events.append(SkillEvent(skill, "enabled", created, event_id))
        for _ in range(rnd.choice([0, 0, 0, 1, 2, 4])):
            event_id += 1
            kind = rnd.choice(["enabled", "disabled"])
            skill_events.append(SkillEvent(skill, kind, instant(created, month_end), event_id))

    suspension_events = []
    if rnd.random() < 0.3:
        for n in range(rnd.randint(1, 4)):
            event_id += 1
            kind = "suspended" if n % 2 == 0 else "resumed"
            suspension_events.append(SuspensionEvent(kind, instant(created, month_end), event_id))
        suspension_events.sort(key=lambda e: e.occurred_at)

    return TenantFacts(
        name=name,
        created_at=created,
        deleted_at=deleted,
        billing_entity_id=2 if rnd.random() < 0.05 else None,
        skill_events=tuple(skill_events),
        suspension_events=tuple(suspension_events),
        threema_messages=rnd.choice([0, rnd.randint(1, 5000)]),
        llm_spend_usd=Decimal(rnd.randint(0, 500_000)) / 10_000,
    )


def build(tenant_months: int, seed: int) -> list[BillingFacts]:
    """Orgs of 1 to 9 tenants, up to the requested number of tenant-months."""
    rnd = random.Random(seed)
    all_facts = []
    made = 0
    org = 0
    while made < tenant_months:
        org += 1
        size = min(rnd.randint(1, 9), tenant_months - made)
        tenants = tuple(random_tenant(rnd, f"org{org}-t{n}") for n in range(size))
        made += size
        all_facts.append(
            BillingFacts(
                org=OrgFacts(
                    org_id=f"org-{org}",
                    country=rnd.choice(["CH"] * 8 + ["LI", "DE"]),
                    billing_entity_id=None,
                    language=rnd.choice(["en", "de"]),
                ),
                period=PERIOD,
                timezone="Europe/Zurich",
                pricing=PRICING,
                skill_prices=SKILL_PRICES,
                tenants=tenants,
                default_entity_id=1,
            )
        )
    return all_facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant-months", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261031)
    args = parser.parse_args()

    all_facts = build(args.tenant_months, args.seed)
    n_tenants = sum(len(f.tenants) for f in all_facts)
    n_events = sum(len(t.skill_events) + len(t.suspension_events) for f in all_facts for t in f.tenants)

    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        drafts = [d for f in all_facts for d in compute_invoices(f)]
        timings.append(time.perf_counter() - start)

    best = min(timings)
    n_lines = sum(len(d.lines) for d in drafts)
    total = sum(d.total_chf for d in drafts)
    print(f"facts:  {len(all_facts)} orgs, {n_tenants} tenant-months, {n_events} events ({PERIOD.key})")
    print(f"output: {len(drafts)} drafts, {n_lines} lines, total CHF {total}")
    print(f"time:   best of {args.runs}: {best:.3f} s ({best / n_tenants * 1e6:.1f} µs per tenant-month)")
    print(f"        all runs: {', '.join(f'{t:.3f}' for t in timings)} s")


if __name__ == "__main__":
    main()
