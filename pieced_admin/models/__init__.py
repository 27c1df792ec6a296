"""SQLAlchemy models, one module per area; importing this package registers them all."""

from .audit import AuditLog, BillingRun, StripeEvent, User
from .credit_notes import (
    CreditNote,
    CreditNoteDocument,
    CreditNoteEmail,
    CreditNoteLine,
    CreditNoteNumberCounter,
    PriceVersion,
)
from .entities import BillingEntity
from .invoices import (
    ChargeAttempt,
    Invoice,
    InvoiceDocument,
    InvoiceEmail,
    InvoiceLine,
    InvoiceNumberCounter,
    InvoiceReminder,
)
from .orgs import OrgBillingConfig, OrgPaymentMethod
from .payments import Payment
from .pricing import PlatformPricing, SkillPricing
from .sessions import UserSession
from .tenants import TenantLifecycle, TenantSkillEvent, TenantSuspensionEvent, TenantUsage

__all__ = [
    "AuditLog", "BillingEntity", "BillingRun", "ChargeAttempt", "CreditNote", "CreditNoteDocument",
    "CreditNoteEmail", "CreditNoteLine", "CreditNoteNumberCounter", "PriceVersion", "Invoice", "InvoiceDocument",
    "InvoiceEmail", "InvoiceLine", "InvoiceNumberCounter", "InvoiceReminder", "OrgBillingConfig",
    "OrgPaymentMethod", "Payment", "PlatformPricing", "SkillPricing", "StripeEvent", "TenantLifecycle",
    "TenantSkillEvent", "TenantSuspensionEvent", "TenantUsage", "User", "UserSession",
]
