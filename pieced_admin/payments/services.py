"""What pages and the dashboard read about card payments, and the services the routes call."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from .. import clock
from ..extensions import db
from ..integrations.stripe_pay import PaymentProviderError, StripeNotConfiguredError, is_configured
from ..models import ChargeAttempt, Invoice, OrgBillingConfig, OrgPaymentMethod
from .charging import ATTENTION_STATUSES, ChargeOutcome, charge_invoice, charge_new_invoice
from .customers import create_setup_link, ensure_customer, find_org, sync_payment_methods

__all__ = [
    "card_orgs_without_payment_method", "charge_attempts_for", "payment_methods_for", "charge_button_label",
    "charge_needs_attention", "is_configured", "ensure_customer", "sync_payment_methods", "create_setup_link",
    "charge_invoice", "charge_new_invoice", "ChargeOutcome", "find_org", "PaymentProviderError",
    "StripeNotConfiguredError", "ATTENTION_STATUSES",
]


def card_orgs_without_payment_method(today: date | None = None) -> list[OrgBillingConfig]:
    """Card orgs (not paying by invoice) without a mirrored, unexpired card: one query."""
    today = today or clock.today()
    usable = (
        sa.select(OrgPaymentMethod.id)
        .where(OrgPaymentMethod.zitadel_org_id == OrgBillingConfig.zitadel_org_id)
        .where(sa.or_(
            OrgPaymentMethod.exp_year.is_(None),
            OrgPaymentMethod.exp_year * 100 + OrgPaymentMethod.exp_month >= today.year * 100 + today.month,
        ))
    )
    return list(db.session.execute(
        sa.select(OrgBillingConfig)
        .where(sa.not_(OrgBillingConfig.pay_by_invoice))
        .where(~sa.exists(usable))
        .order_by(OrgBillingConfig.display_name, OrgBillingConfig.zitadel_org_id)
    ).scalars())


def charge_attempts_for(invoice: Invoice) -> list[ChargeAttempt]:
    """The invoice's charge attempts, first to last."""
    return list(db.session.execute(
        sa.select(ChargeAttempt).where(ChargeAttempt.invoice_id == invoice.id).order_by(ChargeAttempt.attempt)
    ).scalars())


def payment_methods_for(org: OrgBillingConfig) -> list[OrgPaymentMethod]:
    """The org's mirrored cards, default first."""
    return list(db.session.execute(
        sa.select(OrgPaymentMethod).where(OrgPaymentMethod.zitadel_org_id == org.zitadel_org_id)
        .order_by(OrgPaymentMethod.is_default.desc(), OrgPaymentMethod.id)
    ).scalars())


def charge_button_label(invoice: Invoice, attempts: list[ChargeAttempt]) -> str | None:
    """"Charge card", "Retry charge", or None when no charge button belongs on the invoice."""
    if invoice.status != "issued" or invoice.charge_status in (None, "succeeded"):
        return None
    if attempts and attempts[-1].status in ("failed", "canceled"):
        return "Retry charge"
    return "Charge card"


def charge_needs_attention(invoice: Invoice) -> bool:
    """An issued card invoice whose charge needs a person (no card, declined, error, ...)."""
    return invoice.status == "issued" and invoice.charge_status in ATTENTION_STATUSES


def chf_from_minor(amount_minor: int) -> Decimal:
    """Rappen back to CHF, exactly: 16080 -> 160.80."""
    return (Decimal(amount_minor) / 100).quantize(Decimal("0.01"))


def template_helpers() -> dict:
    """Functions the payments partials call (registered as Jinja globals by the blueprint)."""
    return {
        "stripe_configured": is_configured,
        "charge_attempts_for": charge_attempts_for,
        "org_payment_methods_for": payment_methods_for,
        "charge_button_label": charge_button_label,
        "charge_needs_attention": charge_needs_attention,
        "chf_from_minor": chf_from_minor,
    }
