"""Tenant pages and actions: the list, a tenant's timeline, its CR, month-to-date charges, and changes.

Actions patch the PiecedTenant FIRST, then record events computed from the
object the API server returned. Kubernetes failing fails the action and
records nothing; recording failing is logged and never fails the action
(the watcher repairs the log at its next reconcile).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from ..audit import change_history, record_audit
from ..billing.days import Period
from ..billing.engine import DraftLine, compute_invoices
from ..billing.facts import litellm_client, load_facts, move_effect
from ..billing.money import ZERO, fmt_quantity, q2
from ..extensions import db
from ..integrations.kube import (
    NOT_CONFIGURED_MESSAGE,
    KubeError,
    KubeNotConfigured,
    KubeNotFound,
    KubeSettings,
    MalformedTenant,
    TenantCR,
    TenantKube,
    kube_configured,
)
from ..integrations.litellm import LiteLLMError
from ..models import (
    BillingEntity,
    OrgBillingConfig,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
)
from ..models.types import utcnow
from ..orgs.services import default_entity
from .eventlog import Recorded, TenantSkipped, TenantState, current_packages, load_states, lock_event_log, record_cr

__all__ = [
    "ACTION_SOURCE",
    "STATES",
    "SKILL_ID_PATTERN",
    "ActionResult",
    "Charges",
    "CRView",
    "TenantActionError",
    "TenantDetail",
    "TenantNotFound",
    "TenantPage",
    "TenantRow",
    "TimelineEntry",
    "cr_view",
    "known_skill_ids",
    "list_tenants",
    "month_to_date_charges",
    "move_entity",
    "set_package",
    "set_suspension",
    "tenant_detail",
]

log = logging.getLogger(__name__)

ACTION_SOURCE = "app"
STATES = ("live", "suspended", "deleted")
PAGE_SIZE = 25
# Skill ids are package names in spec.packages: lower-case DNS-1123-style names.
SKILL_ID_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,118}[a-z0-9])?$")


class TenantNotFound(LookupError):
    """No tenant of this name in the event log."""


class TenantActionError(ValueError):
    """The action cannot be done as asked; the message says why."""


# --------------------------------------------------------------------------- list


@dataclass
class TenantRow:
    name: str
    org_id: str
    org_name: str
    entity: BillingEntity | None
    entity_override: bool
    state: str
    packages: list[str]
    created_at: datetime
    deleted_at: datetime | None


@dataclass
class TenantPage:
    rows: list[TenantRow]
    total: int
    page: int
    pages: int
    orgs: list[tuple[str, str]]  # (org id, name) for the filter
    org: str | None
    state: str | None
    q: str


def _last_suspension_kind():
    e = TenantSuspensionEvent
    return (
        sa.select(e.event_kind)
        .where(e.tenant_name == TenantLifecycle.tenant_name)
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(1)
        .correlate(TenantLifecycle)
        .scalar_subquery()
    )


def _state_of(deleted_at, suspension_kind) -> str:
    if deleted_at is not None:
        return "deleted"
    return "suspended" if suspension_kind == "suspended" else "live"


def _default_entity() -> BillingEntity | None:
    """The default billing entity, or None while no entity exists at all."""
    try:
        return default_entity()
    except LookupError:
        return None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_tenants(*, org: str | None = None, state: str | None = None, q: str = "", page: int = 1,
                 per_page: int = PAGE_SIZE) -> TenantPage:
    """One page of tenants with org, entity, state and current packages; a fixed number of queries."""
    last_kind = _last_suspension_kind()
    entity_id = sa.func.coalesce(TenantLifecycle.billing_entity_id, OrgBillingConfig.billing_entity_id)
    stmt = (
        sa.select(TenantLifecycle, OrgBillingConfig.display_name, BillingEntity, last_kind.label("suspension"))
        .outerjoin(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == TenantLifecycle.zitadel_org_id)
        .outerjoin(BillingEntity, BillingEntity.id == entity_id)
    )
    if org:
        stmt = stmt.where(TenantLifecycle.zitadel_org_id == org)
    q = (q or "").strip()
    if q:
        stmt = stmt.where(TenantLifecycle.tenant_name.ilike(f"%{_escape_like(q)}%", escape="\\"))
    if state == "deleted":
        stmt = stmt.where(TenantLifecycle.deleted_at.is_not(None))
    elif state == "suspended":
        stmt = stmt.where(TenantLifecycle.deleted_at.is_(None), last_kind == "suspended")
    elif state == "live":
        stmt = stmt.where(TenantLifecycle.deleted_at.is_(None),
                          sa.or_(last_kind.is_(None), last_kind != "suspended"))
    else:
        state = None

    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    result = db.session.execute(
        stmt.order_by(TenantLifecycle.tenant_name).limit(per_page).offset((page - 1) * per_page)
    ).all()

    fallback = _default_entity() if any(e is None for _, _, e, _ in result) else None
    packages = current_packages([t.tenant_name for t, _, _, _ in result])
    rows = [
        TenantRow(
            name=t.tenant_name,
            org_id=t.zitadel_org_id,
            org_name=display or t.zitadel_org_id,
            entity=entity or fallback,
            entity_override=t.billing_entity_id is not None,
            state=_state_of(t.deleted_at, kind),
            packages=packages.get(t.tenant_name, []),
            created_at=t.created_at,
            deleted_at=t.deleted_at,
        )
        for t, display, entity, kind in result
    ]
    orgs = [
        (org_id, display or org_id)
        for org_id, display in db.session.execute(
            sa.select(TenantLifecycle.zitadel_org_id, OrgBillingConfig.display_name)
            .outerjoin(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == TenantLifecycle.zitadel_org_id)
            .distinct()
        )
    ]
    orgs.sort(key=lambda o: o[1].lower())
    return TenantPage(rows=rows, total=total, page=page, pages=pages, orgs=orgs, org=org or None,
                      state=state, q=q)


# --------------------------------------------------------------------------- detail


@dataclass
class TimelineEntry:
    at: datetime
    what: str  # created, deleted, enabled, disabled, suspended, resumed
    skill_id: str | None = None
    source: str | None = None
    actor: str | None = None  # the person whose action in this app wrote the event (from the audit log)


@dataclass
class CRView:
    """The tenant's PiecedTenant as Kubernetes has it now, or why it cannot be shown."""

    configured: bool
    cr: TenantCR | None = None
    message: str | None = None  # not configured, not found, unreachable, malformed
    error: bool = False
    drift: list[str] = field(default_factory=list)  # where the log differs from the CR


