"""Org billing configuration: read (created with defaults on first read) and update."""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import BillingEntity, OrgBillingConfig


def get_org_config(org_id: str) -> OrgBillingConfig:
    """The org's billing config, created with the database defaults on first read."""
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=org_id)
    ).scalar_one_or_none()
    if config is not None:
        return config
    # Insert-if-absent that is safe when two requests read a new org at once.
    table = OrgBillingConfig.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(table).values(zitadel_org_id=org_id).on_conflict_do_nothing())
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
