"""Backfill (SPEC §4): mirror every live PiecedTenant into the event log, once.

For each CR: the lifecycle row if missing, an ``enabled`` event at
creationTimestamp for each package the log does not show enabled, a
``suspended`` event at status.suspendedAt when the CR is suspended and the log
does not show it. A malformed CR is skipped and listed, never fatal. Running
it again inserts nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from ..audit import record_audit
from ..integrations.kube import KubeSettings, MalformedTenant, TenantCR, TenantKube
from ..models.types import utcnow
from .eventlog import TenantSkipped, TenantState, backfill_cr, load_states, lock_event_log

__all__ = ["BackfillResult", "backfill_tenants", "run_backfill"]

log = logging.getLogger(__name__)

SOURCE = "backfill"


@dataclass
class BackfillResult:
    """Counts of one backfill and the CRs it skipped."""

    tenants_examined: int = 0
    lifecycle_inserted: int = 0
    events_inserted: int = 0
    suspension_events_inserted: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def inserted_anything(self) -> bool:
        return bool(self.lifecycle_inserted or self.events_inserted or self.suspension_events_inserted)

    def as_json(self) -> dict[str, Any]:
        """SPEC §4's answer, plus the skipped CRs."""
        return {
            "message": "Backfill complete.",
            "tenantsExamined": self.tenants_examined,
            "lifecycleInserted": self.lifecycle_inserted,
            "eventsInserted": self.events_inserted,
            "suspensionEventsInserted": self.suspension_events_inserted,
            "skipped": list(self.skipped),
        }


def _identity(obj: Any) -> tuple[str, str]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    return str(meta.get("name") or "?"), str(meta.get("namespace") or "")


def backfill_tenants(items: Iterable[Mapping[str, Any]], *, org_label: str, now: datetime | None = None) -> BackfillResult:
    """Mirror these CRs into the event log (flushes; the caller commits)."""
    now = now or utcnow()
    result = BackfillResult()
    lock_event_log()
    states = load_states()
    for obj in items:
        result.tenants_examined += 1
        name, namespace = _identity(obj)
        try:
            cr = TenantCR.parse(obj, org_label)
            if not cr.org_id:
                raise TenantSkipped(f"no org label {org_label}")
            state = states.setdefault(cr.name, TenantState(cr.name))
            rec = backfill_cr(cr, state, now=now, source=SOURCE)
        except (MalformedTenant, TenantSkipped) as exc:
            log.warning("backfill: skipped PiecedTenant %s/%s: %s", namespace, name, exc)
            result.skipped.append({"tenant": name, "namespace": namespace, "reason": str(exc)})
            continue
        result.lifecycle_inserted += int(rec.lifecycle_created)
        result.events_inserted += len(rec.skill_events)
        result.suspension_events_inserted += len(rec.suspension_events)
        if rec.changed:
            log.info("backfill: %s: %s", cr.name, "; ".join(rec.describe()))
    return result


def run_backfill(now: datetime | None = None) -> BackfillResult:
    """List the PiecedTenants and backfill them (KubeError when Kubernetes fails; nothing is written then)."""
    settings = KubeSettings.from_config(current_app.config)
    with TenantKube(settings) as kube:
        items, _version = kube.list_tenants()
    result = backfill_tenants(items, org_label=settings.org_label, now=now)
    record_audit("tenants.backfill", "tenants", None, after=result.as_json())
    return result