@dataclass
class Charges:
    """Month-to-date charges of one tenant (a preview: nothing issued)."""

    period: Period
    until: datetime
    lines: list[DraftLine] = field(default_factory=list)
    net_chf: Decimal = ZERO
    vat_rate: Decimal = ZERO
    vat_chf: Decimal = ZERO
    total_chf: Decimal = ZERO
    vat_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @staticmethod
    def quantity(line: DraftLine) -> str:
        """A line's quantity as invoices print it (18, 12.3456)."""
        return fmt_quantity(line.quantity)


@dataclass
class TenantDetail:
    tenant: TenantLifecycle
    org_name: str
    entity: BillingEntity | None
    org_entity: BillingEntity | None
    state: str
    packages: list[str]
    timeline: list[TimelineEntry]
    entities: list[BillingEntity]
    known_skills: list[str]
    cr: CRView
    charges: Charges
    move_effect: str | None = None  # from which month a change of its billing entity takes effect
    history: list = field(default_factory=list)


def _get_tenant(name: str) -> TenantLifecycle:
    tenant = db.session.execute(sa.select(TenantLifecycle).filter_by(tenant_name=name)).scalar_one_or_none()
    if tenant is None:
        raise TenantNotFound(f"no tenant named {name!r} in the event log")
    return tenant


