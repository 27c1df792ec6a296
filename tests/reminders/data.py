"""Test data shared by the reminder and billing-run tests: an entity ready for QR-bills and issued invoices."""

from __future__ import annotations

from datetime import datetime

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices
from pieced_admin.extensions import db
from pieced_admin.models import Invoice

from ..factories import default_entity, make_org, make_tenant, set_pricing, zurich


def ready_default_entity():
    """The seeded default entity (prefix PC) with what a QR-bill needs: an IBAN and an address."""
    entity = default_entity()
    entity.name, entity.iban, entity.email = "PieCed AG", "CH4431999123000889012", "billing@pieced.ch"
    entity.vat_number = "CHE-123.456.788 MWST"
    entity.street, entity.building_number, entity.postal_code, entity.city = "Bahnhofstrasse", "10", "8001", "Zürich"
    db.session.flush()
    return entity


def issued_invoice(org_id: str, *, period: Period = Period(2026, 10), issued: datetime | None = None,
                   auto_reminders: bool = True, language: str = "en", **org_fields) -> Invoice:
    """One org with one tenant for the whole month, its invoice issued (PDF stored); fee 49.00 + VAT 3.97 = 52.97.

    Issued on 1 November 2026 by default: due 1 December 2026 (30 days).
    """
    ready_default_entity()
    set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
    make_org(org_id, auto_reminders_enabled=auto_reminders, language=language, **org_fields)
    make_tenant(f"{org_id}-main", org_id, zurich(2026, 1, 5))
    result = issue_invoices(org_id, period, now=issued or zurich(2026, 11, 1, 6))
    (invoice,) = result.issued
    db.session.commit()
    return invoice
