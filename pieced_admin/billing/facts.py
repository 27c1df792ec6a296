"""Gather the engine's facts from the database and the usage sources.

A fixed, small number of queries loads any number of orgs for one month
(configs, pricing, skill prices, entities, tenants, skill events, suspension
events, Threema counts): never a query per tenant or per event. LLM spend comes
from LiteLLM over HTTP, one call per tenant team.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timezone

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..integrations.litellm import LiteLLMClient, LiteLLMError
from ..models import (
    BillingEntity,
    Invoice,
    InvoiceLine,
    OrgBillingConfig,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
    TenantUsage,
)
from .days import Period, month_bounds
from .engine import BillingFacts, OrgFacts, SkillEvent, SuspensionEvent, TenantFacts
from .prices import prices_for_month

log = logging.getLogger(__name__)

# Large IN lists are sent in chunks, so a monthly run over thousands of orgs
# stays within every database's parameter limit (a constant per chunk).
CHUNK = 500


class UnknownOrgError(LookupError):
    """No org with this id has a billing config or a tenant."""


@dataclass(frozen=True)
class OrgContext:
    """What the loader read about an org besides the engine's facts (for issuing and display)."""

    config: OrgBillingConfig
    tenants: tuple[TenantLifecycle, ...]


def litellm_client() -> LiteLLMClient | None:
    """A LiteLLM client from the settings, or None when LiteLLM is not configured."""
    cfg = current_app.config
    if not cfg.get("LITELLM_URL"):
        return None
    return LiteLLMClient(cfg["LITELLM_URL"], cfg.get("LITELLM_API_KEY", ""), timeout=cfg.get("LITELLM_TIMEOUT", 10))


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def known_org_ids(org_ids: Iterable[str]) -> set[str]:
    """Which of these ids name an org (a billing config or at least one tenant)."""
    ids = list(dict.fromkeys(org_ids))
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(db.session.execute(
            sa.select(OrgBillingConfig.zitadel_org_id).where(OrgBillingConfig.zitadel_org_id.in_(chunk))
        ).scalars())
        found.update(db.session.execute(
            sa.select(TenantLifecycle.zitadel_org_id).where(TenantLifecycle.zitadel_org_id.in_(chunk)).distinct()
        ).scalars())
    return found


def _ensure_configs(org_ids: Sequence[str]) -> dict[str, OrgBillingConfig]:
    """Billing configs of these orgs, creating the missing ones with the database defaults."""
    configs: dict[str, OrgBillingConfig] = {}
    for chunk in _chunks(org_ids):
        for config in db.session.execute(
            sa.select(OrgBillingConfig).where(OrgBillingConfig.zitadel_org_id.in_(chunk))
        ).scalars():
            configs[config.zitadel_org_id] = config
    missing = [o for o in org_ids if o not in configs]
    if missing:
        from ..orgs.services import get_org_config

        for org_id in missing:
            configs[org_id] = get_org_config(org_id)
    return configs


def already_billed(org_ids: Sequence[str], period: Period) -> dict[str, dict[str, tuple[str, int]]]:
    """Per org, the tenants a non-void invoice of the month already bills: tenant -> (number, entity id)."""
    found: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
    for chunk in _chunks(list(org_ids)):
        for org_id, tenant, number, entity_id in db.session.execute(
            sa.select(Invoice.zitadel_org_id, InvoiceLine.tenant_name, Invoice.number, Invoice.billing_entity_id)
            .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
            .where(Invoice.zitadel_org_id.in_(chunk), Invoice.period_start == period.first_day,
                   Invoice.status != "void")
            .distinct()
            .order_by(Invoice.number)
        ):
            found[org_id].setdefault(tenant, (number, entity_id))
    return found


def usage_window(period: Period, tz: str) -> tuple[datetime, datetime]:
    """The instants whose usage month `period` bills: its local days and LiteLLM's UTC days of the same dates."""
    start, end = month_bounds(period, tz)
    utc_start = datetime.combine(period.first_day, time(0), tzinfo=timezone.utc)
    utc_end = datetime.combine(period.next().first_day, time(0), tzinfo=timezone.utc)
    return min(start, utc_start), max(end, utc_end)


