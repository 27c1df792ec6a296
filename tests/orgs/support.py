"""Helpers shared by the tests of the configuration pages (pricing, entities, orgs)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from pieced_admin.models import AuditLog

HTMX = {"HX-Request": "true"}


def csrf_token(client) -> str:
    """The CSRF token the shell hands to htmx (the same one the forms carry)."""
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "the shell carries the CSRF token"
    return match.group(1)


class Poster:
    """POSTs with a valid CSRF token, as a browser form (or htmx) would send them."""

    def __init__(self, client):
        self.client = client
        self.token = csrf_token(client)

    def __call__(self, url: str, data: dict | None = None, *, htmx: bool = False, **kwargs):
        form = {"csrf_token": self.token, **(data or {})}
        headers = {"X-CSRFToken": self.token, **(HTMX if htmx else {}), **kwargs.pop("headers", {})}
        return self.client.post(url, data=form, headers=headers, **kwargs)


@pytest.fixture
def post(client):
    """`post(url, data, htmx=False)`: a form POST carrying the CSRF token (log in first)."""
    poster: list[Poster] = []

    def _post(*args, **kwargs):
        if not poster:  # the token is read after the login, which starts a new session
            poster.append(Poster(client))
        return poster[0](*args, **kwargs)

    return _post


def audit_entries(session, object_type: str, object_id: str | None = None) -> list[AuditLog]:
    query = sa.select(AuditLog).where(AuditLog.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditLog.object_id == str(object_id))
    return list(session.execute(query.order_by(AuditLog.id)).scalars())


def text(resp) -> str:
    return resp.get_data(as_text=True)


# --------------------------------------------------------------------------- factories

def make_org(session, org_id: str, **fields):
    """An org billing config (the database defaults for whatever is not given)."""
    from pieced_admin.models import OrgBillingConfig

    config = OrgBillingConfig(zitadel_org_id=org_id, **fields)
    session.add(config)
    session.flush()
    return config


def make_tenant(session, name: str, org_id: str, created_at, **fields):
    from pieced_admin.models import TenantLifecycle

    tenant = TenantLifecycle(tenant_name=name, zitadel_org_id=org_id, created_at=created_at, **fields)
    session.add(tenant)
    session.flush()
    return tenant


def default_entity_id(session) -> int:
    from pieced_admin.models import BillingEntity

    return session.execute(sa.select(BillingEntity.id).filter_by(is_default=True)).scalar_one()


def make_invoice(session, org_id: str, number: str, total, *, status: str = "issued", month: int = 10,
                 entity_id: int | None = None):
    """An invoice row as issuing leaves it (amounts only; no lines or PDF)."""
    from datetime import date, datetime, timezone
    from decimal import Decimal

    from pieced_admin.models import Invoice

    total = Decimal(total)
    invoice = Invoice(
        number=number, zitadel_org_id=org_id, billing_entity_id=entity_id or default_entity_id(session),
        period_start=date(2026, month, 1), period_end=date(2026, month, 28), status=status,
        issued_at=datetime(2026, month + 1, 2, 8, tzinfo=timezone.utc), due_date=date(2026, month + 1, 30),
        net_chf=total, vat_rate=Decimal("0"), vat_chf=Decimal("0"), total_chf=total,
        paid_at=datetime(2026, month + 1, 10, tzinfo=timezone.utc) if status == "paid" else None,
    )
    session.add(invoice)
    session.flush()
    if status == "paid":  # as the ledger has it: the payment that paid it
        from pieced_admin.models import Payment

        session.add(Payment(invoice_id=invoice.id, zitadel_org_id=org_id, amount_chf=total,
                            booked_on=date(2026, month + 1, 10), method="bank_transfer", source="manual",
                            source_id=f"test-paid-{number}", created_by="test"))
        session.flush()
    return invoice
