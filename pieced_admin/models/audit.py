"""Users who logged in, the audit log, Stripe events received, and billing runs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(sa.String(255), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    roles: Mapped[list | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def label(self) -> str:
        """How the user is named in the audit log and on screen."""
        return self.email or self.name or self.sub

    def has_role(self, role: str) -> bool:
        return role in (self.roles or [])


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_object", "object_type", "object_id", "occurred_at"),
        sa.Index("ix_audit_log_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(80))
    object_type: Mapped[str] = mapped_column(sa.String(60))
    object_id: Mapped[str | None] = mapped_column(sa.String(200))
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    note: Mapped[str | None] = mapped_column(sa.Text)


class StripeEvent(db.Model):
    """A verified Stripe webhook event, stored once by its id so a replay does nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict | None] = mapped_column(sa.JSON)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(sa.String(300))


class BillingRun(db.Model):
    """One monthly billing run (CLI or browser), with progress and a per-org summary."""

    __tablename__ = "billing_runs"
    __table_args__ = (sa.Index("ix_billing_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    shard: Mapped[str | None] = mapped_column(sa.String(20))
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    status: Mapped[str] = mapped_column(sa.String(20), server_default="running")
    started_by: Mapped[str | None] = mapped_column(sa.String(254))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    orgs_total: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    orgs_done: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    orgs_failed: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    invoices_issued: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))
    summary: Mapped[list | None] = mapped_column(sa.JSON)
