"""One invoice: its page, the stored PDF byte for byte, the timeline, and mark paid / void through the page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices, local_today
from pieced_admin.models import AuditLog, ChargeAttempt, Invoice, InvoiceDocument, InvoiceReminder

from ..factories import ZURICH, make_org, spec_example, zurich
from ..orgs.support import Poster
from .support import make_invoice

HTMX = {"HX-Request": "true"}


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def open_invoice(session):
    """An issued invoice, 10 days overdue: net 200.00, VAT 8.10 % = 16.20, total 216.20."""
    today = local_today()
    org = make_org("org-acme", display_name="Acme Treuhand AG")
    invoice = make_invoice(org, number="PC-2026-0042", issued=today - timedelta(days=40),
                           due=today - timedelta(days=10), net="200.00")
    session.commit()  # a request that rolls its own work back must not take the test's data with it
    return invoice


def audit(session, number):
    return [a.action for a in session.execute(
        sa.select(AuditLog).where(AuditLog.object_id == number).order_by(AuditLog.id)).scalars()]


# --------------------------------------------------------------------------- the PDF


def test_the_pdf_is_the_stored_bytes_every_time_with_its_sha256_as_etag(finance_client, session):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3, 9)).issued  # real PDF
    stored = session.execute(sa.select(InvoiceDocument).filter_by(invoice_id=invoice.id)).scalar_one()
    first = finance_client.get(f"/invoices/{invoice.number}/pdf")
    second = finance_client.get(f"/invoices/{invoice.number}/pdf")
    assert first.status_code == second.status_code == 200
    assert first.mimetype == "application/pdf"
    assert first.data == second.data == stored.content
    assert hashlib.sha256(first.data).hexdigest() == invoice.pdf_sha256 == stored.sha256
    assert first.headers["ETag"] == f'"{invoice.pdf_sha256}"'
    assert first.headers["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    inline = finance_client.get(f"/invoices/{invoice.number}/pdf?inline=1")
    assert inline.headers["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert inline.data == stored.content
    # A browser that has it already gets "not modified" and no body.
    again = finance_client.get(f"/invoices/{invoice.number}/pdf", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_no_stored_pdf_is_a_clear_404(finance_client, open_invoice):
    resp = finance_client.get(f"/invoices/{open_invoice.number}/pdf")
    assert resp.status_code == 404
    assert f"No PDF is stored for invoice {open_invoice.number}" in text(resp)
    assert finance_client.get("/invoices/PC-1999-9999/pdf").status_code == 404
    assert "No invoice has the number" in text(finance_client.get("/invoices/PC-1999-9999"))


# --------------------------------------------------------------------------- the page


def test_the_page_shows_header_lines_totals_and_actions(finance_client, session):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3, 9, 30),
                                render_pdfs=lambda invs: [b"%PDF-1.4 test" for _ in invs]).issued
    html = text(finance_client.get(f"/invoices/{invoice.number}"))
    assert f"Invoice {invoice.number}" in html
    assert "03.11.2026 09:30" in html                      # issued at, local time
    assert "03.12.2026" in html                            # due: issued 3.11. + 30 days
    assert "acme-main" in html and "Threema" in html
    # SPEC §3's example without LiteLLM (not configured here: no llm line):
    # net 99.00 + 28.45 + 1.80 + 6.17 = 135.42; VAT 135.42 × 8.10 % = 10.969… → 10.97; total 146.39
    assert "135.42" in html and "VAT 8.10 %" in html and "10.97" in html and "146.39" in html
    assert f'/invoices/{invoice.number}/pdf?inline=1' in html and "Download PDF" in html
    assert 'id="invoice-state"' in html
    assert "Mark paid" in html and "Void this invoice" in html
    assert "Issued</strong>" in html


def test_abroad_invoices_show_the_note_instead_of_vat(finance_client, session):
    org = make_org("org-isar", country="DE")
    make_invoice(org, number="PC-2026-0077", net="100.00", vat_rate="0.00",
                 vat_note="Place of supply abroad — not subject to Swiss VAT")
    html = text(finance_client.get("/invoices/PC-2026-0077"))
    assert "Place of supply abroad — not subject to Swiss VAT" in html
    assert "VAT 0.00 %" not in html


def test_the_timeline_tells_reminders_charges_and_payment(finance_client, session, open_invoice):
    today = local_today()
    session.add(InvoiceReminder(invoice_id=open_invoice.id, level=1, sent_at=zurich(today.year, today.month, today.day, 8),
                                sent_to="accounts@acme.example", status="sent"))
    session.add(ChargeAttempt(invoice_id=open_invoice.id, attempt=1, idempotency_key="k1", amount_minor=21620,
                              status="failed", error="Your card was declined.", requested_by="monthly-run"))
    session.flush()
    html = text(finance_client.get(f"/invoices/{open_invoice.number}"))
    assert "Reminder 1 sent" in html and "accounts@acme.example" in html
    assert "Card charge 1: failed" in html and "Your card was declined." in html and "CHF 216.20" in html
    assert "by monthly-run" in html
    assert "10 days overdue" in html


def test_paid_and_void_invoices_offer_no_actions(finance_client, session):
    org = make_org("org-acme")
    paid = make_invoice(org, number="PC-2026-0050", status="paid", period=Period(2026, 8))
    void = make_invoice(org, number="PC-2026-0051", status="void", period=Period(2026, 7))
    for inv in (paid, void):
        html = text(finance_client.get(f"/invoices/{inv.number}"))
        assert "mark-paid" not in html and "/void" not in html
    assert "REF-PC-2026-0050" in text(finance_client.get("/invoices/PC-2026-0050"))
    assert "wrong address" in text(finance_client.get("/invoices/PC-2026-0051"))


# --------------------------------------------------------------------------- mark paid


def test_finance_marks_paid_through_the_page(finance_client, session, open_invoice):
    post = Poster(finance_client)
    today = local_today()
    paid_on = today - timedelta(days=2)
    resp = post(f"/invoices/{open_invoice.number}/mark-paid",
                {"paid_on": paid_on.isoformat(), "method": "bank_transfer", "reference": " ZKB 2026-1234 "}, htmx=True)
    assert resp.status_code == 200
    html = text(resp)
    assert html.lstrip().startswith('<div id="invoice-state">')
    assert f"Invoice {open_invoice.number} is marked paid" in html
    assert "ZKB 2026-1234" in html and "mark-paid" not in html  # no second "Mark paid"
    invoice = session.get(Invoice, open_invoice.id)
    session.refresh(invoice)
    assert invoice.status == "paid"
    assert invoice.paid_at.astimezone(ZURICH).date() == paid_on
    assert invoice.payment_reference == "ZKB 2026-1234" and invoice.payment_method == "bank_transfer"
    assert invoice.paid_by == "finance@pieced.local"
    assert audit(session, open_invoice.number) == ["invoice.mark_paid"]


def test_mark_paid_without_htmx_redirects_with_a_message(finance_client, session, open_invoice):
    post = Poster(finance_client)
    resp = post(f"/invoices/{open_invoice.number}/mark-paid",
                {"paid_on": local_today().isoformat(), "method": "other", "reference": ""})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/invoices/{open_invoice.number}")
    page = text(finance_client.get(resp.headers["Location"]))
    assert f"Invoice {open_invoice.number} is marked paid" in page


def test_mark_paid_twice_says_already_paid_and_changes_nothing(admin_client, session, open_invoice):
    post = Poster(admin_client)
    url = f"/invoices/{open_invoice.number}/mark-paid"
    first = post(url, {"paid_on": local_today().isoformat(), "method": "bank_transfer", "reference": "A"}, htmx=True)
    assert first.status_code == 200
    paid_at = session.get(Invoice, open_invoice.id).paid_at
    second = post(url, {"paid_on": local_today().isoformat(), "method": "card", "reference": "B"}, htmx=True)
    assert second.status_code == 200  # htmx swaps it in: the message is shown where the form was
    assert f"Invoice {open_invoice.number} is already paid" in text(second)
    session.expire_all()
    invoice = session.get(Invoice, open_invoice.id)
    assert (invoice.paid_at, invoice.payment_reference, invoice.payment_method) == (paid_at, "A", "bank_transfer")
    assert audit(session, open_invoice.number) == ["invoice.mark_paid"]


@pytest.mark.parametrize("data,message", [
    ({"paid_on": "", "method": "bank_transfer"}, "Enter the day the payment arrived."),
    ({"paid_on": "2999-01-01", "method": "bank_transfer"}, "is in the future"),
    ({"paid_on": "2000-01-01", "method": "bank_transfer"}, "is before the invoice was issued"),
    ({"paid_on": "2026-11-01", "method": "bitcoin"}, "Not a valid choice"),
])
def test_a_bad_payment_is_shown_next_to_the_form_and_changes_nothing(finance_client, session, open_invoice,
                                                                     data, message):
    post = Poster(finance_client)
    resp = post(f"/invoices/{open_invoice.number}/mark-paid", data)
    assert resp.status_code == 422
    html = text(resp)
    assert message in html
    assert re.search(r'<form method="post" action="/invoices/PC-2026-0042/mark-paid"', html)
    session.expire_all()
    assert session.get(Invoice, open_invoice.id).status == "issued"
    assert audit(session, open_invoice.number) == []


# --------------------------------------------------------------------------- void


def test_void_needs_a_reason(finance_client, session, open_invoice):
    post = Poster(finance_client)
    resp = post(f"/invoices/{open_invoice.number}/void", {"reason": "   "}, htmx=True)
    assert resp.status_code == 200
    assert "Give the reason for voiding this invoice." in text(resp)
    session.expire_all()
    assert session.get(Invoice, open_invoice.id).status == "issued"
    assert audit(session, open_invoice.number) == []


def test_finance_voids_with_a_reason_and_cannot_void_twice(finance_client, session, open_invoice):
    post = Poster(finance_client)
    url = f"/invoices/{open_invoice.number}/void"
    resp = post(url, {"reason": "Wrong billing address; reissued"}, htmx=True)
    html = text(resp)
    assert f"Invoice {open_invoice.number} is void" in html and "Wrong billing address; reissued" in html
    session.expire_all()
    invoice = session.get(Invoice, open_invoice.id)
    assert (invoice.status, invoice.void_reason, invoice.voided_by) == (
        "void", "Wrong billing address; reissued", "finance@pieced.local")
    again = post(url, {"reason": "again"}, htmx=True)
    assert f"Invoice {open_invoice.number} is already void" in text(again)
    assert audit(session, open_invoice.number) == ["credit_note.issue", "invoice.void"]  # its cancellation credit note


def test_a_paid_invoice_cannot_be_voided(admin_client, session):
    paid = make_invoice(make_org("org-acme"), number="PC-2026-0060", status="paid")
    session.commit()
    resp = Poster(admin_client)(f"/invoices/{paid.number}/void", {"reason": "oops"})
    assert resp.status_code == 422
    assert "is paid and cannot be voided" in text(resp)
    session.expire_all()
    assert session.get(Invoice, paid.id).status == "paid"
    assert session.get(Invoice, paid.id).total_chf == Decimal("108.10")


def test_someone_without_a_role_cannot_mark_paid(client, login, session, open_invoice):
    login("nobody")
    resp = Poster(client)(f"/invoices/{open_invoice.number}/mark-paid",
                          {"paid_on": local_today().isoformat(), "method": "bank_transfer"})
    assert resp.status_code == 403
    session.expire_all()
    assert session.get(Invoice, open_invoice.id).status == "issued"
