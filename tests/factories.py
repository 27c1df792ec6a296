"""Factories: build pricing, entities, orgs, tenants and their events in a few lines.

Times are given in local (Europe/Zurich) wall time with `zurich(...)`, the way
the billing rules speak of them.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import (
    BillingEntity,
    OrgBillingConfig,
    PlatformPricing,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
    TenantUsage,
)

ZURICH = ZoneInfo("Europe/Zurich")
_ids = itertools.count(1)


def zurich(year, month, day, hour=0, minute=0, second=0) -> datetime:
    """A local Europe/Zurich wall time, as an aware datetime in UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZURICH).astimezone(timezone.utc)


def set_pricing(**values) -> PlatformPricing:
    """Update platform pricing row 1 (Decimal-ify strings)."""
    pricing = db.session.get(PlatformPricing, 1)
    for key, value in values.items():
        setattr(pricing, key, Decimal(str(value)) if key != "payment_terms_days" else int(value))
    db.session.flush()
    return pricing


def complete_default_entity() -> BillingEntity:
    """Give the seeded default entity what a Swiss invoice needs: address, VAT number, a QR-IBAN."""
    entity = default_entity()
    if not entity.iban:
        entity.name, entity.street, entity.building_number = "PieCed AG", "Bahnhofstrasse", "10"
        entity.postal_code, entity.city, entity.country = "8001", "Zürich", "CH"
        entity.vat_number, entity.iban = "CHE-123.456.788 MWST", "CH4431999123000889012"
        db.session.flush()
    return entity


def spec_pricing() -> PlatformPricing:
    """The pricing of SPEC §3's worked example (and a default entity ready to issue)."""
    complete_default_entity()
    set_skill_price("searxng-local-search", "0.10")
    return set_pricing(tenant_monthly_fee_chf="49.00", tenant_setup_fee_chf="99.00", threema_message_chf="0.005",
                       llm_usd_to_chf="0.9", llm_markup_pct="20", vat_rate_chli="8.10")


def set_skill_price(skill_id: str, price) -> SkillPricing:
    row = db.session.get(SkillPricing, skill_id)
    if row is None:
        row = SkillPricing(skill_id=skill_id)
        db.session.add(row)
    row.daily_price_chf = Decimal(str(price))
    db.session.flush()
    return row


def default_entity() -> BillingEntity:
    return db.session.execute(sa.select(BillingEntity).filter_by(is_default=True)).scalar_one()


def make_entity(code: str | None = None, *, prefix: str | None = None, default: bool = False, **fields) -> BillingEntity:
    n = next(_ids)
    code = code or f"entity-{n}"
    if default:
        db.session.execute(sa.update(BillingEntity).values(is_default=False))
    entity = BillingEntity(
        code=code, name=fields.pop("name", f"Entity {code}"), invoice_prefix=prefix or f"E{n}",
        country=fields.pop("country", "CH"), currency="CHF", is_default=default,
        street=fields.pop("street", "Bahnhofstrasse"), building_number=fields.pop("building_number", "1"),
        postal_code=fields.pop("postal_code", "8001"), city=fields.pop("city", "Zürich"),
        iban=fields.pop("iban", "CH4431999123000889012"), vat_number=fields.pop("vat_number", "CHE-123.456.788 MWST"),
        **fields,
    )
    db.session.add(entity)
    db.session.flush()
    return entity


def make_org(org_id: str, *, country: str = "CH", entity: BillingEntity | None = None, **fields) -> OrgBillingConfig:
    org = OrgBillingConfig(
        zitadel_org_id=org_id, display_name=fields.pop("display_name", org_id.replace("org-", "").title() + " AG"),
        country=country, billing_entity_id=entity.id if entity else None,
        billing_email=fields.pop("billing_email", f"billing@{org_id}.example"),
        street=fields.pop("street", "Seestrasse"), building_number=fields.pop("building_number", "5"),
        postal_code=fields.pop("postal_code", "8002"), city=fields.pop("city", "Zürich"),
        **fields,
    )
    db.session.add(org)
    db.session.flush()
    return org


def make_tenant(name: str, org_id: str, created_at: datetime, *, deleted_at: datetime | None = None,
                entity: BillingEntity | None = None, skills: tuple[str, ...] = (), **fields) -> TenantLifecycle:
    tenant = TenantLifecycle(tenant_name=name, zitadel_org_id=org_id, created_at=created_at, deleted_at=deleted_at,
                             billing_entity_id=entity.id if entity else None, **fields)
    db.session.add(tenant)
    db.session.flush()
    for skill in skills:
        skill_event(name, skill, "enabled", created_at)
    return tenant


def skill_event(tenant: str, skill: str, kind: str, at: datetime, source: str = "test") -> TenantSkillEvent:
    event = TenantSkillEvent(tenant_name=tenant, skill_id=skill, event_kind=kind, occurred_at=at, source=source)
    db.session.add(event)
    db.session.flush()
    return event


def suspension_event(tenant: str, kind: str, at: datetime, source: str = "test") -> TenantSuspensionEvent:
    event = TenantSuspensionEvent(tenant_name=tenant, event_kind=kind, occurred_at=at, source=source)
    db.session.add(event)
    db.session.flush()
    return event


def threema_messages(tenant: str, count: int, at: datetime, *, prefix: str | None = None) -> None:
    """`count` reported messages at `at` (one ledger row each, as the bridges report them)."""
    prefix = prefix or f"{tenant}-{at.isoformat()}"
    db.session.execute(sa.insert(TenantUsage), [
        {"tenant_name": tenant, "metric": "threema_messages", "quantity": 1, "occurred_at": at,
         "external_id": f"{prefix}-{i}"} for i in range(count)
    ])
    db.session.flush()


def spec_example(org_id: str = "org-acme", tenant: str = "acme-main") -> OrgBillingConfig:
    """SPEC §3's worked example (October 2026), without the LLM spend (that comes from LiteLLM)."""
    spec_pricing()
    org = make_org(org_id, country="CH")
    make_tenant(tenant, org_id, zurich(2026, 10, 10, 9, 0), skills=("searxng-local-search",))
    suspension_event(tenant, "suspended", zurich(2026, 10, 20, 12, 0))
    suspension_event(tenant, "resumed", zurich(2026, 10, 25, 8, 0))
    threema_messages(tenant, 1234, zurich(2026, 10, 15, 10, 0))
    return org
