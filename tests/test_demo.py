"""`pieced-admin demo` loads believable data once."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from pieced_admin.models import (
    BillingEntity,
    OrgBillingConfig,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
    TenantUsage,
)


def _count(session, model, *where):
    return session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def test_demo_loads_what_every_page_needs(runner, session):
    result = runner.invoke(args=["demo", "--today", "2026-11-21"])
    assert result.exit_code == 0, result.output
    assert "Loaded demo data" in result.output
    assert _count(session, BillingEntity) == 2
    assert _count(session, OrgBillingConfig) == 6
    assert _count(session, OrgBillingConfig, OrgBillingConfig.country.notin_(["CH", "LI"])) == 1
    assert _count(session, TenantLifecycle) == 15
    assert _count(session, SkillPricing, SkillPricing.daily_price_chf > 0) == 5
    assert _count(session, TenantSkillEvent, TenantSkillEvent.event_kind == "disabled") > 0
    assert _count(session, TenantSuspensionEvent) > 0
    assert _count(session, TenantUsage) > 100
    # history covers the last three months
    oldest = session.execute(sa.select(sa.func.min(TenantLifecycle.created_at))).scalar_one()
    assert oldest.date() < date(2026, 8, 21)
    # a tenant billed by an entity other than its org's
    assert _count(session, TenantLifecycle, TenantLifecycle.billing_entity_id.isnot(None)) >= 1


def test_demo_twice_changes_nothing(runner, session):
    runner.invoke(args=["demo", "--today", "2026-11-21"])
    before = _count(session, TenantSkillEvent)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert _count(session, TenantSkillEvent) == before


def test_demo_rejects_a_bad_date(runner):
    result = runner.invoke(args=["demo", "--today", "21.11.2026"])
    assert result.exit_code == 2
    assert "--today must be a date" in result.output
