"""The payments ledger: every franc that arrives or leaves, one append-only row each (SPEC §6)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Money, UTCDateTime

LEDGER_METHODS = ("bank_transfer", "card", "credit", "other")
LEDGER_SOURCES = ("bank_file", "stripe", "manual", "credit_note")
# What a row is: money in, money out again, a bank's return of it, or a move of money already received
# (an unmatched payment assigned, a credit balance applied to a later invoice, money marked not ours).
LEDGER_KINDS = ("payment", "refund", "reversal", "assignment", "credit_applied", "not_ours")


class Payment(db.Model):
    """One movement of money. Never changed or deleted: a correction is a new row."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id"),
        sa.Index("ix_payments_invoice", "invoice_id"),
        sa.Index("ix_payments_org", "zitadel_org_id"),
        sa.Index("ix_payments_settles", "settles_payment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"))
    zitadel_org_id: Mapped[str | None] = mapped_column(sa.String(100))
    amount_chf: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="CHF")
    booked_on: Mapped[date] = mapped_column(sa.Date)
    method: Mapped[str] = mapped_column(sa.String(20), server_default="other")
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20), server_default="manual")
    source_id: Mapped[str] = mapped_column(sa.String(300))
    created_by: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    # Extra, nullable or defaulted:
    kind: Mapped[str] = mapped_column(sa.String(20), server_default="payment")
    debtor_name: Mapped[str | None] = mapped_column(sa.String(200))
    note: Mapped[str | None] = mapped_column(sa.Text)
    file_name: Mapped[str | None] = mapped_column(sa.String(300))
    # An assignment, "not ours" or reversal row points at the row it settles or reverses.
    settles_payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.kind} {self.amount_chf} {self.source}:{self.source_id}>"