def known_skill_ids() -> list[str]:
    """Skill ids to offer: every priced skill and every skill the event log has seen."""
    priced = db.session.execute(sa.select(SkillPricing.skill_id)).scalars()
    seen = db.session.execute(sa.select(TenantSkillEvent.skill_id).distinct()).scalars()
    return sorted(set(priced) | set(seen))


def _timeline(tenant: TenantLifecycle) -> list[TimelineEntry]:
    entries = [TimelineEntry(tenant.created_at, "created")]
    for skill, kind, at, source in db.session.execute(
        sa.select(TenantSkillEvent.skill_id, TenantSkillEvent.event_kind, TenantSkillEvent.occurred_at,
                  TenantSkillEvent.source)
        .where(TenantSkillEvent.tenant_name == tenant.tenant_name)
        .order_by(TenantSkillEvent.occurred_at, TenantSkillEvent.id)
    ):
        entries.append(TimelineEntry(at, kind, skill, source))
    for kind, at, source in db.session.execute(
        sa.select(TenantSuspensionEvent.event_kind, TenantSuspensionEvent.occurred_at, TenantSuspensionEvent.source)
        .where(TenantSuspensionEvent.tenant_name == tenant.tenant_name)
        .order_by(TenantSuspensionEvent.occurred_at, TenantSuspensionEvent.id)
    ):
        entries.append(TimelineEntry(at, kind, None, source))
    if tenant.deleted_at is not None:
        entries.append(TimelineEntry(tenant.deleted_at, "deleted"))
    order = {"created": 0, "deleted": 2}
    # Stable: events of the same instant keep their (occurred_at, id) order.
    entries.sort(key=lambda e: (e.at, order.get(e.what, 1)))
    _name_the_people(tenant.tenant_name, entries)
    return entries


# The audit action an admin's change from this app writes next to the event it records.
_ACTION_OF = {"enabled": "tenant.package_enabled", "disabled": "tenant.package_disabled",
              "suspended": "tenant.suspended", "resumed": "tenant.resumed"}
_MATCH_WINDOW = timedelta(minutes=2)


def _name_the_people(name: str, entries: list[TimelineEntry]) -> None:
    """Put the person on the events written from this app: the audit entry of the same kind nearest in time."""
    from ..models import AuditLog

    audits = db.session.execute(
        sa.select(AuditLog.action, AuditLog.occurred_at, AuditLog.actor, AuditLog.before, AuditLog.after)
        .where(AuditLog.object_type == "tenant", AuditLog.object_id == name,
               AuditLog.action.in_(list(_ACTION_OF.values())))
    ).all()
    if not audits:
        return
    used: set[int] = set()
    for entry in entries:
        action = _ACTION_OF.get(entry.what)
        if action is None or entry.source != ACTION_SOURCE:
            continue
        best = None
        for i, (act, at, actor, before, after) in enumerate(audits):
            if act != action or i in used or at is None:
                continue
            if entry.skill_id and entry.skill_id not in set((after or {}).get("packages") or []) ^ set(
                    (before or {}).get("packages") or []):
                continue
            gap = abs(at - entry.at)
            if gap <= _MATCH_WINDOW and (best is None or gap < best[0]):
                best = (gap, i, actor)
        if best is not None:
            used.add(best[1])
            entry.actor = best[2]


def _settings() -> KubeSettings:
    return KubeSettings.from_config(current_app.config)


def _namespace(tenant: TenantLifecycle, settings: KubeSettings) -> str | None:
    return tenant.namespace or settings.namespace or None


