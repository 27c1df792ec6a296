"""What a reader of the invoice notices: every letter prints, short invoices fit one page, lines multiply out.

Read back with pdftotext and pdffonts (poppler-utils); QR codes decoded with zxing-cpp.
"""

from __future__ import annotations

import re
import subprocess
from datetime import date
from decimal import Decimal as D

import pytest

from pieced_admin.billing.pdf import render_invoice_pdf, render_reminder_pdf
from pieced_admin.billing.qr import parse_s1

from ..pdf_tools import decode_qr, pdf_pages, pdf_text, save_pngs
from .test_pdf import CUSTOMER_CH, EXAMPLE_LINES, make_invoice, squeeze

NAMES = {"name": "Dvořák Ștefan Łódź Sp. z o.o.", "street": "Ulica Żółkiewskiego", "city": "Łódź",
         "building_number": "7", "postal_code": "90-001", "country": "PL"}


def pdffonts(pdf: bytes) -> list[dict]:
    out = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    rows = out.splitlines()[2:]
    fonts = []
    for row in rows:
        # name, type, encoding, emb, sub, uni, object, id: the three yes/no columns are what we need
        flags = re.findall(r"\s(yes|no)(?=\s)", f" {row} ")
        fonts.append({"name": row.split()[0], "emb": flags[0], "sub": flags[1], "uni": flags[2]})
    return fonts


@pytest.fixture(scope="module")
def names_invoice():
    customer = {**CUSTOMER_CH, **NAMES, "vat_number": None}
    invoice = make_invoice(customer=customer, number="PC-2026-0020")
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-latin-extended-a")
    return invoice, data


def test_latin_extended_a_names_print_as_the_qr_code_carries_them(names_invoice):
    _, data = names_invoice
    bill = decode_qr(data)
    assert (bill["debtor_name"], bill["debtor_street"], bill["debtor_city"]) == (
        NAMES["name"], NAMES["street"], NAMES["city"])
    text = pdf_text(data)
    # the letter's address and both parts of the QR-bill print the same letters
    assert text.count(NAMES["name"]) >= 3
    assert text.count("Łódź") >= 3 and "Żółkiewskiego" in text
    assert "\ufffd" not in text and "■" not in text


@pytest.mark.parametrize("kind", ["invoice", "reminder", "card invoice"])
def test_every_font_is_embedded(names_invoice, kind):
    invoice, data = names_invoice
    if kind == "reminder":
        data = render_reminder_pdf(invoice, level=1, reminder_date=date(2026, 12, 8), outstanding_chf=D("160.80"))
    elif kind == "card invoice":
        data = render_invoice_pdf(make_invoice(charge_status="pending", number="PC-2026-0021"))
    fonts = pdffonts(data)
    assert fonts, "a document with text has fonts"
    assert all(f["emb"] == "yes" and f["uni"] == "yes" for f in fonts), fonts
    assert {f["name"].split("+")[-1] for f in fonts} <= {"LiberationSans", "LiberationSans-Bold",
                                                        "LiberationSans-Italic", "LiberationSans-BoldItalic"}


def test_pdf_declares_pdf_a_2b_with_an_srgb_output_intent(names_invoice):
    """What can be checked here without a validator: the XMP identification and the output intent."""
    from pypdf import PdfReader
    import io

    _, data = names_invoice
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    assert "<pdfaid:part>2</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "Invoice PC-2026-0020" in xmp
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/DestOutputProfile"].get_object()["/N"] == 3
    assert reader.trailer.get("/ID") is not None


TWELVE_LINES = [*EXAMPLE_LINES, ("skill", "web-browser", "Skill Web browser (31 days)", D("31"), D("0.20"), D("6.20"))]


