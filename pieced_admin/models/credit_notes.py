"""Price versions (prices with an effective month) and credit notes (corrections of issued invoices)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Money, Percent, UTCDateTime, UnitPrice

# The platform prices a version may set (payment terms are no price: they are read at issue).
VERSIONED_PLATFORM_FIELDS = (
    "tenant_monthly_fee_chf", "tenant_setup_fee_chf", "threema_message_chf",
    "llm_usd_to_chf", "llm_markup_pct", "vat_rate_chli",
)


class PriceVersion(db.Model):
    """Prices set from `effective_month` on: each platform column left null, and each skill absent, keeps its value."""

    __tablename__ = "price_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    effective_month: Mapped[date] = mapped_column(sa.Date, unique=True)  # first day of a month
    tenant_monthly_fee_chf: Mapped[Decimal | None] = mapped_column(Money())
    tenant_setup_fee_chf: Mapped[Decimal | None] = mapped_column(Money())
    threema_message_chf: Mapped[Decimal | None] = mapped_column(UnitPrice())
    llm_usd_to_chf: Mapped[Decimal | None] = mapped_column(UnitPrice())
    llm_markup_pct: Mapped[Decimal | None] = mapped_column(Percent())
    vat_rate_chli: Mapped[Decimal | None] = mapped_column(Percent())
    # skill id -> daily price as an exact decimal string ("0" removes the skill's line).
    skill_prices: Mapped[dict] = mapped_column(sa.JSON, server_default=sa.text("'{}'"))
    note: Mapped[str | None] = mapped_column(sa.String(300))
    created_by: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    updated_by: Mapped[str | None] = mapped_column(sa.String(254))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def month_key(self) -> str:
        return f"{self.effective_month.year:04d}-{self.effective_month.month:02d}"


class CreditNoteNumberCounter(db.Model):
    __tablename__ = "credit_note_number_counters"
    __table_args__ = (sa.UniqueConstraint("billing_entity_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    billing_entity_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_entities.id"))
    year: Mapped[int] = mapped_column(sa.Integer)
    last_number: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))


class CreditNote(db.Model):
    """A correction the customer receives (MWSTG Art. 27): immutable once issued."""

    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    billing_entity_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_entities.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="CHF")
    net_chf: Mapped[Decimal] = mapped_column(Money())
    vat_rate: Mapped[Decimal] = mapped_column(Percent(), server_default=sa.text("0"))
    vat_chf: Mapped[Decimal] = mapped_column(Money(), server_default=sa.text("0"))
    total_chf: Mapped[Decimal] = mapped_column(Money())
    pdf_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # Extra, nullable or defaulted:
    kind: Mapped[str] = mapped_column(sa.String(16), server_default="partial")  # full | partial | void
    issued_by: Mapped[str | None] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(2), server_default="en")
    customer_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    entity_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)

    invoice = relationship("Invoice", lazy="joined")
    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note", order_by="CreditNoteLine.id", lazy="selectin"
    )

    def __repr__(self) -> str:
        return f"<CreditNote {self.number}>"


class CreditNoteLine(db.Model):
    __tablename__ = "credit_note_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_notes.id"), index=True)
    invoice_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoice_lines.id"))
    description: Mapped[str] = mapped_column(sa.String(500))
    amount_chf: Mapped[Decimal] = mapped_column(Money())

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")


class CreditNoteDocument(db.Model):
    """The credit note's PDF as issued: rendered once, stored, never changed."""

    __tablename__ = "credit_note_documents"

    credit_note_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_notes.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class CreditNoteEmail(db.Model):
    """A credit note sent to the org's billing address (one row per credit note)."""

    __tablename__ = "credit_note_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_notes.id"), unique=True)
    sent_to: Mapped[str | None] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
