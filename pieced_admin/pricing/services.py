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