def test_an_invoice_with_twelve_lines_has_one_page():
    invoice = make_invoice(tenants=("acme-main", "acme-staging"), lines=TWELVE_LINES, number="PC-2026-0022")
    assert len(invoice.lines) == 12
    data = render_invoice_pdf(invoice)
    save_pngs(data, "invoice-12-lines")
    assert pdf_pages(data) == 1
    text = squeeze(pdf_text(data))
    # two tenants: each heads its lines with its subtotal (99.00 + 28.45 + 1.80 + 13.33 + 6.17 + 6.20)
    assert "Tenant acme-main Subtotal 154.95" in text and "Tenant acme-staging Subtotal 154.95" in text
    assert "Payment part" in text and "Reference" in text


_ROW = re.compile(r"^\s*(?P<description>\S.*?)\s{2,}(?P<quantity>\d[\d.]*)\s+(?P<unit>each|days|USD|messages|month)"
                  r"\s+(?P<price>\d[\d.]*)\s+(?P<amount>\d[\d’.]*)\s*$")


@pytest.mark.parametrize("days", [1, 17, 18, 30, 31])
def test_every_line_multiplies_out_on_a_calculator(days):
    """quantity × unit price = amount, within the rounding the PDF states (unit prices to 5 places, amounts to 0.01)."""
    fee, month_days = D("49.00"), 31
    amount = (fee * days / month_days).quantize(D("0.01"))
    lines = [("monthly_fee", None, f"Monthly fee ({days} of 31 days)", D(days), fee, amount), *EXAMPLE_LINES[2:],
             ("setup_fee", None, "Setup fee", D("1"), D("99.00"), D("99.00"))]
    data = render_invoice_pdf(make_invoice(lines=lines, number=f"PC-2026-01{days:02d}"))
    layout = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                            check=True).stdout.decode()
    rows = [m.groupdict() for m in map(_ROW.match, layout.splitlines()) if m]
    assert len(rows) == len(lines), rows
    for row in rows:
        quantity, price = D(row["quantity"]), D(row["price"])
        printed = D(row["amount"].replace("’", ""))
        # amounts are rounded to 0.01; a unit price rounded to 5 places moves the product by at most q × 0.000005
        assert abs(quantity * price - printed) <= D("0.005") + quantity * D("0.000005"), row
    if days != month_days:
        assert "priced per day" in layout
    else:
        assert any(row["unit"] == "month" and row["quantity"] == "1" and row["price"] == "49.00" for row in rows)


def test_swico_s1_billing_information_parses_back_to_the_invoice():
    invoice = make_invoice(number="PC-2026-0023")
    bill = decode_qr(render_invoice_pdf(invoice))
    assert bill["trailer"] == "EPD"
    tags = parse_s1(bill["extra"][0])
    assert tags["10"] == "PC-2026-0023"
    assert tags["11"] == "261101"  # the local issue date (23:30 UTC on 31 October is 1 November in Zurich)
    assert tags["30"] == "123456788"  # the seller's UID, digits only
    assert D(tags["32"]) == invoice.vat_rate
    assert tags["40"] == "0:30"


def test_card_invoice_whose_card_could_not_be_charged_carries_the_qr_bill():
    invoice = make_invoice(charge_status="no_payment_method", number="PC-2026-0024")
    data = render_invoice_pdf(invoice)
    text = squeeze(pdf_text(data))
    assert "We could not charge your payment card." in text
    assert "charged to the payment card on file" not in text
    assert decode_qr(data)["amount"] == "160.80"


def test_german_invoice_of_a_skill_shows_its_display_name_without_the_tenant():
    lines = [("skill", "searxng-local-search", "acme-main — Skill Websuche (18 Tage)", D("18"), D("0.10"),
              D("1.80"))]
    text = squeeze(pdf_text(render_invoice_pdf(make_invoice(lines=lines, language="de", number="PC-2026-0025"))))
    assert "Mandant acme-main Skill Websuche (18 Tage) 18 Tage 0.10 1.80" in text
    assert "acme-main —" not in text


def test_the_payment_part_keeps_every_value_inside_the_page():
    """Long values (the S1 string has no spaces) wrap inside the 87 mm information column."""
    from ..pdf_tools import pdf_words

    data = render_invoice_pdf(make_invoice(number="PC-2026-0026"))
    right_edge = (210 - 5) * 72 / 25.4
    words = pdf_words(data, 1)
    assert max(w[2] for w in words) <= right_edge + 0.5, sorted(words, key=lambda w: -w[2])[:3]
    assert "//S1/10/PC-2026-0026" in pdf_text(data).replace("\n", "")


