"""Platform pricing (one row) and per-skill daily prices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Money, Percent, UTCDateTime, UnitPrice


class PlatformPricing(db.Model):
    __tablename__ = "platform_pricing"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant_monthly_fee_chf: Mapped[Decimal] = mapped_column(Money(), server_default=sa.text("0"))
    tenant_setup_fee_chf: Mapped[Decimal] = mapped_column(Money(), server_default=sa.text("0"))
    threema_message_chf: Mapped[Decimal] = mapped_column(UnitPrice(), server_default=sa.text("0"))
    llm_usd_to_chf: Mapped[Decimal] = mapped_column(UnitPrice(), server_default=sa.text("1"))
    llm_markup_pct: Mapped[Decimal] = mapped_column(Percent(), server_default=sa.text("0"))
    vat_rate_chli: Mapped[Decimal] = mapped_column(Percent(), server_default=sa.text("8.10"))
    payment_terms_days: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("30"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class SkillPricing(db.Model):
    __tablename__ = "skill_pricing"

    skill_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    daily_price_chf: Mapped[Decimal] = mapped_column(UnitPrice(), server_default=sa.text("0"))
    display_name: Mapped[str | None] = mapped_column(sa.String(120))  # on invoices; None: the skill id
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