def cr_view(tenant: TenantLifecycle, state: TenantState | None = None) -> CRView:
    """Read the tenant's PiecedTenant; a failure becomes a message naming Kubernetes."""
    settings = _settings()
    if not kube_configured(settings):
        return CRView(configured=False, message=NOT_CONFIGURED_MESSAGE + ". The pages below come from the event log.")
    namespace = _namespace(tenant, settings)
    if namespace is None:
        return CRView(configured=True, message="The tenant's namespace is unknown: run a backfill to record it.")
    try:
        with TenantKube(settings) as kube:
            obj = kube.get_tenant(namespace, tenant.tenant_name)
    except KubeNotFound:
        gone = "" if tenant.deleted_at is None else " (the tenant is deleted)"
        return CRView(configured=True, message=f"Kubernetes has no PiecedTenant {namespace}/{tenant.tenant_name}{gone}.")
    except KubeError as exc:
        return CRView(configured=True, message=str(exc), error=True)
    try:
        cr = TenantCR.parse(obj, settings.org_label)
    except MalformedTenant as exc:
        return CRView(configured=True, message=f"The PiecedTenant in Kubernetes cannot be read: {exc}.", error=True)
    view = CRView(configured=True, cr=cr)
    if state is not None and tenant.deleted_at is None:
        missing = sorted(set(cr.packages) - state.packages)
        extra = sorted(state.packages - set(cr.packages))
        if missing:
            view.drift.append("enabled in Kubernetes, not in the log: " + ", ".join(missing))
        if extra:
            view.drift.append("enabled in the log, not in Kubernetes: " + ", ".join(extra))
        if cr.suspend != state.suspended:
            view.drift.append("suspended in " + ("Kubernetes" if cr.suspend else "the log") + " only")
    return view


def month_to_date_charges(tenant: TenantLifecycle, now: datetime | None = None) -> Charges:
    """This month's charges of the tenant so far: the engine on the org's facts, the tenant's life capped at now.

    Only this tenant's LLM spend is asked of LiteLLM (not every tenant of the org).
    """
    now = now or utcnow()
    tz = current_app.config["BILLING_TIMEZONE"]
    period = Period.of(now.astimezone(ZoneInfo(tz)).date())
    charges = Charges(period=period, until=now)
    try:
        facts, _ctx = load_facts(tenant.zitadel_org_id, period, litellm=False, on_usage_error="warn")
    except LookupError as exc:
        charges.error = str(exc).strip("'\"")
        return charges
    mine = [t for t in facts.tenants if t.name == tenant.tenant_name]
    if not mine:
        charges.warnings.append(f"{tenant.tenant_name} does not exist in {period.key}.")
        return charges
    capped = dataclasses.replace(
        mine[0], deleted_at=now if mine[0].deleted_at is None else min(mine[0].deleted_at, now)
    )
    warnings: list[str] = []
    try:
        client = litellm_client()
    except LiteLLMError as exc:
        client = None
        warnings.append(str(exc))
    if client is not None:
        try:
            spend = client.team_spend(tenant.litellm_team_id or tenant.tenant_name, period.first_day, period.last_day)
        except LiteLLMError as exc:
            warnings.append(f"{exc}: LLM usage of {tenant.tenant_name} is not shown.")
            spend = None
        finally:
            client.close()
        capped = dataclasses.replace(capped, llm_spend_usd=spend)
    facts = dataclasses.replace(facts, tenants=(capped,), llm_configured=client is not None,
                                warnings=tuple(warnings))
    drafts = compute_invoices(facts)
    charges.lines = [line for d in drafts for line in d.lines if line.tenant_name == tenant.tenant_name]
    charges.net_chf = q2(sum((d.net_chf for d in drafts), ZERO))
    charges.vat_chf = q2(sum((d.vat_chf for d in drafts), ZERO))
    charges.total_chf = q2(sum((d.total_chf for d in drafts), ZERO))
    charges.vat_rate = drafts[0].vat_rate if drafts else ZERO
    charges.vat_note = drafts[0].vat_note if drafts else None
    charges.warnings = list(dict.fromkeys(w for d in drafts for w in d.warnings))
    return charges


