"""The tenant event log as a mirror of the PiecedTenants: its current state, and what to add to match a CR.

Backfill, the watcher and the tenant actions all record through here, so the
three agree on one rule: compare the CR with the log's *current* state (the
last event per tenant and skill, ordered by ``(occurred_at, id)``) and append
only what differs. Appending a change the log already shows is impossible, so
repeating any of them records nothing twice.

Recorders serialise on one lock (``lock_event_log``): a PostgreSQL advisory
lock, or SQLite's write lock, held until the transaction ends. Without it the
watcher and a tenant action could both see "not enabled" and both append.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..integrations.kube import TenantCR
from ..models import TenantLifecycle, TenantSkillEvent, TenantSuspensionEvent

__all__ = [
    "Recorded",
    "TenantSkipped",
    "TenantState",
    "backfill_cr",
    "current_packages",
    "load_states",
    "lock_event_log",
    "record_cr",
    "record_deletion",
]

CHUNK = 500
# pg_advisory_xact_lock key of the tenant event log ("pieced-tenants" folded into a bigint).
EVENT_LOG_LOCK = 0x70696563_65640001


class TenantSkipped(Exception):
    """This CR cannot be mirrored into the log; the message says why (listed by backfill, logged by the watcher)."""


def lock_event_log() -> None:
    """Serialise writers of the tenant event log until the current transaction ends."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK})
    else:
        # A write statement takes SQLite's database write lock, even when it matches no row.
        db.session.execute(sa.text("UPDATE tenant_billing_lifecycle SET namespace = namespace WHERE 0 = 1"))


# --------------------------------------------------------------------------- current state


@dataclass
class TenantState:
    """What the event log says about one tenant now."""

    name: str
    lifecycle: TenantLifecycle | None = None
    packages: set[str] = field(default_factory=set)
    last_skill_at: dict[str, datetime] = field(default_factory=dict)
    suspended: bool = False
    last_suspension_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.lifecycle is not None and self.lifecycle.deleted_at is not None


