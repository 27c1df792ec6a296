"""Per-organisation billing configuration and mirrored Stripe payment methods."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

LANGUAGES = ("en", "de")


class OrgBillingConfig(db.Model):
    __tablename__ = "org_billing_config"
    __table_args__ = (sa.CheckConstraint("language IN ('en', 'de')", name="language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    zitadel_org_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    billing_email: Mapped[str | None] = mapped_column(sa.String(254))
    country: Mapped[str] = mapped_column(sa.String(2), server_default="CH")
    vat_number: Mapped[str | None] = mapped_column(sa.String(40))
    street: Mapped[str | None] = mapped_column(sa.String(70))
    building_number: Mapped[str | None] = mapped_column(sa.String(16))
    postal_code: Mapped[str | None] = mapped_column(sa.String(16))
    city: Mapped[str | None] = mapped_column(sa.String(35))
    pay_by_invoice: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    auto_invoice_enabled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    auto_reminders_enabled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    billing_entity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("billing_entities.id"))
    payment_terms_days: Mapped[int | None] = mapped_column(sa.Integer)
    language: Mapped[str] = mapped_column(sa.String(2), server_default="en")
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())

    @property
    def name(self) -> str:
        """What to call the org on screen: its display name, else its id."""
        return self.display_name or self.zitadel_org_id

    @property
    def has_address(self) -> bool:
        return bool(self.street and self.postal_code and self.city and self.country)


class OrgPaymentMethod(db.Model):
    __tablename__ = "org_payment_methods"
    __table_args__ = (sa.Index("ix_org_payment_methods_org", "zitadel_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    zitadel_org_id: Mapped[str] = mapped_column(
        sa.String(100), sa.ForeignKey("org_billing_config.zitadel_org_id")
    )
    stripe_payment_method_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    type: Mapped[str] = mapped_column(sa.String(40), server_default="card")
    brand: Mapped[str | None] = mapped_column(sa.String(40))
    last4: Mapped[str | None] = mapped_column(sa.String(4))
    exp_month: Mapped[int | None] = mapped_column(sa.Integer)
    exp_year: Mapped[int | None] = mapped_column(sa.Integer)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
