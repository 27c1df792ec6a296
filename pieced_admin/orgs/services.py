"""Org billing configuration: read (created with defaults on first read) and update."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401  (sa.orm.lazyload)

from flask import current_app

from ..audit import change_history
from ..extensions import db
from ..models.dialect import insert_for
from ..models import BillingEntity, Invoice, OrgBillingConfig, TenantLifecycle


def get_org_config(org_id: str) -> OrgBillingConfig:
    """The org's billing config, created with the database defaults on first read."""
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=org_id)
    ).scalar_one_or_none()
    if config is not None:
        return config
    # Insert-if-absent that is safe when two requests read a new org at once.
    db.session.execute(insert_for(OrgBillingConfig.__table__).values(zitadel_org_id=org_id).on_conflict_do_nothing())
    return db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=org_id)
    ).scalar_one()


def default_entity() -> BillingEntity:
    """The default billing entity (seeded by the first migration)."""
    entity = db.session.execute(sa.select(BillingEntity).filter_by(is_default=True)).scalar_one_or_none()
    if entity is None:
        entity = db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.id)).scalars().first()
    if entity is None:
        raise LookupError("no billing entity exists; create one on the Entities page")
    return entity


# --------------------------------------------------------------------------- the org list

ORG_LIST_PAGE_SIZE = 50
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class OrgListFilters:
    """What the org list is narrowed to (all optional), and which page is shown."""

    q: str = ""
    country: str = ""
    entity: int | None = None
    payment: str = ""  # "invoice" | "card"
    auto_invoice: str = ""  # "yes" | "no"
    auto_reminders: str = ""  # "yes" | "no"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> OrgListFilters:
        """Read the filters from a query string; anything unreadable is ignored, never an error page."""
        def choice(name, allowed):
            value = (args.get(name) or "").strip().lower()
            return value if value in allowed else ""

        def number(name, default=None):
            try:
                return int(args.get(name, ""))
            except (TypeError, ValueError):
                return default

        return cls(
            q=(args.get("q") or "").strip()[:200],
            country=(args.get("country") or "").strip().upper()[:2],
            entity=number("entity"),
            payment=choice("payment", ("invoice", "card")),
            auto_invoice=choice("auto_invoice", YES_NO),
            auto_reminders=choice("auto_reminders", YES_NO),
            page=max(1, number("page", 1) or 1),
        )

    def args(self, **override) -> dict:
        """The filters as query arguments (empty ones left out), e.g. for pagination links."""
        values = {"q": self.q, "country": self.country, "entity": self.entity, "payment": self.payment,
                  "auto_invoice": self.auto_invoice, "auto_reminders": self.auto_reminders, "page": self.page}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)}

    @property
    def active(self) -> bool:
        return bool(self.q or self.country or self.entity or self.payment or self.auto_invoice or self.auto_reminders)


@dataclass
class OrgListPage:
    """One page of the org list."""

    rows: list
    total: int
    page: int
    pages: int
    per_page: int
    entities: dict
    default_entity_id: int | None
    countries: list[str]


def all_orgs():
    """Every org as one subquery: those with a billing config, and those only seen on tenants.

    An org without a config is shown with the database defaults of
    `org_billing_config` (CH, pays by invoice, nothing automatic), which is
    what it gets when its config is first read.
    """
    configured = sa.select(
        OrgBillingConfig.zitadel_org_id.label("org_id"),
        OrgBillingConfig.display_name.label("display_name"),
        OrgBillingConfig.country.label("country"),
        OrgBillingConfig.billing_entity_id.label("billing_entity_id"),
        OrgBillingConfig.pay_by_invoice.label("pay_by_invoice"),
        OrgBillingConfig.auto_invoice_enabled.label("auto_invoice"),
        OrgBillingConfig.auto_reminders_enabled.label("auto_reminders"),
        sa.literal(True, sa.Boolean).label("configured"),
    )
    tenant_only = sa.select(
        TenantLifecycle.zitadel_org_id,
        sa.cast(sa.null(), sa.String(200)),
        sa.literal("CH", sa.String(2)),
        sa.cast(sa.null(), sa.Integer),
        sa.literal(True, sa.Boolean),
        sa.literal(False, sa.Boolean),
        sa.literal(False, sa.Boolean),
        sa.literal(False, sa.Boolean),
    ).where(
        ~sa.exists().where(OrgBillingConfig.zitadel_org_id == TenantLifecycle.zitadel_org_id)
    ).distinct()
    return sa.union_all(configured, tenant_only).subquery("orgs")


