"""The tenant event log: lifecycle rows and the append-only skill, suspension and usage tables."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

SKILL_EVENT_KINDS = ("enabled", "disabled")
SUSPENSION_EVENT_KINDS = ("suspended", "resumed")
USAGE_METRICS = ("threema_messages",)


class TenantLifecycle(db.Model):
    __tablename__ = "tenant_billing_lifecycle"
    __table_args__ = (sa.Index("ix_tenant_billing_lifecycle_org", "zitadel_org_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_name: Mapped[str] = mapped_column(sa.String(253), unique=True)
    zitadel_org_id: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    billing_entity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("billing_entities.id"))
    namespace: Mapped[str | None] = mapped_column(sa.String(253))
    litellm_team_id: Mapped[str | None] = mapped_column(sa.String(253))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class TenantSkillEvent(db.Model):
    __tablename__ = "tenant_skill_events"
    __table_args__ = (
        sa.CheckConstraint("event_kind IN ('enabled', 'disabled')", name="event_kind"),
        sa.Index("ix_tenant_skill_events_tenant_time", "tenant_name", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_name: Mapped[str] = mapped_column(
        sa.String(253), sa.ForeignKey("tenant_billing_lifecycle.tenant_name")
    )
    skill_id: Mapped[str] = mapped_column(sa.String(120))
    event_kind: Mapped[str] = mapped_column(sa.String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(sa.String(32), server_default="app")
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class TenantSuspensionEvent(db.Model):
    __tablename__ = "tenant_suspension_events"
    __table_args__ = (
        sa.CheckConstraint("event_kind IN ('suspended', 'resumed')", name="event_kind"),
        sa.Index("ix_tenant_suspension_events_tenant_time", "tenant_name", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_name: Mapped[str] = mapped_column(
        sa.String(253), sa.ForeignKey("tenant_billing_lifecycle.tenant_name")
    )
    event_kind: Mapped[str] = mapped_column(sa.String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(sa.String(32), server_default="app")
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())


class TenantUsage(db.Model):
    __tablename__ = "tenant_usage"
    __table_args__ = (
        sa.UniqueConstraint("metric", "external_id"),
        sa.CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        sa.Index("ix_tenant_usage_tenant_metric_time", "tenant_name", "metric", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_name: Mapped[str] = mapped_column(
        sa.String(253), sa.ForeignKey("tenant_billing_lifecycle.tenant_name")
    )
    metric: Mapped[str] = mapped_column(sa.String(40), server_default="threema_messages")
    quantity: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("1"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    external_id: Mapped[str] = mapped_column(sa.String(200))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), server_default=sa.func.now())

    # Set when the message arrived after its month was invoiced: kept, not billed, shown as late usage.
    late_invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"))
