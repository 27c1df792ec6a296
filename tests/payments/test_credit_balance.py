"""An org's credit balance is used by its next invoice: the PDF shows the credit and the amount due, the
QR-bill and the card charge are for the amount due, and the ledger moves the credit (nothing is lost).

The new invoice: October 2026, 49.00 + VAT 3.97 = 52.97. The earlier one: September, 100.00 + 8.10 = 108.10.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices, mark_paid
from pieced_admin.extensions import db
from pieced_admin.models import ChargeAttempt, Invoice, InvoiceDocument, Payment
from pieced_admin.payments import ledger

from ..factories import make_org, make_tenant, set_pricing, zurich
from ..invoices.support import make_invoice
from ..pdf_tools import decode_qr, pdf_text
from ..reminders.data import ready_default_entity

D = Decimal


def _org_with_credit(org_id: str, paid: str, **org_fields) -> Invoice:
    """The org, its tenant, and September's 108.10 paid with `paid` (the excess is its credit)."""
    ready_default_entity()
    set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
    make_org(org_id, **org_fields)
    make_tenant(f"{org_id}-main", org_id, zurich(2026, 1, 5))
    september = make_invoice(org_id, period=Period(2026, 9), issued=date(2026, 10, 2), number="PC-2026-0900")
    with clock.pinned("2026-10-20"):
        mark_paid(september.number, amount=D(paid))
    return september


def test_the_next_invoice_uses_the_credit_and_asks_for_the_rest(session):
    september = _org_with_credit("org-credit", "118.10")          # 10.00 to its credit
    assert ledger.org_credit_chf("org-credit") == D("10.00")
    (october,) = issue_invoices("org-credit", Period(2026, 10), now=zurich(2026, 11, 1, 6)).issued
    assert (october.total_chf, october.credit_applied_chf) == (D("52.97"), D("10.00"))
    assert ledger.balance_of(october).balance == D("42.97")       # 52.97 - 10.00
    assert october.status == "issued"
    assert ledger.org_credit_chf("org-credit") == D("0.00")
    assert ledger.balance_of(september).balance == D("0.00")
    moved = session.execute(sa.select(Payment.amount_chf, Payment.kind, Payment.invoice_id)
                            .where(Payment.kind == "credit_applied").order_by(Payment.id)).all()
    assert moved == [(D("-10.00"), "credit_applied", september.id), (D("10.00"), "credit_applied", october.id)]
    pdf = session.get(InvoiceDocument, october.id).content
    text = pdf_text(pdf)
    assert "Credit applied" in text and "-10.00" in text and "Amount due CHF" in text and "42.97" in text
    assert decode_qr(pdf)["amount"] == "42.97"


def test_a_credit_larger_than_the_invoice_pays_it_and_the_rest_stays(session):
    _org_with_credit("org-rich", "168.10")                       # 60.00 to its credit
    (october,) = issue_invoices("org-rich", Period(2026, 10), now=zurich(2026, 11, 1, 6)).issued
    assert (october.credit_applied_chf, october.status) == (D("52.97"), "paid")
    assert ledger.org_credit_chf("org-rich") == D("7.03")         # 60.00 - 52.97
    text = pdf_text(session.get(InvoiceDocument, october.id).content)
    assert "nothing is to be paid" in text


def test_a_card_org_is_charged_the_amount_due(on_fake, session):
    from pieced_admin.billing.collection import collect_after_issue
    from pieced_admin.payments.customers import ensure_customer

    from .conftest import LAST_MONTH, make_card_org

    org = make_card_org()
    september = make_invoice(org.zitadel_org_id, period=LAST_MONTH.previous(), number="PC-2026-0901",
                             issued=LAST_MONTH.first_day)
    session.commit()
    with clock.pinned(LAST_MONTH.last_day.isoformat()):
        mark_paid(september.number, amount=D("118.10"))           # 10.00 to its credit
    session.commit()
    customer_id = ensure_customer(org)
    on_fake.client().v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
    result = issue_invoices(org.zitadel_org_id, LAST_MONTH, render_pdfs=None)
    session.commit()
    (invoice,) = result.issued
    collect_after_issue(result.issued)
    (attempt,) = session.execute(sa.select(ChargeAttempt).filter_by(invoice_id=invoice.id)).scalars().all()
    assert attempt.amount_minor == 4297                            # 52.97 - 10.00 = 42.97
    pi = on_fake.payment_intents[attempt.stripe_payment_intent_id]
    assert pi["amount"] == 4297
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and ledger.balance_of(invoice).balance == D("0.00")