def tenant_detail(name: str, *, now: datetime | None = None) -> TenantDetail:
    """Everything the tenant page shows (TenantNotFound when the log has no such tenant)."""
    tenant = _get_tenant(name)
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=tenant.zitadel_org_id)
    ).scalar_one_or_none()
    entities = db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.name)).scalars().all()
    by_id = {e.id: e for e in entities}
    fallback = _default_entity()
    org_entity = by_id.get(config.billing_entity_id) if config and config.billing_entity_id else fallback
    entity = by_id.get(tenant.billing_entity_id) if tenant.billing_entity_id else org_entity
    state = load_states([name]).get(name) or TenantState(name, tenant)
    return TenantDetail(
        tenant=tenant,
        org_name=(config.display_name if config and config.display_name else tenant.zitadel_org_id),
        entity=entity,
        org_entity=org_entity,
        state=_state_of(tenant.deleted_at, "suspended" if state.suspended else None),
        packages=sorted(state.packages),
        timeline=_timeline(tenant),
        entities=list(entities),
        known_skills=known_skill_ids(),
        cr=cr_view(tenant, state),
        charges=month_to_date_charges(tenant, now),
        move_effect=move_effect(tenant).sentence(),
        history=change_history("tenant", name),
    )


# --------------------------------------------------------------------------- actions


@dataclass
class ActionResult:
    """What an action did in Kubernetes, and what it recorded (or why recording failed)."""

    tenant: str
    message: str  # what changed in Kubernetes, for a person
    cr: TenantCR | None = None
    recorded: Recorded | None = None
    tracking_error: str | None = None
    changed: bool = True


def _live_tenant(name: str) -> TenantLifecycle:
    tenant = _get_tenant(name)
    if tenant.deleted_at is not None:
        raise TenantActionError(f"{name} is deleted: there is no PiecedTenant to change")
    return tenant


def _current_cr(kube: TenantKube, namespace: str, name: str, settings: KubeSettings) -> TenantCR:
    obj = kube.get_tenant(namespace, name)
    try:
        return TenantCR.parse(obj, settings.org_label)
    except MalformedTenant as exc:
        raise TenantActionError(f"the PiecedTenant {namespace}/{name} cannot be read: {exc}") from None


def _record_returned(name: str, obj: dict, settings: KubeSettings) -> tuple[TenantCR | None, Recorded | None, str | None]:
    """Record what the returned CR shows; a failure is logged and returned, never raised."""
    try:
        cr = TenantCR.parse(obj, settings.org_label)
    except MalformedTenant as exc:
        log.error("tenant %s: the patched PiecedTenant cannot be read (%s); the watcher will record it", name, exc)
        return None, None, str(exc)
    try:
        with db.session.begin_nested():
            lock_event_log()
            state = load_states([name]).get(name) or TenantState(name)
            recorded = record_cr(cr, state, source=ACTION_SOURCE, now=utcnow())
    except (SQLAlchemyError, TenantSkipped) as exc:
        log.error("tenant %s: Kubernetes was changed but recording failed (%s); "
                  "the watcher records it at its next reconcile", name, exc)
        return cr, None, str(exc).splitlines()[0]
    if recorded.changed:
        log.info("tenant %s: recorded %s", name, "; ".join(recorded.describe()))
    return cr, recorded, None


def _kube(settings: KubeSettings) -> TenantKube:
    if not kube_configured(settings):
        raise KubeNotConfigured(NOT_CONFIGURED_MESSAGE)
    return TenantKube(settings)


