"""Issued invoices, their lines, PDFs, numbering counters, reminders, charges and deliveries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Money, Percent, Quantity, UTCDateTime, UnitPrice

INVOICE_STATUSES = ("issued", "paid", "void")
LINE_KINDS = ("setup_fee", "monthly_fee", "skill", "llm", "threema")
PAYMENT_METHODS = ("bank_transfer", "card", "other")


class InvoiceNumberCounter(db.Model):
    __tablename__ = "invoice_number_counters"
    __table_args__ = (sa.UniqueConstraint("billing_entity_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    billing_entity_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_entities.id"))
    year: Mapped[int] = mapped_column(sa.Integer)
    last_number: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        sa.CheckConstraint("status IN ('issued', 'paid', 'void')", name="status"),
        # One live invoice per org, month and entity; a voided one frees the slot.
        sa.Index(
            "uq_invoices_org_entity_period_live", "zitadel_org_id", "billing_entity_id", "period_start",
            unique=True,
            postgresql_where=sa.text("status <> 'void'"), sqlite_where=sa.text("status <> 'void'"),
        ),
        sa.Index("ix_invoices_org_period", "zitadel_org_id", "period_start"),
        sa.Index("ix_invoices_status_due", "status", "due_date"),
        sa.Index("ix_invoices_entity_issued", "billing_entity_id", "issued_at"),
        sa.Index("ix_invoices_issued_at", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    zitadel_org_id: Mapped[str] = mapped_column(
        sa.String(100), sa.ForeignKey("org_billing_config.zitadel_org_id")
    )
    billing_entity_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_entities.id"))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), server_default="issued")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    due_date: Mapped[date] = mapped_column(sa.Date)
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="CHF")
    net_chf: Mapped[Decimal] = mapped_column(Money())
    vat_rate: Mapped[Decimal] = mapped_column(Percent(), server_default=sa.text("0"))
    vat_chf: Mapped[Decimal] = mapped_column(Money(), server_default=sa.text("0"))
    total_chf: Mapped[Decimal] = mapped_column(Money())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_reference: Mapped[str | None] = mapped_column(sa.String(200))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    pdf_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Extra, nullable or defaulted:
    payment_method: Mapped[str | None] = mapped_column(sa.String(20))
    paid_by: Mapped[str | None] = mapped_column(sa.String(254))
    voided_by: Mapped[str | None] = mapped_column(sa.String(254))
    issued_by: Mapped[str | None] = mapped_column(sa.String(254))
    vat_note: Mapped[str | None] = mapped_column(sa.String(200))
    payment_terms_days: Mapped[int | None] = mapped_column(sa.Integer)
    language: Mapped[str] = mapped_column(sa.String(2), server_default="en")
    # What the document said about the customer and the seller when it was issued.
    customer_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    entity_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    # Card collection: set when a charge is due, needs attention or failed.
    charge_status: Mapped[str | None] = mapped_column(sa.String(40))
    charge_message: Mapped[str | None] = mapped_column(sa.Text)
    # A re-issue after a void names the invoice it replaces (set at issue, never changed).
    replaces_invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"))
    # The org's credit balance used at issue (the PDF shows it and the amount due); fixed like the amounts.
    credit_applied_chf: Mapped[Decimal] = mapped_column(Money(), server_default=sa.text("0"))

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", lazy="selectin"
    )
    entity = relationship("BillingEntity", lazy="joined")

    # The number of the invoice this one replaces, as the PDF prints it (set when issuing; not a column).
    replaces_number = None

    @property
    def period_key(self) -> str:
        return f"{self.period_start.year:04d}-{self.period_start.month:02d}"

    def is_overdue(self, today: date) -> bool:
        """Issued and past its due date (derived, never stored)."""
        return self.status == "issued" and self.due_date < today

    def __repr__(self) -> str:
        return f"<Invoice {self.number} {self.status}>"


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "position"),
        sa.CheckConstraint(
            "kind IN ('setup_fee', 'monthly_fee', 'skill', 'llm', 'threema')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"))
    tenant_name: Mapped[str] = mapped_column(sa.String(253))
    kind: Mapped[str] = mapped_column(sa.String(20))
    skill_id: Mapped[str | None] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(500))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price_chf: Mapped[Decimal] = mapped_column(UnitPrice())
    amount_chf: Mapped[Decimal] = mapped_column(Money())
    position: Mapped[int] = mapped_column(sa.Integer)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoiceDocument(db.Model):
    """The PDF as issued: rendered once, stored, never changed."""

    __tablename__ = "invoice_documents"

    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class InvoiceReminder(db.Model):
    __tablename__ = "invoice_reminders"
    __table_args__ = (sa.UniqueConstraint("invoice_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"))
    level: Mapped[int] = mapped_column(sa.Integer)
    # Null until the e-mail was accepted by the mail server: a reminder is never recorded as sent before.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_to: Mapped[str | None] = mapped_column(sa.String(254))
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    created_by: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class InvoiceEmail(db.Model):
    """An invoice sent to the org's billing address (one row per invoice; retried until sent)."""

    __tablename__ = "invoice_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    sent_to: Mapped[str | None] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class ChargeAttempt(db.Model):
    """One PaymentIntent created for an invoice; a retry is a new attempt with a new idempotency key."""

    __tablename__ = "invoice_charge_attempts"
    __table_args__ = (sa.UniqueConstraint("invoice_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"))
    attempt: Mapped[int] = mapped_column(sa.Integer)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(100))
    amount_minor: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="CHF")
    status: Mapped[str] = mapped_column(sa.String(40), server_default="creating")
    error: Mapped[str | None] = mapped_column(sa.Text)
    requested_by: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    # When the bank wants the card holder to authenticate: the Stripe-hosted payment link e-mailed for it.
    checkout_session_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    payment_link_url: Mapped[str | None] = mapped_column(sa.Text)