def _text_runs(pdf: bytes, page: int = 0) -> list[tuple[str, float, str, float, float]]:
    """(text, font size, font name, x, y) of every text run drawn on a page."""
    import io

    from pypdf import PdfReader

    runs = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            scale = (tm[0] * cm[0]) if tm and cm else 1
            runs.append((text.strip(), round(size * scale, 2), str((font or {}).get("/BaseFont", "")),
                         tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]))

    PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return runs


def test_the_qr_bill_follows_the_style_guide_sizes(names_invoice):
    """Titles 11 pt bold; payment part headings 8 pt bold, values 10 pt; receipt headings 6 pt bold, values 8 pt."""
    _, data = names_invoice
    runs = _text_runs(data)
    receipt_right = 62 * 72 / 25.4
    info_left = (62 + 56) * 72 / 25.4

    def find(text, part):
        for run in runs:
            in_part = run[3] < receipt_right if part == "receipt" else run[3] >= info_left - 1
            if run[0] == text and in_part:
                return run
        raise AssertionError(f"{text!r} not in the {part}: {[r for r in runs if r[0] == text]}")

    title = next(r for r in runs if r[0] == "Payment part")
    assert title[1] == 11 and title[2].endswith("LiberationSans-Bold")
    receipt_title = next(r for r in runs if r[0] == "Receipt")
    assert receipt_title[1] == 11 and receipt_title[2].endswith("LiberationSans-Bold")
    heading = find("Account / Payable to", "payment")
    assert heading[1] == 8 and heading[2].endswith("LiberationSans-Bold")
    iban = find("CH44 3199 9123 0008 8901 2", "payment")
    assert iban[1] == 10 and iban[2].endswith("LiberationSans")
    heading = find("Account / Payable to", "receipt")
    assert heading[1] == 6 and heading[2].endswith("LiberationSans-Bold")
    assert find("CH44 3199 9123 0008 8901 2", "receipt")[1] == 8


def test_the_qr_code_is_46_mm_with_a_7_mm_swiss_cross_and_5_mm_clear_around(names_invoice):
    import io

    import zxingcpp
    from PIL import Image

    from ..pdf_tools import render_pages

    _, data = names_invoice
    dpi = 300
    (png,) = render_pages(data, dpi=dpi)
    image = Image.open(io.BytesIO(png)).convert("L")
    (code,) = [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
    px_per_mm = dpi / 25.4
    corners = [code.position.top_left, code.position.top_right, code.position.bottom_left, code.position.bottom_right]
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    # zxing reports the centres of the corner modules: the symbol is one module wider than that
    width_mm = (max(xs) - min(xs)) / px_per_mm
    assert 44.5 <= width_mm <= 46.5, width_mm
    left, top = min(xs) / px_per_mm, min(ys) / px_per_mm
    assert abs(left - (62 + 5)) < 1.5, left  # 5 mm from the payment part's left edge
    # the 5 mm around the code are white
    pixels = image.load()
    for mm_x, mm_y in ((left - 2.5, top + 20), (left + 46 + 2.5, top + 20), (left + 20, top - 2.5)):
        assert pixels[int(mm_x * px_per_mm), int(mm_y * px_per_mm)] > 200, (mm_x, mm_y)
    # the Swiss cross (7 mm) at the centre: a white cross on a black square
    cx, cy = left + 23, top + 23
    at = lambda dx, dy: pixels[int((cx + dx) * px_per_mm), int((cy + dy) * px_per_mm)]  # noqa: E731
    assert at(0, 0) > 200 and at(1.5, 0) > 200 and at(0, 1.5) > 200  # the cross
    dark = sum(at(dx, dy) < 60 for dx in (-2.4, 2.4) for dy in (-2.4, 2.4))
    assert dark == 4, dark  # the black square's corners, outside the cross's arms (1.9 mm)