def set_package(name: str, skill_id: str, enabled: bool) -> ActionResult:
    """Enable or disable a package: merge-patch spec.packages, then record from the returned CR."""
    skill_id = skill_id.strip()
    if not SKILL_ID_PATTERN.match(skill_id):
        raise TenantActionError(f"{skill_id!r} is not a skill id (lower-case letters, digits, '-' and '.')")
    tenant = _live_tenant(name)
    settings = _settings()
    namespace = _namespace(tenant, settings)
    if namespace is None:
        raise TenantActionError("the tenant's namespace is unknown: run a backfill first")
    with _kube(settings) as kube:
        current = _current_cr(kube, namespace, name, settings)
        packages = list(current.packages)
        if enabled and skill_id not in packages:
            packages.append(skill_id)
        elif not enabled and skill_id in packages:
            packages.remove(skill_id)
        else:
            state = "enabled" if enabled else "not enabled"
            result = ActionResult(name, f"{skill_id} is already {state} on {name} in Kubernetes.", changed=False)
            # Nothing to patch; the log may still lag behind the CR, so record from it.
            result.cr, result.recorded, result.tracking_error = _record_returned(name, current.raw, settings)
            if result.recorded and result.recorded.changed:
                record_audit("tenant.recorded", "tenant", name, after=result.recorded.audit())
            return result
        returned = kube.patch_tenant(namespace, name, {"spec": {"packages": packages}})
    verb = "enabled" if enabled else "disabled"
    result = ActionResult(name, f"{skill_id} {verb} on {name} in Kubernetes.")
    result.cr, result.recorded, result.tracking_error = _record_returned(name, returned, settings)
    record_audit(
        f"tenant.package_{verb}", "tenant", name,
        before={"packages": list(current.packages)},
        after={"packages": list(result.cr.packages) if result.cr else packages},
        note=_audit_note(result),
    )
    return result


def set_suspension(name: str, suspend: bool) -> ActionResult:
    """Suspend or resume: merge-patch spec.suspend, then record from the returned CR."""
    tenant = _live_tenant(name)
    settings = _settings()
    namespace = _namespace(tenant, settings)
    if namespace is None:
        raise TenantActionError("the tenant's namespace is unknown: run a backfill first")
    with _kube(settings) as kube:
        returned = kube.patch_tenant(namespace, name, {"spec": {"suspend": bool(suspend)}})
    verb = "suspended" if suspend else "resumed"
    result = ActionResult(name, f"{name} {verb} in Kubernetes.")
    result.cr, result.recorded, result.tracking_error = _record_returned(name, returned, settings)
    record_audit(f"tenant.{verb}", "tenant", name, after={"suspend": bool(suspend)}, note=_audit_note(result))
    return result


def _audit_note(result: ActionResult) -> str:
    if result.tracking_error:
        return f"recording failed ({result.tracking_error}); the watcher records it"
    if result.recorded and result.recorded.changed:
        return "recorded: " + "; ".join(result.recorded.describe())
    return "nothing new to record"


def move_entity(name: str, entity_id: int | None) -> str:
    """Bill the tenant by another entity (None: follow its org); only invoices issued afterwards change.

    Returns what happened, for a person.
    """
    tenant = _get_tenant(name)
    if entity_id is not None:
        entity = db.session.get(BillingEntity, entity_id)
        if entity is None:
            raise TenantActionError(f"no billing entity with id {entity_id}")
        label = f"{entity.name} ({entity.code})"
    else:
        config = db.session.execute(
            sa.select(OrgBillingConfig).filter_by(zitadel_org_id=tenant.zitadel_org_id)
        ).scalar_one_or_none()
        org_entity = (db.session.get(BillingEntity, config.billing_entity_id)
                      if config is not None and config.billing_entity_id else _default_entity())
        label = f"its org's entity, {org_entity.name} ({org_entity.code})" if org_entity else "its org's entity"
    before = {"billing_entity_id": tenant.billing_entity_id}
    if before["billing_entity_id"] == entity_id:
        return f"{name} is already billed by {label}."
    tenant.billing_entity_id = entity_id
    effect = move_effect(tenant)
    record_audit("tenant.billing_entity_changed", "tenant", name, before=before,
                 after={"billing_entity_id": entity_id}, note=effect.sentence())
    db.session.flush()
    return f"{name} is now billed by {label}; invoices already issued do not change. {effect.sentence()}"