def load_facts_for_orgs(
    org_ids: Sequence[str],
    period: Period,
    *,
    litellm: LiteLLMClient | None | bool = True,
    on_usage_error: str = "raise",
) -> dict[str, tuple[BillingFacts, OrgContext]]:
    """Facts for several orgs and one month, in a constant number of queries.

    `litellm=True` uses the configured client (None when not configured);
    `on_usage_error="raise"` lets a LiteLLM failure propagate (issuing must never
    silently miss usage), `"warn"` records it as a warning (previews).
    """
    tz = current_app.config["BILLING_TIMEZONE"]
    start, end = month_bounds(period, tz)
    org_ids = list(dict.fromkeys(org_ids))
    configs = _ensure_configs(org_ids)
    prices = prices_for_month(period)  # the month's prices: base rows overlaid with its versions
    pricing, skill_prices = prices.pricing, dict(prices.skill_prices)
    billed = already_billed(org_ids, period)
    # Usage is billed in the month it falls in, whether or not the tenant existed then (SPEC §3):
    # ask for every tenant alive during the month's local or UTC days, or with Threema messages in it.
    usage_start, usage_end = usage_window(period, tz)
    with_messages = (
        sa.select(TenantUsage.tenant_name)
        .where(TenantUsage.metric == "threema_messages", TenantUsage.occurred_at >= start,
               TenantUsage.occurred_at < end)
        .distinct()
    )
    skill_names = dict(prices.skill_names)
    entities = db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.id)).scalars().all()
    if not entities:
        raise LookupError("no billing entity exists; create one on the Entities page")
    default_entity = next((e for e in entities if e.is_default), entities[0])
    entity_currency = {e.id: e.currency for e in entities}

    tenants_by_org: dict[str, list[TenantLifecycle]] = defaultdict(list)
    for chunk in _chunks(org_ids):
        rows = db.session.execute(
            sa.select(TenantLifecycle)
            .where(TenantLifecycle.zitadel_org_id.in_(chunk))
            .where(sa.or_(
                sa.and_(TenantLifecycle.created_at < usage_end,
                        sa.or_(TenantLifecycle.deleted_at.is_(None), TenantLifecycle.deleted_at >= usage_start)),
                TenantLifecycle.tenant_name.in_(with_messages),
            ))
            .order_by(TenantLifecycle.tenant_name)
        ).scalars()
        for t in rows:
            tenants_by_org[t.zitadel_org_id].append(t)
    names = [t.tenant_name for ts in tenants_by_org.values() for t in ts]

    skill_events: dict[str, list[SkillEvent]] = defaultdict(list)
    suspension_events: dict[str, list[SuspensionEvent]] = defaultdict(list)
    messages: dict[str, int] = {}
    for chunk in _chunks(names):
        for tenant, skill, kind, at, eid in db.session.execute(
            sa.select(TenantSkillEvent.tenant_name, TenantSkillEvent.skill_id, TenantSkillEvent.event_kind,
                      TenantSkillEvent.occurred_at, TenantSkillEvent.id)
            .where(TenantSkillEvent.tenant_name.in_(chunk), TenantSkillEvent.occurred_at < end)
        ):
            skill_events[tenant].append(SkillEvent(skill_id=skill, kind=kind, occurred_at=at, id=eid))
        for tenant, kind, at, eid in db.session.execute(
            sa.select(TenantSuspensionEvent.tenant_name, TenantSuspensionEvent.event_kind,
                      TenantSuspensionEvent.occurred_at, TenantSuspensionEvent.id)
            .where(TenantSuspensionEvent.tenant_name.in_(chunk), TenantSuspensionEvent.occurred_at < end)
        ):
            suspension_events[tenant].append(SuspensionEvent(kind=kind, occurred_at=at, id=eid))
        for tenant, total in db.session.execute(
            sa.select(TenantUsage.tenant_name, sa.func.sum(TenantUsage.quantity))
            .where(TenantUsage.tenant_name.in_(chunk), TenantUsage.metric == "threema_messages",
                   TenantUsage.occurred_at >= start, TenantUsage.occurred_at < end)
            .group_by(TenantUsage.tenant_name)
        ):
            messages[tenant] = int(total or 0)

    client = litellm_client() if litellm is True else (litellm or None)
    spend: dict[str, object] = {}
    usage_warnings: dict[str, list[str]] = defaultdict(list)
    if client is not None:
        for org_id in org_ids:
            for t in tenants_by_org.get(org_id, ()):
                team = t.litellm_team_id or t.tenant_name
                try:
                    spend[t.tenant_name] = client.team_spend(team, period.first_day, period.last_day)
                except LiteLLMError as exc:
                    if on_usage_error == "raise":
                        raise LiteLLMError(f"{exc} (org {org_id}, tenant {t.tenant_name})") from exc
                    usage_warnings[org_id].append(f"{exc}: LLM usage of {t.tenant_name} is not shown.")
                    spend[t.tenant_name] = None

    result: dict[str, tuple[BillingFacts, OrgContext]] = {}
    for org_id in org_ids:
        config = configs[org_id]
        org_tenants = tuple(tenants_by_org.get(org_id, ()))
        tenant_facts = tuple(
            TenantFacts(
                name=t.tenant_name,
                created_at=t.created_at,
                deleted_at=t.deleted_at,
                billing_entity_id=t.billing_entity_id,
                skill_events=tuple(skill_events.get(t.tenant_name, ())),
                suspension_events=tuple(suspension_events.get(t.tenant_name, ())),
                threema_messages=messages.get(t.tenant_name, 0),
                llm_spend_usd=spend.get(t.tenant_name) if client is not None else None,
            )
            for t in org_tenants
        )
        facts = BillingFacts(
            org=OrgFacts(org_id=org_id, country=config.country, billing_entity_id=config.billing_entity_id,
                         language=config.language),
            period=period,
            timezone=tz,
            pricing=pricing,
            skill_prices=skill_prices,
            tenants=tenant_facts,
            default_entity_id=default_entity.id,
            entity_currency=entity_currency,
            llm_configured=client is not None,
            warnings=tuple(usage_warnings.get(org_id, ())),
            already_billed=dict(billed.get(org_id, {})),
            skill_names=skill_names,
        )
        result[org_id] = (facts, OrgContext(config=config, tenants=org_tenants))
    return result


