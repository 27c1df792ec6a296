"""Invoices in a given state, written directly (the list, the export and the dashboard read them as stored).

Amounts are given as net and VAT rate; VAT and total follow the rule of SPEC §3
(VAT = round(net × rate / 100, 2) half-up; total = net + VAT).
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pieced_admin.billing.days import Period
from pieced_admin.billing.money import q2
from pieced_admin.extensions import db
from pieced_admin.models import BillingEntity, Invoice, OrgBillingConfig, Payment

from ..factories import ZURICH, default_entity

_numbers = itertools.count(1)


def make_invoice(
    org: OrgBillingConfig | str,
    *,
    period: Period = Period(2026, 10),
    entity: BillingEntity | None = None,
    issued: date | datetime | None = None,
    due: date | None = None,
    net: str = "100.00",
    vat_rate: str = "8.10",
    status: str = "issued",
    paid_on: date | None = None,
    number: str | None = None,
    **fields,
) -> Invoice:
    """One stored invoice; `issued` is a local date (09:00 Zurich) or an aware datetime."""
    entity = entity or default_entity()
    org_id = org if isinstance(org, str) else org.zitadel_org_id
    if issued is None:
        issued = period.next().first_day + timedelta(days=2)
    issued_at = issued if isinstance(issued, datetime) else datetime.combine(issued, time(9), tzinfo=ZURICH)
    net_d = Decimal(net)
    vat = q2(net_d * Decimal(vat_rate) / 100)
    invoice = Invoice(
        number=number or f"{entity.invoice_prefix}-{period.year + 1 if period.month == 12 else period.year}-"
                         f"{next(_numbers):04d}",
        zitadel_org_id=org_id, billing_entity_id=entity.id,
        period_start=period.first_day, period_end=period.last_day, status=status,
        issued_at=issued_at, due_date=due or issued_at.astimezone(ZURICH).date() + timedelta(days=30),
        currency="CHF", net_chf=net_d, vat_rate=Decimal(vat_rate), vat_chf=vat, total_chf=net_d + vat,
        issued_by="monthly-run",
        customer_snapshot=fields.pop("customer_snapshot", None)
        or {"name": org_id if isinstance(org, str) else org.name, "org_id": org_id},
        **fields,
    )
    if status == "paid":
        paid_on = paid_on or issued_at.astimezone(ZURICH).date() + timedelta(days=5)
        invoice.paid_at = datetime.combine(paid_on, time(12), tzinfo=ZURICH)
        invoice.payment_method = fields.get("payment_method") or "bank_transfer"
        invoice.payment_reference = fields.get("payment_reference") or f"REF-{invoice.number}"
    if status == "void":
        invoice.voided_at = issued_at + timedelta(days=1)
        invoice.void_reason = "wrong address"
    db.session.add(invoice)
    db.session.flush()
    if status == "paid":  # as the ledger has it: the payment that paid it
        db.session.add(Payment(invoice_id=invoice.id, zitadel_org_id=org_id, amount_chf=invoice.total_chf,
                               booked_on=paid_on, method=invoice.payment_method,
                               reference=invoice.payment_reference, source="manual",
                               source_id=f"test-paid-{invoice.number}", created_by="test"))
        db.session.flush()
    return invoice