def default_entity_id(entities) -> int | None:
    """The id of the default entity among `entities` (the first one if none is marked), or None."""
    default = next((e for e in entities if e.is_default), None) or (entities[0] if entities else None)
    return default.id if default is not None else None


def list_orgs(filters: OrgListFilters, per_page: int = ORG_LIST_PAGE_SIZE) -> OrgListPage:
    """A page of orgs with their open balance, in a fixed number of statements whatever the page size."""
    entities = list(db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.name)).scalars())
    default_id = default_entity_id(entities)
    orgs = all_orgs()
    effective_entity = sa.func.coalesce(orgs.c.billing_entity_id, default_id)
    name = sa.func.coalesce(orgs.c.display_name, orgs.c.org_id)

    where = []
    if filters.q:
        needle = filters.q.lower()
        where.append(sa.or_(sa.func.lower(orgs.c.org_id).contains(needle, autoescape=True),
                            sa.func.lower(orgs.c.display_name).contains(needle, autoescape=True)))
    if filters.country:
        where.append(orgs.c.country == filters.country)
    if filters.entity is not None:
        where.append(effective_entity == filters.entity)
    if filters.payment:
        where.append(orgs.c.pay_by_invoice.is_(filters.payment == "invoice"))
    if filters.auto_invoice:
        where.append(orgs.c.auto_invoice.is_(filters.auto_invoice == "yes"))
    if filters.auto_reminders:
        where.append(orgs.c.auto_reminders.is_(filters.auto_reminders == "yes"))

    total = db.session.execute(sa.select(sa.func.count()).select_from(orgs).where(*where)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)

    balances = (
        sa.select(Invoice.zitadel_org_id.label("org_id"),
                  sa.func.sum(Invoice.total_chf).label("open_chf"),
                  sa.func.count().label("open_count"))
        .where(Invoice.status == "issued")
        .group_by(Invoice.zitadel_org_id)
        .subquery("balances")
    )
    tenants = (
        sa.select(TenantLifecycle.zitadel_org_id.label("org_id"), sa.func.count().label("tenant_count"))
        .where(TenantLifecycle.deleted_at.is_(None))
        .group_by(TenantLifecycle.zitadel_org_id)
        .subquery("tenants")
    )
    rows = db.session.execute(
        sa.select(
            orgs,
            effective_entity.label("effective_entity_id"),
            sa.func.coalesce(balances.c.open_chf, 0).label("open_chf"),
            sa.func.coalesce(balances.c.open_count, 0).label("open_count"),
            sa.func.coalesce(tenants.c.tenant_count, 0).label("tenant_count"),
        )
        .outerjoin(balances, balances.c.org_id == orgs.c.org_id)
        .outerjoin(tenants, tenants.c.org_id == orgs.c.org_id)
        .where(*where)
        .order_by(sa.func.lower(name), orgs.c.org_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).mappings().all()
    countries = list(db.session.execute(
        sa.select(orgs.c.country).distinct().order_by(orgs.c.country)
    ).scalars())
    return OrgListPage(rows=list(rows), total=total, page=page, pages=pages, per_page=per_page,
                       entities={e.id: e for e in entities}, default_entity_id=default_id, countries=countries)


# --------------------------------------------------------------------------- one org

ORG_CONFIG_FIELDS = (
    "display_name", "billing_email", "street", "building_number", "postal_code", "city", "country", "vat_number",
    "language", "payment_terms_days", "billing_entity_id", "pay_by_invoice", "auto_invoice_enabled",
    "auto_reminders_enabled",
)
ORG_INVOICES_SHOWN = 50


@dataclass
class OrgPage:
    """What the org page shows: its config, tenants, invoices and the choices of its form."""

    config: OrgBillingConfig
    tenants: list
    invoices: list
    invoice_count: int
    open_chf: Decimal
    entities: list
    default_entity: BillingEntity | None
    platform_terms_days: int
    credit_chf: Decimal = Decimal("0.00")   # paid more than owed (or twice): used at the next issue or refunded
    stripe_configured: bool = False
    usable_cards: int = 0
    history: list = field(default_factory=list)


class OrgNotFoundError(LookupError):
    """No org has this id (no billing config and no tenant)."""


def org_page(org_id: str) -> OrgPage:
    """An org's page data; its config is created with the defaults on first read (SPEC §2)."""
    from ..billing.facts import known_org_ids
    from ..pricing.services import get_pricing

    if org_id not in known_org_ids([org_id]):
        raise OrgNotFoundError(f"No org {org_id!r}: it has no billing config and no tenant.")
    config = get_org_config(org_id)
    tenants = list(db.session.execute(
        sa.select(TenantLifecycle).where(TenantLifecycle.zitadel_org_id == org_id)
        .order_by(TenantLifecycle.deleted_at.is_not(None), TenantLifecycle.tenant_name)
    ).scalars())
    invoices = list(db.session.execute(
        sa.select(Invoice).where(Invoice.zitadel_org_id == org_id)
        .options(sa.orm.lazyload(Invoice.lines))
        .order_by(Invoice.period_start.desc(), Invoice.issued_at.desc(), Invoice.id.desc())
        .limit(ORG_INVOICES_SHOWN)
    ).unique().scalars())
    from ..payments import ledger

    count, open_chf = db.session.execute(
        sa.select(sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sa.case((Invoice.status == "issued", ledger.balance_expr()),
                                                       else_=0)), 0))
        .where(Invoice.zitadel_org_id == org_id)
    ).one()
    entities = list(db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.name)).scalars())
    default_id = default_entity_id(entities)
    return OrgPage(
        config=config, tenants=tenants, invoices=invoices, invoice_count=count,
        open_chf=Decimal(open_chf).quantize(Decimal("0.01")),
        entities=entities, default_entity=next((e for e in entities if e.id == default_id), None),
        platform_terms_days=get_pricing().payment_terms_days,
        credit_chf=ledger.org_credit_chf(org_id),
        stripe_configured=bool(current_app.config.get("STRIPE_API_KEY")),
        usable_cards=_usable_cards(org_id),
        history=change_history("org", org_id),
    )


