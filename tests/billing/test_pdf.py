"""Invoice and reminder PDFs, read back with pdftotext and the QR code decoded with zxing-cpp.

The invoices are transient (no database): rendering must work from the
invoice's own fields and snapshots alone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from flask import Flask
from stdnum import iso11649
from stdnum.ch import esr

from pieced_admin.billing import pdf as pdfmod
from pieced_admin.billing.pdf import (
    PdfRenderError,
    html_to_pdf,
    render_invoice_html,
    render_invoice_pdf,
    render_reminder_html,
    render_reminder_pdf,
)
from pieced_admin.billing.qr import payment_reference
from pieced_admin.models import Invoice, InvoiceLine

from ..pdf_tools import decode_qr, pdf_page_texts, pdf_pages, pdf_text, pdf_words, save_pngs

QR_IBAN = "CH4431999123000889012"
PLAIN_IBAN = "CH93 0076 2011 6238 5295 7"
ABROAD = "Place of supply abroad — not subject to Swiss VAT"
A4_HEIGHT_PT = 841.89
SCISSORS_LINE_PT = A4_HEIGHT_PT - 105 * 72 / 25.4  # the payment part is the bottom 105 mm

ENTITY = {
    "code": "pieced-ch", "name": "PieCed AG", "street": "Bahnhofstrasse", "building_number": "1",
    "postal_code": "8001", "city": "Zürich", "country": "CH", "vat_number": "CHE-123.456.788 MWST",
    "iban": QR_IBAN, "currency": "CHF", "email": "billing@pieced.ch", "website": "www.pieced.ch",
}
CUSTOMER_CH = {
    "org_id": "org-acme", "name": "ACME Swiss AG", "street": "Musterstrasse", "building_number": "5",
    "postal_code": "3000", "city": "Bern", "country": "CH", "vat_number": "CHE-987.654.321 MWST",
    "billing_email": "ap@acme.ch", "language": "en",
}
CUSTOMER_DE = {
    "org_id": "org-bavaria", "name": "Bavaria Robotics GmbH", "street": "Leopoldstrasse", "building_number": "12a",
    "postal_code": "80802", "city": "München", "country": "DE", "vat_number": "DE123456789",
    "billing_email": "rechnung@bavaria.example", "language": "en",
}

# The worked example of SPEC §3 (October 2026): net 148.75, VAT 12.05, total 160.80.
EXAMPLE_LINES = [
    ("setup_fee", None, "Setup fee", D("1"), D("99.00"), D("99.00")),
    ("monthly_fee", None, "Monthly fee (18 of 31 days)", D("18"), D("49.00"), D("28.45")),
    ("skill", "searxng-local-search", "Skill searxng-local-search (18 days)", D("18"), D("0.10"), D("1.80")),
    ("llm", None, "LLM usage (12.3456 USD at 0.9 CHF/USD)", D("12.3456"), D("1.08"), D("13.33")),
    ("threema", None, "Threema messages", D("1234"), D("0.005"), D("6.17")),
]


def make_invoice(*, tenants=("acme-main",), lines=EXAMPLE_LINES, entity=None, customer=None, abroad=False,
                 language="en", number="PC-2026-0001", status="issued", charge_status=None) -> Invoice:
    """A transient issued invoice (no session): lines per tenant, amounts summed like the engine does."""
    invoice_lines = []
    for tenant in tenants:
        for kind, skill, description, quantity, unit_price, amount in lines:
            invoice_lines.append(InvoiceLine(
                tenant_name=tenant, kind=kind, skill_id=skill, description=description, quantity=quantity,
                unit_price_chf=unit_price, amount_chf=amount, position=len(invoice_lines) + 1,
            ))
    net = sum((line.amount_chf for line in invoice_lines), D("0.00"))
    vat_rate = D("0.00") if abroad else D("8.10")
    vat = (net * vat_rate / 100).quantize(D("0.01"))
    invoice = Invoice(
        number=number, zitadel_org_id=(customer or CUSTOMER_CH)["org_id"], billing_entity_id=1,
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), status=status,
        # 23:30 UTC on 31 October is 1 November in Zurich: the document shows the local date
        issued_at=datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc), due_date=date(2026, 12, 1),
        currency="CHF", net_chf=net, vat_rate=vat_rate, vat_chf=vat, total_chf=net + vat,
        vat_note=ABROAD if abroad else None, payment_terms_days=30, language=language,
        entity_snapshot=dict(entity or ENTITY), customer_snapshot=dict(customer or CUSTOMER_CH),
        charge_status=charge_status,
    )
    invoice.lines = invoice_lines
    return invoice


def squeeze(text: str) -> str:
    """Text with runs of white space made single spaces (pdftotext -layout pads columns)."""
    return re.sub(r"\s+", " ", text)


SEPARATE = {"Separate", "before", "paying", "in", "Vor", "der", "Einzahlung", "abzutrennen"}  # above the line


def qr_bill_words(pdf: bytes, page: int) -> list[str]:
    return [w[4] for w in pdf_words(pdf, page) if w[1] > SCISSORS_LINE_PT - 2] + sorted(SEPARATE)


def assert_nothing_under_the_payment_part(invoice_pdf: bytes, qr_words: set[str]):
    """On the last page, every word below the scissors line belongs to the QR-bill."""
    last = pdf_pages(invoice_pdf)
    stray = [w for w in pdf_words(invoice_pdf, last) if w[3] > SCISSORS_LINE_PT - 4 and w[4] not in qr_words]
    assert not stray, f"text runs into the payment part: {stray[:5]}"


# --------------------------------------------------------------------------- fixtures: render once per module


@pytest.fixture(scope="module")
def ch_invoice():
    invoice = make_invoice()
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-ch-qr-iban")
    return invoice, data


@pytest.fixture(scope="module")
def foreign_invoice():
    invoice = make_invoice(entity={**ENTITY, "iban": PLAIN_IBAN}, customer=CUSTOMER_DE, abroad=True,
                           number="PC-2026-0002")
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-de-org-scor")
    return invoice, data


TENANTS_60 = tuple(f"tenant-{i:02d}-{'production' if i % 3 else 'staging-eu-central'}" for i in range(60))


@pytest.fixture(scope="module")
def big_invoice():
    invoice = make_invoice(tenants=TENANTS_60, lines=EXAMPLE_LINES[1:], number="PC-2026-0003")
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-60-tenants", dpi=80)
    return invoice, data


@pytest.fixture(scope="module")
def german_invoice():
    lines = [*EXAMPLE_LINES, ("skill", "crm-bridge", "Skill crm-bridge (31 Tage)", D("31"), D("39.822580"), D("1234.50"))]
    invoice = make_invoice(lines=lines, language="de", customer={**CUSTOMER_CH, "language": "de"},
                           number="PC-2026-0004")
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-german")
    return invoice, data


# --------------------------------------------------------------------------- the CH invoice (QR-IBAN)


def test_ch_invoice_carries_what_swiss_vat_law_requires(ch_invoice):
    invoice, data = ch_invoice
    text = squeeze(pdf_text(data))
    assert pdf_pages(data) == 1
    for expected in [
        "PieCed AG", "Bahnhofstrasse 1", "8001 Zürich", "VAT no. CHE-123.456.788 MWST",  # the seller
        "ACME Swiss AG", "Musterstrasse 5", "3000 Bern",  # the customer
        "Invoice PC-2026-0001", "Invoice date 01.11.2026",  # the local date, not 31.10 UTC
        "Service period 01.10.2026 – 31.10.2026", "Due date 01.12.2026", "Payment terms 30 days net",
        "Your VAT no. CHE-987.654.321 MWST",
        "Description Quantity Unit Unit price Amount (CHF)",
        "Tenant acme-main Setup fee 1 each 99.00 99.00",
        "Monthly fee (18 of 31 days) 18 days 1.58065 28.45",  # 49.00 / 31 per day
        "Skill searxng-local-search (18 days) 18 days 0.10 1.80",
        "LLM usage (12.3456 USD at 0.9 CHF/USD) 12.3456 USD 1.08 13.33",
        "Threema messages 1234 messages 0.005 6.17",
        "Net amount 148.75", "VAT 8.1 % 12.05", "Total CHF 160.80",
        "VAT summary: 8.1 % on CHF 148.75 = CHF 12.05",
        "Reference 20 00000 00002 51220 26000 00018",  # on page 1, with the other details
        "IBAN CH44 3199 9123 0008 8901 2",
        "Page 1 of 1",
    ]:
        assert expected in text, expected
    assert ABROAD not in text


def test_ch_invoice_qr_bill(ch_invoice):
    invoice, data = ch_invoice
    bill = decode_qr(data)
    assert bill["iban"] == QR_IBAN
    assert bill["amount"] == "160.80" and bill["currency"] == "CHF"
    assert (bill["creditor_address_type"], bill["creditor_name"], bill["creditor_street"],
            bill["creditor_building_number"], bill["creditor_postal_code"], bill["creditor_city"],
            bill["creditor_country"]) == ("S", "PieCed AG", "Bahnhofstrasse", "1", "8001", "Zürich", "CH")
    assert (bill["debtor_address_type"], bill["debtor_name"], bill["debtor_postal_code"], bill["debtor_city"]) \
        == ("S", "ACME Swiss AG", "3000", "Bern")
    assert bill["reference_type"] == "QRR"
    assert bill["reference"] == payment_reference("PC-2026-0001", QR_IBAN)[1]
    assert len(bill["reference"]) == 27 and esr.is_valid(bill["reference"])
    assert "PC-2026-0001" in bill["additional_information"]
    assert bill["trailer"] == "EPD"


def test_ch_invoice_payment_part_sits_at_the_bottom_edge(ch_invoice):
    _, data = ch_invoice
    words = pdf_words(data, 1)
    receipt = next(w for w in words if w[4] == "Receipt")
    # "Receipt" is printed 5 mm below the top of the 105 mm payment part (qrbill's layout)
    assert abs(receipt[1] - SCISSORS_LINE_PT) < 12 * 72 / 25.4, receipt
    assert_nothing_under_the_payment_part(data, set(qr_bill_words(data, 1)) | {"Acceptance", "point"})
    text = pdf_text(data)
    assert "Payment part" in text and "Acceptance point" in text


# --------------------------------------------------------------------------- the foreign invoice (plain IBAN)


def test_foreign_invoice_has_the_abroad_note_instead_of_vat(foreign_invoice):
    invoice, data = foreign_invoice
    text = squeeze(pdf_text(data))
    assert ABROAD in text
    assert "VAT 8.1" not in text and "VAT 0" not in text
    assert "Net amount 148.75" in text and "Total CHF 148.75" in text
    assert "Bavaria Robotics GmbH" in text and "Leopoldstrasse 12a" in text and "80802 München" in text
    assert "Germany" in text  # a foreign address names its country
    assert "Your VAT no. DE123456789" in text


def test_foreign_invoice_qr_bill_has_a_creditor_reference(foreign_invoice):
    invoice, data = foreign_invoice
    bill = decode_qr(data)
    assert bill["iban"] == "CH9300762011623852957"
    assert bill["amount"] == "148.75"
    assert bill["reference_type"] == "SCOR"
    assert iso11649.is_valid(bill["reference"]) and bill["reference"].endswith("PC20260002")
    assert bill["debtor_country"] == "DE" and bill["debtor_city"] == "München"
    assert "PC-2026-0002" in bill["additional_information"]


# --------------------------------------------------------------------------- many tenants, many pages


def test_many_tenants_run_over_pages_with_the_qr_bill_on_the_last_only(big_invoice):
    invoice, data = big_invoice
    pages = pdf_pages(data)
    assert pages > 1
    texts = [squeeze(t) for t in pdf_page_texts(data)]
    assert len(texts) == pages
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {pages}" in text
        # the header row repeated on every page with lines (the payment part may have a page of its own)
        assert "Description Quantity Unit Unit price Amount (CHF)" in text or (
            number == pages and "Monthly fee" not in text)
        assert ("Continued on the next page" in text) == (number < pages)
        assert ("Payment part" in text) == (number == pages)
    with pytest.raises(LookupError):
        decode_qr(data, page=1)
    bill = decode_qr(data)
    assert bill["amount"] == f"{invoice.total_chf:.2f}"
    assert bill["reference"] == payment_reference("PC-2026-0003", QR_IBAN)[1]


def test_many_tenants_every_line_is_there(big_invoice):
    invoice, data = big_invoice
    text = squeeze(pdf_text(data))
    for tenant in TENANTS_60:
        # each tenant heads its lines once, with its subtotal: 28.45 + 1.80 + 13.33 + 6.17
        assert f"Tenant {tenant} Subtotal 49.75" in text, tenant
    for row in ["Monthly fee (18 of 31 days) 18 days 1.58065 28.45","Skill searxng-local-search (18 days) 18 days 0.10 1.80",
                "LLM usage (12.3456 USD at 0.9 CHF/USD) 12.3456 USD 1.08 13.33",
                "Threema messages 1234 messages 0.005 6.17"]:
        assert text.count(row) == 60, row
    assert "tenant-00-production —" not in text
    net = invoice.net_chf
    assert f"Net amount {pdfmod.format_chf(net)}" in text
    assert f"Total CHF {pdfmod.format_chf(invoice.total_chf)}" in text
    assert "’" in pdfmod.format_chf(net)  # 2’955.00: Swiss grouping


def test_many_tenants_nothing_runs_under_the_payment_part(big_invoice):
    invoice, data = big_invoice
    last = pdf_pages(data)
    assert_nothing_under_the_payment_part(data, set(qr_bill_words(data, last)) | {"Acceptance", "point"})


@pytest.mark.parametrize("tenants", [6, 7, 8])
def test_when_the_totals_leave_no_room_the_payment_part_gets_a_page_of_its_own(tenants):
    """6–8 tenants × 5 lines put the totals near the foot of page 1: whatever happens, nothing overlaps."""
    invoice = make_invoice(tenants=[f"t{i}" for i in range(tenants)], number=f"PC-2026-01{tenants:02d}")
    data = render_invoice_pdf(invoice)
    last = pdf_pages(data)
    last_text = squeeze(pdf_page_texts(data)[-1])
    assert "Payment part" in last_text and "Please pay CHF" in last_text
    assert_nothing_under_the_payment_part(data, set(qr_bill_words(data, last)) | {"Acceptance", "point"})
    assert decode_qr(data)["amount"] == f"{invoice.total_chf:.2f}"
    if last > 1:
        assert "Payment part" not in pdf_page_texts(data)[0]


def test_a_short_invoice_that_does_not_fit_one_page_runs_over_with_page_numbers():
    long = " ".join(["A description long enough to wrap over several lines of the table."] * 6)
    lines = [(kind, skill, f"{description} {long}", q, p, a) for kind, skill, description, q, p, a in EXAMPLE_LINES]
    invoice = make_invoice(lines=lines, number="PC-2026-0010")
    data = render_invoice_pdf(invoice)
    pages = pdf_pages(data)
    assert pages > 1
    texts = [squeeze(t) for t in pdf_page_texts(data)]
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {pages}" in text
        assert ("Payment part" in text) == (number == pages)
    assert decode_qr(data)["amount"] == f"{invoice.total_chf:.2f}"


# --------------------------------------------------------------------------- German


def test_german_invoice_has_german_labels_and_swiss_amounts(german_invoice):
    invoice, data = german_invoice
    text = squeeze(pdf_text(data))
    for expected in [
        "Rechnung PC-2026-0004", "Rechnungsnummer PC-2026-0004", "Rechnungsdatum 01.11.2026",
        "Leistungszeitraum 01.10.2026 – 31.10.2026", "Fälligkeitsdatum 01.12.2026", "Zahlungsfrist 30 Tage netto",
        "Beschreibung Menge Einheit Einzelpreis Betrag (CHF)", "Mandant acme-main",
        "Monthly fee (18 of 31 days) 18 Tage 1.58065 28.45", "Threema messages 1234 Nachrichten 0.005 6.17", "Nettobetrag 1’383.25", "MWST 8.1 % 112.04",
        "Total CHF 1’495.29", "1’234.50", "Seite 1 von 1", "MWST-Nr. CHE-123.456.788 MWST",
        "Zahlteil", "Empfangsschein",
    ]:
        assert expected in text, expected
    assert "Invoice date" not in text and "Tenant" not in text
    assert decode_qr(data)["amount"] == "1495.29"


# --------------------------------------------------------------------------- other cases


def test_customer_without_address_gets_a_qr_bill_without_debtor():
    customer = {"org_id": "org-bare", "name": "Bare Org", "country": "CH"}
    invoice = make_invoice(customer=customer, number="PC-2026-0005")
    data = render_invoice_pdf(invoice)
    bill = decode_qr(data)
    assert bill["debtor_address_type"] == "" and bill["debtor_name"] == ""
    text = squeeze(pdf_text(data))
    assert "Bare Org" in text and "Payable by (name/address)" in text


def test_card_invoice_has_no_qr_bill():
    invoice = make_invoice(charge_status="pending", number="PC-2026-0006")
    data = render_invoice_pdf(invoice)
    text = squeeze(pdf_text(data))
    assert "charged to the payment card on file" in text
    assert "Payment part" not in text
    with pytest.raises(LookupError):
        decode_qr(data)


def test_an_entity_without_iban_cannot_issue_a_bank_transfer_invoice():
    invoice = make_invoice(entity={**ENTITY, "iban": None}, number="PC-2026-0007")
    with pytest.raises(PdfRenderError, match="has no IBAN"):
        render_invoice_html(invoice)
    preview = render_invoice_html(invoice, for_pdf=False)
    assert "No QR-bill: the billing entity PieCed AG has no IBAN" in preview


def test_an_entity_without_structured_address_is_named_in_the_error():
    entity = {**ENTITY, "postal_code": None, "city": None}
    with pytest.raises(PdfRenderError, match="structured address"):
        render_invoice_pdf(make_invoice(entity=entity, number="PC-2026-0008"))


def test_browser_preview_has_the_same_content_and_an_inline_qr_bill():
    invoice = make_invoice(status="void")
    html = render_invoice_html(invoice, for_pdf=False)
    assert "<svg" in html and "data:image/svg+xml" not in html
    assert "<pdf:" not in html and "@frame" not in html
    for expected in ["PieCed AG", "ACME Swiss AG", "PC-2026-0001", "160.80", "148.75", "12.05", "VAT 8.1 %",
                     "acme-main", "Threema messages", "VOID"]:
        assert expected in html, expected
    assert "VOID" not in render_invoice_html(make_invoice(), for_pdf=False)


def test_pdf_html_leaves_the_qr_bill_to_the_canvas():
    """No SVG round trip: the HTML xhtml2pdf converts has no image; the bill is drawn on the last page."""
    html = render_invoice_html(make_invoice())
    assert "<img" not in html and "svg" not in html and "pdf:pagecount" not in html
    assert 'class="qr-room"' in html


def test_text_is_escaped():
    customer = {**CUSTOMER_CH, "name": "<b>Evil & Sons</b>"}
    html = render_invoice_html(make_invoice(customer=customer), for_pdf=False)
    assert "&lt;b&gt;Evil &amp; Sons&lt;/b&gt;" in html


def test_the_billing_time_zone_comes_from_the_app_when_there_is_one():
    app = Flask(__name__)
    app.config["BILLING_TIMEZONE"] = "UTC"
    with app.app_context():
        html = render_invoice_html(make_invoice(), for_pdf=False)
    assert "31.10.2026" in html.split("Invoice date")[1][:200]


def test_html_to_pdf_names_the_problem():
    with pytest.raises(PdfRenderError, match="HTML as text"):
        html_to_pdf(None)  # type: ignore[arg-type]
    # xhtml2pdf only warns about an image it cannot read and leaves it out: for us that is a failure
    with pytest.raises(PdfRenderError, match="image"):
        html_to_pdf('<html><body><p>x</p><img src="data:image/png;base64,AAAA"></body></html>')
    # documents are self-contained: nothing is fetched from the network or the disk
    with pytest.raises(PdfRenderError, match="resource policy"):
        html_to_pdf('<html><body><img src="/etc/passwd"></body></html>')
    with pytest.raises(PdfRenderError, match="missing"):
        html_to_pdf('<html><body><pdf:nexttemplate name="missing"/><p>x</p><pdf:nextpage/><p>y</p></body></html>')
    assert html_to_pdf("<html><body><p>Hello</p></body></html>").startswith(b"%PDF")


def test_unknown_language_falls_back_to_english():
    html = render_invoice_html(make_invoice(language="fr"), for_pdf=False)
    assert "Invoice date" in html


# --------------------------------------------------------------------------- reminders


REMINDER_TITLES = {
    ("en", 1): "Payment reminder", ("en", 2): "Second reminder", ("en", 3): "Final reminder",
    ("de", 1): "Zahlungserinnerung", ("de", 2): "2. Mahnung", ("de", 3): "Letzte Mahnung",
}


@pytest.mark.parametrize(("language", "level"), sorted(REMINDER_TITLES))
def test_reminder_letter(language, level):
    invoice = make_invoice(language=language, number="PC-2026-0009")
    outstanding = D("1160.80") if level == 3 else D("160.80")
    reminder_date = invoice.due_date + timedelta(days={1: 7, 2: 21, 3: 35}[level])
    data = render_reminder_pdf(invoice, level=level, reminder_date=reminder_date, outstanding_chf=outstanding)
    if (language, level) == ("en", 2):
        save_pngs(data, "reminder-level-2")
    text = squeeze(pdf_text(data))
    amount = "1’160.80" if level == 3 else "160.80"
    for expected in [REMINDER_TITLES[language, level], "PC-2026-0009", "01.11.2026", "01.12.2026",
                     f"CHF {amount}", "PieCed AG", "ACME Swiss AG"]:
        assert expected in text, expected
    assert ("Reminder level" if language == "en" else "Mahnstufe") + f" {level}" in text
    bill = decode_qr(data)
    assert bill["amount"] == f"{outstanding:.2f}"
    assert bill["reference"] == payment_reference("PC-2026-0009", QR_IBAN)[1]  # matches the invoice
    assert "PC-2026-0009" in bill["additional_information"]
    assert bill["iban"] == QR_IBAN


def test_reminder_level_must_be_1_to_3():
    with pytest.raises(ValueError):
        render_reminder_html(make_invoice(), level=4, reminder_date=date(2026, 12, 8), outstanding_chf=D("1"))


def test_reminder_preview():
    html = render_reminder_html(make_invoice(), level=1, reminder_date=date(2026, 12, 8),
                                outstanding_chf=D("160.80"), for_pdf=False)
    assert "Payment reminder" in html and "<svg" in html and "Days overdue" in html
