"""The credit notes on the invoice pages: finance credits with a reason and a preview; the credit note's page
and stored PDF; a voided invoice names its cancellation credit note; a re-issue names what it replaces."""

from __future__ import annotations

import hashlib
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices, void_invoice
from pieced_admin.models import AuditLog, CreditNote, CreditNoteDocument, InvoiceDocument

from ..factories import spec_example, zurich
from ..orgs.support import Poster
from ..pdf_tools import pdf_text

OCT = Period(2026, 10)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fake_pdf(invoices):
    return [f"%PDF-1.4 {inv.number} {inv.total_chf}".encode() for inv in invoices]


@pytest.fixture
def invoice(session):
    # 99.00 + 28.45 + 1.80 + 6.17 = 135.42 net, VAT 10.97, total 146.39 (the worked example without LLM).
    spec_example()
    (inv,) = issue_invoices("org-acme", OCT, now=zurich(2026, 11, 3, 9), render_pdfs=fake_pdf).issued
    session.commit()
    return inv


def test_finance_previews_then_credits_an_amount(finance_client, session, invoice):
    post = Poster(finance_client)
    page = text(finance_client.get(f"/invoices/{invoice.number}"))
    assert "No credit notes." in page and "Balance CHF 146.39" in page and "Credit this invoice" in page

    form = {"mode": "amount", "amount": "20.00", "reason": "Outage on 12.10.2026"}
    preview = post(f"/invoices/{invoice.number}/credit/preview", form, htmx=True)
    assert preview.status_code == 200
    # 20.00 net, VAT round(20 × 8.1 / 100 = 1.62) = 1.62, total 21.62; 115.42 net and 9.35 VAT remain.
    body = text(preview)
    assert "-21.62" in body and "Remaining afterwards: net 115.42, VAT 9.35" in body
    assert session.execute(sa.select(sa.func.count()).select_from(CreditNote)).scalar_one() == 0  # nothing written

    done = post(f"/invoices/{invoice.number}/credit", form)
    assert done.status_code == 302
    note = session.execute(sa.select(CreditNote)).scalar_one()
    assert done.headers["Location"].endswith(f"/credit-notes/{note.number}")
    assert (note.number, note.total_chf, note.issued_by) == ("PC-CN-2026-0001", D("21.62"), "finance@pieced.local")
    assert session.execute(sa.select(AuditLog.actor).where(AuditLog.action == "credit_note.issue")
                           ).scalar_one() == "finance@pieced.local"

    page = text(finance_client.get(f"/invoices/{invoice.number}"))
    assert "PC-CN-2026-0001" in page and "Outage on 12.10.2026" in page and "Balance CHF 124.77" in page
    assert "CHF 21.62: Outage on 12.10.2026" in page  # in the timeline too

    own = text(finance_client.get(f"/credit-notes/{note.number}"))
    assert "Credit note PC-CN-2026-0001" in own and invoice.number in own and "-21.62" in own
    pdf = finance_client.get(f"/credit-notes/{note.number}/pdf")
    stored = session.get(CreditNoteDocument, note.id)
    assert pdf.status_code == 200 and pdf.data == stored.content
    assert hashlib.sha256(pdf.data).hexdigest() == note.pdf_sha256
    assert "Outage on 12.10.2026" in pdf_text(pdf.data)


def test_credit_by_lines_and_errors_next_to_the_form(admin_client, session, invoice):
    post = Poster(admin_client)
    threema = next(l for l in invoice.lines if l.kind == "threema")
    no_reason = post(f"/invoices/{invoice.number}/credit", {"mode": "full", "reason": " "})
    assert no_reason.status_code == 422 and "Give the reason for the credit note" in text(no_reason)
    too_much = post(f"/invoices/{invoice.number}/credit", {"mode": "amount", "amount": "500", "reason": "x"})
    assert too_much.status_code == 422 and "exceeds what remains to credit on the invoice (135.42)" in text(too_much)
    no_lines = post(f"/invoices/{invoice.number}/credit", {"mode": "lines", "reason": "x"})
    assert no_lines.status_code == 422 and "Choose at least one line" in text(no_lines)
    assert session.execute(sa.select(sa.func.count()).select_from(CreditNote)).scalar_one() == 0

    done = post(f"/invoices/{invoice.number}/credit", {"mode": "lines", "lines": str(threema.id),
                                                       "reason": "Threema counted twice"})
    assert done.status_code == 302
    note = session.execute(sa.select(CreditNote)).scalar_one()
    # 6.17 net, VAT round(0.49977) = 0.50.
    assert (note.net_chf, note.vat_chf, [l.invoice_line_id for l in note.lines]) == (D("6.17"), D("0.50"),
                                                                                   [threema.id])


def test_a_voided_invoice_names_its_cancellation_and_the_re_issue_names_what_it_replaces(finance_client, session,
                                                                                         invoice):
    void_invoice(invoice.number, "Wrong billing address", now=zurich(2026, 11, 5, 10))
    session.commit()
    page = text(finance_client.get(f"/invoices/{invoice.number}"))
    assert "This invoice is void: cancelled by credit note" in page and "PC-CN-2026-0001" in page
    stored = session.execute(sa.select(InvoiceDocument).filter_by(invoice_id=invoice.id)).scalar_one()
    download = finance_client.get(f"/invoices/{invoice.number}/pdf")
    assert download.data == stored.content  # the bytes as issued; the download says it is void
    assert download.headers["X-Invoice-Status"] == "void; cancelled by PC-CN-2026-0001"
    assert download.headers["Content-Disposition"] == f'attachment; filename="{invoice.number}-VOID.pdf"'

    (again,) = issue_invoices("org-acme", OCT, now=zurich(2026, 11, 6, 9)).issued  # real PDF
    session.commit()
    assert again.replaces_invoice_id == invoice.id
    # No event changed: exactly the voided invoice's lines and amounts.
    assert [(l.kind, l.quantity, l.unit_price_chf, l.amount_chf) for l in again.lines] == [
        (l.kind, l.quantity, l.unit_price_chf, l.amount_chf) for l in invoice.lines]
    assert (again.net_chf, again.vat_chf, again.total_chf) == (invoice.net_chf, invoice.vat_chf, invoice.total_chf)
    page = text(finance_client.get(f"/invoices/{again.number}"))
    assert f"Replaces invoice <a href=\"/invoices/{invoice.number}\">{invoice.number}</a>" in page
    assert "Replaced by" in text(finance_client.get(f"/invoices/{invoice.number}"))
    pdf = session.execute(sa.select(InvoiceDocument).filter_by(invoice_id=again.id)).scalar_one().content
    assert f"Replaces invoice {invoice.number}" in " ".join(pdf_text(pdf).split())


def test_the_credit_form_is_for_finance_and_admins_only(client, login, session, invoice):
    login("nobody")
    assert client.get(f"/invoices/{invoice.number}/credit").status_code == 403


def test_the_list_and_the_csv_show_what_is_credited_and_the_balance(finance_client, session, invoice):
    from pieced_admin.billing.credit_notes import issue_credit_note

    issue_credit_note(invoice.number, "Goodwill", amount=D("20.00"), render_pdf=False)  # 20.00 + 1.62 VAT
    session.commit()
    listing = text(finance_client.get("/invoices"))
    assert ">21.62<" in listing and ">124.77<" in listing  # credited, and 146.39 − 21.62
    import csv
    import io

    (row,) = list(csv.DictReader(io.StringIO(finance_client.get("/invoices.csv").get_data(as_text=True))))
    assert (row["credited_chf"], row["balance_chf"], row["credit_notes"]) == ("21.62", "124.77", "PC-CN-2026-0001")