def _chunks(items: Sequence, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _last_skill_events(names: Sequence[str] | None):
    """(tenant, skill, kind, occurred_at) of the last event of each (tenant, skill)."""
    e = TenantSkillEvent
    rank = sa.func.row_number().over(
        partition_by=(e.tenant_name, e.skill_id), order_by=(e.occurred_at.desc(), e.id.desc())
    ).label("rank")
    inner = sa.select(e.tenant_name, e.skill_id, e.event_kind, e.occurred_at, rank)
    batches = [None] if names is None else list(_chunks(list(names)))
    for batch in batches:
        stmt = inner if batch is None else inner.where(e.tenant_name.in_(batch))
        ranked = stmt.subquery()
        yield from db.session.execute(
            sa.select(ranked.c.tenant_name, ranked.c.skill_id, ranked.c.event_kind, ranked.c.occurred_at)
            .where(ranked.c.rank == 1)
        )


def _last_suspension_events(names: Sequence[str] | None):
    """(tenant, kind, occurred_at) of the last suspension event of each tenant."""
    e = TenantSuspensionEvent
    rank = sa.func.row_number().over(
        partition_by=e.tenant_name, order_by=(e.occurred_at.desc(), e.id.desc())
    ).label("rank")
    inner = sa.select(e.tenant_name, e.event_kind, e.occurred_at, rank)
    batches = [None] if names is None else list(_chunks(list(names)))
    for batch in batches:
        stmt = inner if batch is None else inner.where(e.tenant_name.in_(batch))
        ranked = stmt.subquery()
        yield from db.session.execute(
            sa.select(ranked.c.tenant_name, ranked.c.event_kind, ranked.c.occurred_at).where(ranked.c.rank == 1)
        )


def load_states(names: Iterable[str] | None = None) -> dict[str, TenantState]:
    """The current state of these tenants (all tenants when `names` is None), in three queries per 500 names."""
    wanted = None if names is None else list(dict.fromkeys(names))
    states: dict[str, TenantState] = {}
    batches = [None] if wanted is None else list(_chunks(wanted))
    for batch in batches:
        stmt = sa.select(TenantLifecycle)
        if batch is not None:
            stmt = stmt.where(TenantLifecycle.tenant_name.in_(batch))
        for lifecycle in db.session.execute(stmt).scalars():
            states[lifecycle.tenant_name] = TenantState(lifecycle.tenant_name, lifecycle)
    for tenant, skill, kind, at in _last_skill_events(wanted):
        state = states.setdefault(tenant, TenantState(tenant))
        state.last_skill_at[skill] = at
        if kind == "enabled":
            state.packages.add(skill)
    for tenant, kind, at in _last_suspension_events(wanted):
        state = states.setdefault(tenant, TenantState(tenant))
        state.suspended = kind == "suspended"
        state.last_suspension_at = at
    return states


def current_packages(names: Iterable[str]) -> dict[str, list[str]]:
    """Enabled skills per tenant according to the log (sorted), in one query per 500 names."""
    result: dict[str, list[str]] = {}
    for tenant, skill, kind, _at in _last_skill_events(list(dict.fromkeys(names))):
        if kind == "enabled":
            result.setdefault(tenant, []).append(skill)
    return {tenant: sorted(skills) for tenant, skills in result.items()}


# --------------------------------------------------------------------------- appending


@dataclass
class Recorded:
    """What one recording appended for one tenant."""

    tenant: str
    source: str
    lifecycle_created: bool = False
    deleted_at: datetime | None = None
    skill_events: list[tuple[str, str, datetime]] = field(default_factory=list)  # (skill, kind, at)
    suspension_events: list[tuple[str, datetime]] = field(default_factory=list)  # (kind, at)
    updated: list[str] = field(default_factory=list)  # lifecycle fields filled in from the CR

    @property
    def changed(self) -> bool:
        return bool(self.lifecycle_created or self.deleted_at or self.skill_events or self.suspension_events
                    or self.updated)

    def describe(self) -> list[str]:
        """One short phrase per change, for logs, flashes and the audit log."""
        out = []
        if self.lifecycle_created:
            out.append("created")
        out += [f"{kind} {skill} at {at.isoformat()}" for skill, kind, at in self.skill_events]
        out += [f"{kind} at {at.isoformat()}" for kind, at in self.suspension_events]
        if self.deleted_at:
            out.append(f"deleted at {self.deleted_at.isoformat()}")
        out += [f"{name} set from the CR" for name in self.updated]
        return out

    def audit(self) -> dict:
        return {"source": self.source, "changes": self.describe()}


def _after(at: datetime, last: datetime | None, now: datetime) -> datetime:
    """`at`, unless the log already has a later event of this kind: then the time it is observed.

    Appending an event dated before the last one would not change the log's
    current state, and the same CR would be "missing" it again next time.
    """
    if last is None or at >= last:
        return at
    return max(now, last)


def _add_skill(state: TenantState, rec: Recorded, skill: str, kind: str, at: datetime) -> None:
    db.session.add(TenantSkillEvent(tenant_name=state.name, skill_id=skill, event_kind=kind, occurred_at=at,
                                    source=rec.source))
    rec.skill_events.append((skill, kind, at))
    state.last_skill_at[skill] = at
    if kind == "enabled":
        state.packages.add(skill)
    else:
        state.packages.discard(skill)


def _add_suspension(state: TenantState, rec: Recorded, kind: str, at: datetime) -> None:
    db.session.add(TenantSuspensionEvent(tenant_name=state.name, event_kind=kind, occurred_at=at, source=rec.source))
    rec.suspension_events.append((kind, at))
    state.last_suspension_at = at
    state.suspended = kind == "suspended"


def _check_conflicts(cr: TenantCR, state: TenantState) -> None:
    lifecycle = state.lifecycle
    if lifecycle is None:
        return
    if lifecycle.deleted_at is not None:
        raise TenantSkipped(
            f"the event log shows {cr.name} deleted at {lifecycle.deleted_at.isoformat()}; "
            "a tenant name has one life in the log"
        )
    if lifecycle.namespace and cr.namespace and lifecycle.namespace != cr.namespace:
        raise TenantSkipped(f"the name {cr.name} is already used by the tenant in namespace {lifecycle.namespace}")


def _fill_lifecycle(cr: TenantCR, state: TenantState, rec: Recorded) -> None:
    lifecycle = state.lifecycle
    if lifecycle.namespace is None and cr.namespace:
        lifecycle.namespace = cr.namespace
        rec.updated.append("namespace")
    if cr.team_id and cr.team_id != lifecycle.litellm_team_id:
        lifecycle.litellm_team_id = cr.team_id
        rec.updated.append("litellm_team_id")


def backfill_cr(cr: TenantCR, state: TenantState, *, now: datetime, source: str = "backfill") -> Recorded:
    """SPEC §4 backfill of one live CR: lifecycle if missing, packages enabled at creation, suspension at suspendedAt.

    Raises TenantSkipped (before writing anything) when the CR cannot be mirrored.
    """
    _check_conflicts(cr, state)
    rec = Recorded(cr.name, source)
    if state.lifecycle is None:
        if not cr.org_id:
            raise TenantSkipped("no org label on the CR")
        state.lifecycle = TenantLifecycle(
            tenant_name=cr.name, zitadel_org_id=cr.org_id, created_at=cr.created_at,
            namespace=cr.namespace or None, litellm_team_id=cr.team_id,
        )
        db.session.add(state.lifecycle)
        db.session.flush()  # the events reference it
        rec.lifecycle_created = True
    else:
        _fill_lifecycle(cr, state, rec)
    for skill in cr.packages:
        if skill not in state.packages:
            _add_skill(state, rec, skill, "enabled", _after(cr.created_at, state.last_skill_at.get(skill), now))
    if cr.suspend and not state.suspended:
        at = cr.suspended_at or now
        _add_suspension(state, rec, "suspended", _after(at, state.last_suspension_at, now))
    return rec


def record_cr(cr: TenantCR, state: TenantState, *, source: str, now: datetime) -> Recorded:
    """Append what differs between a live CR and the log (watch and tenant actions).

    A tenant new to the log is recorded as backfill does (created at its
    creationTimestamp with its packages); for a known one, package toggles
    and a resume are dated `now`, a suspension at status.suspendedAt when
    the CR has one.
    """
    if state.lifecycle is None:
        return backfill_cr(cr, state, now=now, source=source)
    _check_conflicts(cr, state)
    rec = Recorded(cr.name, source)
    _fill_lifecycle(cr, state, rec)
    for skill in cr.packages:
        if skill not in state.packages:
            _add_skill(state, rec, skill, "enabled", _after(now, state.last_skill_at.get(skill), now))
    for skill in sorted(state.packages - set(cr.packages)):
        _add_skill(state, rec, skill, "disabled", _after(now, state.last_skill_at.get(skill), now))
    if cr.suspend and not state.suspended:
        _add_suspension(state, rec, "suspended", _after(cr.suspended_at or now, state.last_suspension_at, now))
    elif not cr.suspend and state.suspended:
        _add_suspension(state, rec, "resumed", _after(now, state.last_suspension_at, now))
    return rec


def record_deletion(state: TenantState, *, at: datetime, source: str) -> Recorded:
    """Set deleted_at of a tenant the log still shows as existing."""
    rec = Recorded(state.name, source)
    lifecycle = state.lifecycle
    if lifecycle is None or lifecycle.deleted_at is not None:
        return rec
    # A tenant cannot end before it began (a clock-skewed deletionTimestamp).
    lifecycle.deleted_at = max(at, lifecycle.created_at)
    rec.deleted_at = lifecycle.deleted_at
    return rec
