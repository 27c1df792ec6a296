"""Billing entities: the legal sellers that issue invoices under their own prefix."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class BillingEntity(db.Model):
    __tablename__ = "billing_entities"
    __table_args__ = (
        # At most one default entity.
        sa.Index(
            "uq_billing_entities_one_default", "is_default", unique=True,
            postgresql_where=sa.text("is_default"), sqlite_where=sa.text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    invoice_prefix: Mapped[str] = mapped_column(sa.String(20), unique=True)
    country: Mapped[str] = mapped_column(sa.String(2), server_default="CH")
    vat_number: Mapped[str | None] = mapped_column(sa.String(40))
    iban: Mapped[str | None] = mapped_column(sa.String(34))
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="CHF")
    is_default: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    street: Mapped[str | None] = mapped_column(sa.String(70))
    building_number: Mapped[str | None] = mapped_column(sa.String(16))
    postal_code: Mapped[str | None] = mapped_column(sa.String(16))
    city: Mapped[str | None] = mapped_column(sa.String(35))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    # Accounts of the accounting journal (Swiss SME chart of accounts by default).
    account_debtors: Mapped[str] = mapped_column(sa.String(10), server_default="1100")
    account_bank: Mapped[str] = mapped_column(sa.String(10), server_default="1020")
    account_vat_payable: Mapped[str] = mapped_column(sa.String(10), server_default="2200")
    account_revenue: Mapped[str] = mapped_column(sa.String(10), server_default="3400")
    website: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())

    def __repr__(self) -> str:
        return f"<BillingEntity {self.code}>"
