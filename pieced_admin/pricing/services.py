"""Reading prices (the editor's writes live next to its forms)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from ..extensions import db
from ..models import PlatformPricing, SkillPricing


def get_pricing() -> PlatformPricing:
    """The platform pricing row (id 1), seeded by the first migration; recreated with defaults if missing."""
    pricing = db.session.get(PlatformPricing, 1)
    if pricing is None:
        db.session.add(PlatformPricing(id=1))
        db.session.flush()
        pricing = db.session.get(PlatformPricing, 1)
        db.session.refresh(pricing)
    return pricing


def skill_prices() -> dict[str, Decimal]:
    """skill id -> daily price CHF."""
    rows = db.session.execute(sa.select(SkillPricing.skill_id, SkillPricing.daily_price_chf)).all()
    return {skill: price for skill, price in rows}


# --------------------------------------------------------------------------- the editor's writes

# How each platform price is written in the audit log and shown: amounts and
# percentages with two decimals, per-unit prices with what is significant.
_PRICING_FORMATS = {
    "tenant_monthly_fee_chf": "amount",
    "tenant_setup_fee_chf": "amount",
    "threema_message_chf": "price",
    "llm_usd_to_chf": "price",
    "llm_markup_pct": "amount",
    "vat_rate_chli": "amount",
    "payment_terms_days": "int",
}
PRICING_FIELDS = tuple(_PRICING_FORMATS)

PRICING_LABELS = {
    "tenant_monthly_fee_chf": "Monthly fee",
    "tenant_setup_fee_chf": "Setup fee",
    "threema_message_chf": "Threema message",
    "llm_usd_to_chf": "LLM CHF per USD",
    "llm_markup_pct": "LLM markup %",
    "vat_rate_chli": "VAT % (CH/LI)",
    "payment_terms_days": "Payment terms (days)",
}

AUDIT_PRICING = "platform_pricing"
AUDIT_SKILL = "skill_pricing"


class PricingError(ValueError):
    """A pricing change that cannot be made as asked (the message says why)."""


def _canonical(field: str, value) -> str | int | None:
    from ..billing.money import fmt_amount, fmt_price

    if value is None:
        return None
    kind = _PRICING_FORMATS.get(field, "price")
    if kind == "int":
        return int(value)
    return fmt_amount(value) if kind == "amount" else fmt_price(value)


def pricing_snapshot(pricing: PlatformPricing) -> dict:
    """The platform prices as the audit log keeps them (decimals as exact strings)."""
    return {f: _canonical(f, getattr(pricing, f)) for f in PRICING_FIELDS}


def _protect_billed_months(platform_before, platform_after, skills_before, skills_after) -> None:
    """Billed months keep their prices: the change is pinned as versions (billing/prices.py); refusals say why."""
    from .. import clock
    from ..billing.days import Period
    from ..billing.prices import PriceVersionError, protect_billed_months

    try:
        protect_billed_months(platform_before, platform_after, skills_before, skills_after,
                              Period.of(clock.today()))
    except PriceVersionError as exc:
        raise PricingError(str(exc)) from None


def update_pricing(values: dict) -> list[str]:
    """Apply new platform prices (only the fields given) and audit the change; returns the changed fields."""
    from ..audit import record_audit
    from ..models.types import utcnow

    pricing = get_pricing()
    before = pricing_snapshot(pricing)
    old_values = {f: getattr(pricing, f) for f in PRICING_FIELDS}
    for field in PRICING_FIELDS:
        if field in values and values[field] is not None:
            setattr(pricing, field, values[field])
    after = pricing_snapshot(pricing)
    changed = [f for f in PRICING_FIELDS if before[f] != after[f]]
    if not changed:
        return []
    _protect_billed_months(old_values, {f: getattr(pricing, f) for f in PRICING_FIELDS}, {}, {})
    pricing.updated_at = utcnow()
    record_audit("pricing.update", AUDIT_PRICING, 1, before=before, after=after,
                 note="applies to invoices issued from now on")
    db.session.flush()
    return changed


def set_skill_price(skill_id: str, price: Decimal, *, create: bool, display_name: str | None = ...) -> SkillPricing:
    """Add a skill's daily price (`create`) or change it; audited. Adding an existing skill is refused."""
    from ..audit import record_audit
    from ..billing.money import fmt_price
    from ..models.types import utcnow

    row = db.session.get(SkillPricing, skill_id)
    if create and row is not None:
        raise PricingError(f"{skill_id} has a price already: edit it in the table.")
    if not create and row is None:
        raise PricingError(f"{skill_id} has no price (it may have been removed meanwhile).")
    before = {"daily_price_chf": fmt_price(row.daily_price_chf) if row is not None else None}
    _protect_billed_months({}, {}, {skill_id: row.daily_price_chf if row is not None else None}, {skill_id: price})
    if display_name is not ...:  # only when the caller says which name (... leaves it as it is)
        before["display_name"] = row.display_name if row is not None else None
    if row is None:
        row = SkillPricing(skill_id=skill_id, daily_price_chf=price)
        db.session.add(row)
    else:
        row.daily_price_chf = price
        row.updated_at = utcnow()
    after = {"daily_price_chf": fmt_price(price)}
    if display_name is not ...:
        row.display_name = display_name or None
        after["display_name"] = row.display_name
    if before != after:
        record_audit("skill_price.create" if create else "skill_price.update", AUDIT_SKILL, skill_id,
                     before=before, after=after)
    db.session.flush()
    return row


def remove_skill_price(skill_id: str) -> None:
    """Remove a skill's price (the skill is then not billed on invoices issued from now on); audited."""
    from ..audit import record_audit
    from ..billing.money import fmt_price

    row = db.session.get(SkillPricing, skill_id)
    if row is None:
        raise PricingError(f"{skill_id} has no price (it may have been removed meanwhile).")
    _protect_billed_months({}, {}, {skill_id: row.daily_price_chf}, {skill_id: None})
    record_audit("skill_price.delete", AUDIT_SKILL, skill_id,
                 before={"daily_price_chf": fmt_price(row.daily_price_chf)}, after={"daily_price_chf": None})
    db.session.delete(row)
    db.session.flush()


def skill_price_rows() -> list[SkillPricing]:
    """Every skill price, by skill id."""
    return list(db.session.execute(sa.select(SkillPricing).order_by(SkillPricing.skill_id)).scalars())


def known_skill_ids() -> list[str]:
    """Skill ids seen in the event log (offered when adding a price), sorted."""
    from ..models import TenantSkillEvent

    return list(db.session.execute(
        sa.select(TenantSkillEvent.skill_id).distinct().order_by(TenantSkillEvent.skill_id)
    ).scalars())


def recent_pricing_changes(limit: int = 25) -> list[dict]:
    """Who changed which price when, newest first: one row per field (when, who, field, old, new)."""
    from ..models import AuditLog

    entries = db.session.execute(
        sa.select(AuditLog)
        .where(AuditLog.object_type.in_((AUDIT_PRICING, AUDIT_SKILL)))
        .order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc())
        .limit(limit)
    ).scalars()
    rows: list[dict] = []
    for entry in entries:
        before, after = entry.before or {}, entry.after or {}
        for key in list(dict.fromkeys([*after, *before])):
            if entry.object_type == AUDIT_SKILL:
                label = f"Skill {entry.object_id} daily price"
            else:
                label = PRICING_LABELS.get(key, key)
            rows.append({"at": entry.occurred_at, "actor": entry.actor, "action": entry.action,
                         "field": label, "old": before.get(key), "new": after.get(key)})
    return rows
