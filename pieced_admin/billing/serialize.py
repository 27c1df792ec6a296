"""The JSON shape of SPEC §5: decimals as strings, dates ISO."""

from __future__ import annotations

from ..models import BillingEntity, Invoice
from .engine import InvoiceDraft
from .money import fmt_amount, fmt_price, fmt_quantity


def _line(tenant, kind, skill_id, description, quantity, unit_price, amount) -> dict:
    return {
        "tenant": tenant,
        "kind": kind,
        "skill_id": skill_id,
        "description": description,
        "quantity": fmt_quantity(quantity),
        "unit_price_chf": fmt_price(unit_price),
        "amount_chf": fmt_amount(amount),
    }


def draft_json(draft: InvoiceDraft, entity: BillingEntity, *, warnings: list[str] | None = None) -> dict:
    """A computed, unsaved invoice."""
    return {
        "number": None,
        "org": draft.org_id,
        "billing_entity": entity.code,
        "period": draft.period.key,
        "currency": draft.currency,
        "status": "preview",
        "lines": [_line(l.tenant_name, l.kind, l.skill_id, l.description, l.quantity, l.unit_price_chf,
                        l.amount_chf) for l in draft.lines],
        "net_chf": fmt_amount(draft.net_chf),
        "vat_rate": fmt_amount(draft.vat_rate),
        "vat_chf": fmt_amount(draft.vat_chf),
        "total_chf": fmt_amount(draft.total_chf),
        "due_date": None,
        "warnings": list(draft.warnings) + list(warnings or []),
    }


def invoice_json(invoice: Invoice, *, warnings: list[str] | None = None) -> dict:
    """An issued (or paid, or void) invoice."""
    return {
        "number": invoice.number,
        "org": invoice.zitadel_org_id,
        "billing_entity": invoice.entity.code,
        "period": invoice.period_key,
        "currency": invoice.currency,
        "status": invoice.status,
        "lines": [_line(l.tenant_name, l.kind, l.skill_id, l.description, l.quantity, l.unit_price_chf,
                        l.amount_chf) for l in invoice.lines],
        "net_chf": fmt_amount(invoice.net_chf),
        "vat_rate": fmt_amount(invoice.vat_rate),
        "vat_chf": fmt_amount(invoice.vat_chf),
        "total_chf": fmt_amount(invoice.total_chf),
        "due_date": invoice.due_date.isoformat(),
        "warnings": list(warnings or []),
    }
