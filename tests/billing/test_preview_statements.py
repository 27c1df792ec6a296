"""A preview costs a fixed number of SQL statements, however many tenants and events an org has."""

from __future__ import annotations

from datetime import timedelta

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import preview_invoices

from ..factories import make_org, make_tenant, skill_event, spec_pricing, suspension_event, threema_messages, zurich
from ..sqlcount import count_statements


def _org(org_id: str, tenants: int, events_per_tenant: int) -> None:
    make_org(org_id)
    for t in range(tenants):
        name = f"{org_id}-t{t}"
        make_tenant(name, org_id, zurich(2025, 11, 1), skills=("searxng-local-search",))
        start = zurich(2025, 11, 2)
        for e in range(events_per_tenant):
            at = start + timedelta(days=e * 3)
            skill_event(name, "web-browser", "enabled" if e % 2 == 0 else "disabled", at)
            if e % 5 == 0:
                suspension_event(name, "suspended" if e % 10 == 0 else "resumed", at + timedelta(hours=5))
        threema_messages(name, 3, zurich(2026, 10, 2, 12))


def _statements(org_id: str) -> int:
    preview_invoices(org_id, Period(2026, 10))  # warm caches (first-read config etc.)
    with count_statements() as counter:
        preview_invoices(org_id, Period(2026, 10))
    return counter.count


def test_preview_statements_do_not_grow_with_tenants_or_events(session):
    spec_pricing()
    _org("org-small", tenants=2, events_per_tenant=3)
    _org("org-big", tenants=20, events_per_tenant=30)
    small, big = _statements("org-small"), _statements("org-big")
    assert small == big
    assert big <= 14  # + the price versions of the month, + the tenants already billed in it