def _usable_cards(org_id: str) -> int:
    """Mirrored cards of the org that have not expired (what a card charge could use)."""
    from .. import clock
    from ..models import OrgPaymentMethod

    today = clock.today()
    return db.session.execute(
        sa.select(sa.func.count()).select_from(OrgPaymentMethod)
        .where(OrgPaymentMethod.zitadel_org_id == org_id)
        .where(sa.or_(OrgPaymentMethod.exp_year.is_(None),
                      OrgPaymentMethod.exp_year * 100 + OrgPaymentMethod.exp_month >= today.year * 100 + today.month))
    ).scalar_one()


def org_snapshot(config: OrgBillingConfig) -> dict:
    """The editable billing config as the audit log keeps it."""
    from ..audit import snapshot

    return snapshot(config, ORG_CONFIG_FIELDS)


def update_org_config(org_id: str, values: dict) -> list[str]:
    """Change an org's billing config (only the fields given) and audit before/after; returns the changed fields."""
    from ..audit import record_audit
    from ..models.types import utcnow

    config = get_org_config(org_id)
    if values.get("billing_entity_id") is not None and db.session.get(BillingEntity, values["billing_entity_id"]) is None:
        raise ValueError("that billing entity does not exist any more")
    before = org_snapshot(config)
    for field in ORG_CONFIG_FIELDS:
        if field in values:
            setattr(config, field, values[field])
    after = org_snapshot(config)
    changed = [f for f in ORG_CONFIG_FIELDS if before[f] != after[f]]
    if changed:
        config.updated_at = utcnow()
        record_audit("org.update", "org", org_id, before=before, after=after,
                     note="applies to invoices issued from now on")
        db.session.flush()
    return changed