def load_facts(org_id: str, period: Period, **kwargs) -> tuple[BillingFacts, OrgContext]:
    """Facts of one org and month (see `load_facts_for_orgs`); unknown orgs raise UnknownOrgError."""
    if org_id not in known_org_ids([org_id]):
        raise UnknownOrgError(f"unknown org {org_id!r}: no billing config and no tenant has this id")
    return load_facts_for_orgs([org_id], period, **kwargs)[org_id]


@dataclass(frozen=True)
class MoveEffect:
    """From which month a change of a tenant's billing entity takes effect (its billed months keep theirs)."""

    first_month: Period
    last_billed: Period | None
    last_number: str | None

    def sentence(self) -> str:
        """What a person is told, e.g. "It takes effect from December 2026 (November 2026 is billed on PC-2026-0003)."."""
        text = f"It takes effect from {self.first_month.first_day:%B %Y}"
        if self.last_billed is not None:
            text += f" ({self.last_billed.first_day:%B %Y} is billed on {self.last_number} and stays there)"
        return text + "."


def move_effect(tenant: TenantLifecycle) -> MoveEffect:
    """The first month after the last one a non-void invoice bills the tenant in (else its first month)."""
    row = db.session.execute(
        sa.select(Invoice.period_start, Invoice.number)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(InvoiceLine.tenant_name == tenant.tenant_name, Invoice.status != "void")
        .order_by(Invoice.period_start.desc(), Invoice.number.desc())
        .limit(1)
    ).first()
    tz = current_app.config["BILLING_TIMEZONE"]
    if row is None:
        from zoneinfo import ZoneInfo

        created = Period.of(tenant.created_at.astimezone(ZoneInfo(tz)).date())
        return MoveEffect(first_month=created, last_billed=None, last_number=None)
    billed = Period.of(row[0])
    return MoveEffect(first_month=billed.next(), last_billed=billed, last_number=row[1])
