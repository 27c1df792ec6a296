"""Billing entities: create and change them (one default, unique codes and prefixes), and who they bill.

Services flush; the route commits. An entity's details are copied onto each
invoice when it is issued, so a change here affects invoices issued afterwards
only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..audit import record_audit, snapshot
from ..extensions import db
from ..models import BillingEntity, Invoice, TenantLifecycle
from ..models.types import utcnow

ENTITY_FIELDS = (
    "code", "name", "street", "building_number", "postal_code", "city", "country", "vat_number", "iban",
    "invoice_prefix", "currency", "is_default", "email", "website",
    "account_debtors", "account_revenue", "account_vat_payable", "account_bank",
)
COVERAGE_SHOWN = 12


class EntityInputError(ValueError):
    """A value that clashes with another entity; `field` names the form field to show it next to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Coverage:
    """Whom an entity bills: orgs (by their own choice or as the default) and tenants moved to it."""

    org_count: int = 0
    orgs: list = field(default_factory=list)  # (org id, name), the first COVERAGE_SHOWN by name
    tenant_count: int = 0
    tenants: list = field(default_factory=list)  # (tenant name, org id)


def list_entities() -> list[BillingEntity]:
    """Every billing entity, the default first, then by name."""
    return list(db.session.execute(
        sa.select(BillingEntity).order_by(BillingEntity.is_default.desc(), BillingEntity.name)
    ).scalars())


def get_entity(entity_id: int) -> BillingEntity | None:
    """The entity with this id, or None."""
    return db.session.get(BillingEntity, entity_id)


def entity_coverage(entity_ids: list[int] | None = None, shown: int = COVERAGE_SHOWN) -> dict[int, Coverage]:
    """Per entity, the orgs and tenants it bills, in two statements whatever the number of entities or orgs."""
    from ..orgs.services import all_orgs, default_entity_id

    entities = list_entities()
    default_id = default_entity_id(entities)
    coverage = {e.id: Coverage() for e in entities if entity_ids is None or e.id in entity_ids}
    if not coverage:
        return coverage

    orgs = all_orgs()
    billed_by = sa.func.coalesce(orgs.c.billing_entity_id, default_id)
    name = sa.func.coalesce(orgs.c.display_name, orgs.c.org_id)
    ranked = sa.select(
        billed_by.label("entity_id"), orgs.c.org_id, name.label("name"),
        sa.func.row_number().over(partition_by=billed_by, order_by=(sa.func.lower(name), orgs.c.org_id)).label("rank"),
        sa.func.count().over(partition_by=billed_by).label("total"),
    ).where(billed_by.in_(list(coverage))).subquery()
    for entity_id, org_id, org_name, _rank, total in db.session.execute(
        sa.select(ranked).where(ranked.c.rank <= shown).order_by(ranked.c.entity_id, ranked.c.rank)
    ):
        entry = coverage[entity_id]
        entry.org_count = total
        entry.orgs.append((org_id, org_name))

    tenants = sa.select(
        TenantLifecycle.billing_entity_id.label("entity_id"), TenantLifecycle.tenant_name,
        TenantLifecycle.zitadel_org_id,
        sa.func.row_number().over(partition_by=TenantLifecycle.billing_entity_id,
                                  order_by=TenantLifecycle.tenant_name).label("rank"),
        sa.func.count().over(partition_by=TenantLifecycle.billing_entity_id).label("total"),
    ).where(TenantLifecycle.billing_entity_id.in_(list(coverage)), TenantLifecycle.deleted_at.is_(None)).subquery()
    for entity_id, tenant_name, org_id, _rank, total in db.session.execute(
        sa.select(tenants).where(tenants.c.rank <= shown).order_by(tenants.c.entity_id, tenants.c.rank)
    ):
        entry = coverage[entity_id]
        entry.tenant_count = total
        entry.tenants.append((tenant_name, org_id))
    return coverage


def _check_unique(entity: BillingEntity | None, values: dict) -> None:
    others = sa.select(BillingEntity)
    if entity is not None and entity.id is not None:
        others = others.where(BillingEntity.id != entity.id)
    code = values["code"]
    clash = db.session.execute(others.where(sa.func.lower(BillingEntity.code) == code.lower())).scalars().first()
    if clash is not None:
        raise EntityInputError("code", f"{code} is the code of {clash.name} already: choose another.")
    prefix = values["invoice_prefix"]
    clash = db.session.execute(
        others.where(sa.func.upper(BillingEntity.invoice_prefix) == prefix.upper())
    ).scalars().first()
    if clash is not None:
        raise EntityInputError("invoice_prefix", f"{prefix} is the invoice prefix of {clash.name} already: "
                                                 "each entity needs its own, so invoice numbers never repeat.")
    # A prefix another entity used before keeps its numbers: taking it over could repeat one.
    used = sa.select(Invoice.number).where(Invoice.number.like(f"{prefix}-%"))
    if entity is not None and entity.id is not None:
        used = used.where(Invoice.billing_entity_id != entity.id)
    number = db.session.execute(used.limit(1)).scalar()
    if number is not None:
        raise EntityInputError("invoice_prefix", f"Invoices numbered {prefix}-… exist already (e.g. {number}) from "
                                                 "another entity: choose another prefix.")


def _make_default(entity: BillingEntity) -> None:
    """Unset every other default first (the database allows one), then set this one."""
    for other in db.session.execute(
        sa.select(BillingEntity).where(BillingEntity.is_default.is_(True), BillingEntity.id != entity.id)
    ).scalars():
        other.is_default = False
        record_audit("entity.update", "billing_entity", other.id, before={"is_default": True},
                     after={"is_default": False}, note=f"{entity.code} became the default entity")
    db.session.flush()
    entity.is_default = True


def create_entity(values: dict) -> BillingEntity:
    """A new billing entity; the first one, or one marked default, becomes the default. Audited."""
    _check_unique(None, values)
    first = db.session.execute(sa.select(sa.func.count()).select_from(BillingEntity)).scalar_one() == 0
    make_default = bool(values.get("is_default")) or first
    entity = BillingEntity(**{k: v for k, v in values.items() if k in ENTITY_FIELDS and k != "is_default"})
    entity.is_default = False
    db.session.add(entity)
    db.session.flush()
    if make_default:
        _make_default(entity)
    db.session.flush()
    record_audit("entity.create", "billing_entity", entity.id, after=snapshot(entity, ENTITY_FIELDS))
    return entity


def update_entity(entity: BillingEntity, values: dict) -> list[str]:
    """Change an entity (for invoices issued from now on); audited with before/after. Returns the changed fields."""
    _check_unique(entity, values)
    if entity.is_default and values.get("is_default") is False:
        raise EntityInputError("is_default", "One entity is always the default: to change it, make another "
                                             "entity the default.")
    before = snapshot(entity, ENTITY_FIELDS)
    for key in ENTITY_FIELDS:
        if key in values and key != "is_default":
            setattr(entity, key, values[key])
    if values.get("is_default") and not entity.is_default:
        _make_default(entity)
    after = snapshot(entity, ENTITY_FIELDS)
    changed = [k for k in ENTITY_FIELDS if before[k] != after[k]]
    if changed:
        entity.updated_at = utcnow()
        record_audit("entity.update", "billing_entity", entity.id, before=before, after=after,
                     note="applies to invoices issued from now on")
    db.session.flush()
    return changed
