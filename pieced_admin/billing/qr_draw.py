"""The QR-bill's receipt and payment part, drawn with ReportLab to the SIX Style Guide.

The data (and its validation) come from the `qrbill` library's QRBill object;
only the drawing is ours. Everything is drawn natively on the page's canvas:
the QR code from zxing-cpp's bit matrix (error correction M, UTF-8 bytes, no
ECI, as the Implementation Guidelines ask), the Swiss cross as three shapes,
the text in the document's embedded Liberation Sans.

Sizes (Style Guide for the QR-bill, A6 landscape payment part beside a 62 mm
receipt, 105 mm high at the foot of an A4 page):

* titles ("Payment part", "Receipt") 11 pt bold;
* payment part: headings 8 pt bold, values 10 pt (line spacing 11 pt);
* receipt: headings 6 pt bold, values 8 pt (line spacing 9 pt);
* the QR code 46 × 46 mm with 5 mm clear around it, the Swiss cross 7 × 7 mm
  in its centre; 5 mm margins everywhere.
"""

from __future__ import annotations

from functools import lru_cache

from qrbill.bill import LABELS, QRBill, format_amount, format_ref_number
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from schwifty import IBAN

from .fonts import BOLD, REGULAR, register_fonts

BILL_HEIGHT = 105 * mm
RECEIPT_WIDTH = 62 * mm
PAYMENT_WIDTH = 148 * mm
MARGIN = 5 * mm
QR_SIZE = 46 * mm
QR_QUIET_ZONE = 5 * mm
CROSS_SIZE = 7 * mm

TITLE_SIZE = 11
PAYMENT_HEADING, PAYMENT_VALUE, PAYMENT_LEADING = 8, 10, 11
RECEIPT_HEADING, RECEIPT_VALUE, RECEIPT_LEADING = 6, 8, 9

_EXTRA_LABELS = {"Payment part": {"de": "Zahlteil", "fr": "Section paiement", "it": "Sezione pagamento"},
                 "Account / Payable to": {"de": "Konto / Zahlbar an", "fr": "Compte / Payable à",
                                          "it": "Conto / Pagabile a"},
                 "Reference": {"de": "Referenz", "fr": "Référence", "it": "Riferimento"},
                 "Additional information": {"de": "Zusätzliche Informationen", "fr": "Informations supplémentaires",
                                            "it": "Informazioni supplementari"}}


def label(text: str, language: str) -> str:
    """A QR-bill label in the bill's language (the Style Guide's wording, as the qrbill library has it)."""
    if language == "en":
        return text
    table = LABELS.get(text) or _EXTRA_LABELS.get(text) or {}
    return table.get(language, text)


@lru_cache(maxsize=256)
def qr_matrix(data: str) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The QR code of `data` as, per row, the runs of dark modules (start, end): error correction M."""
    import zxingcpp

    barcode = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    pixels = bytes(memoryview(image))
    rows = []
    for y in range(height):
        row = pixels[y * width:(y + 1) * width]
        runs, x = [], 0
        while x < width:
            if row[x] < 128:
                start = x
                while x < width and row[x] < 128:
                    x += 1
                runs.append((start, x))
            else:
                x += 1
        rows.append(tuple(runs))
    return tuple(rows)


@lru_cache(maxsize=256)
def _qr_operators(data: str) -> tuple[int, str]:
    """The QR code's dark modules as PDF rectangle operators in module units (rows top-down), and its size."""
    rows = qr_matrix(data)
    # Runs repeated on the next rows merge into one taller rectangle: a third of the operators.
    ops, open_runs = [], {}
    for y in range(len(rows) + 1):
        current = set(rows[y]) if y < len(rows) else set()
        for run in [r for r in open_runs if r not in current]:
            top = open_runs.pop(run)
            ops.append(f"{run[0]} {top} {run[1] - run[0]} {y - top} re")
        for run in current:
            open_runs.setdefault(run, y)
    return len(rows), "\n".join(ops)


def draw_qr_code(canv, data: str, x: float, y: float, size: float = QR_SIZE) -> None:
    """The QR code of `data`, `size` wide, its lower left corner at (x, y), with the Swiss cross.

    Vector rectangles in module units under one transformation (integers only:
    cheap to write, exact to render).
    """
    n, ops = _qr_operators(data)
    module = size / n
    canv.saveState()
    canv.setFillColorRGB(0, 0, 0)
    # Origin at the code's top left corner, one unit per module, y growing downwards.
    canv.transform(module, 0, 0, -module, x, y + size)
    canv._code.append(ops + "\nf")
    canv.restoreState()
    canv.saveState()
    draw_swiss_cross(canv, x + size / 2, y + size / 2)
    canv.restoreState()


def draw_swiss_cross(canv, cx: float, cy: float, size: float = CROSS_SIZE) -> None:
    """The Swiss cross of the QR-bill centred on (cx, cy): a black square with a white border and cross."""
    unit = size / 19.8  # the SIX drawing's grid: border 0.7, cross 11 × 3.3
    left, bottom = cx - size / 2, cy - size / 2
    canv.setFillColorRGB(1, 1, 1)
    canv.rect(left, bottom, size, size, stroke=0, fill=1)
    canv.setFillColorRGB(0, 0, 0)
    canv.rect(left + 1.4 * unit, bottom + 1.4 * unit, size - 2.8 * unit, size - 2.8 * unit, stroke=0, fill=1)
    canv.setFillColorRGB(1, 1, 1)
    canv.rect(cx - 1.65 * unit, cy - 5.5 * unit, 3.3 * unit, 11 * unit, stroke=0, fill=1)
    canv.rect(cx - 5.5 * unit, cy - 1.65 * unit, 11 * unit, 3.3 * unit, stroke=0, fill=1)


def _corner_box(canv, x: float, top: float, width: float, height: float) -> None:
    """The corner marks of a field the payer fills in by hand (0.75 pt lines, 3 mm × 2 mm)."""
    canv.setLineWidth(0.75)
    bottom = top - height
    for cx, cy, dx, dy in ((x, top, 1, -1), (x + width, top, -1, -1), (x, bottom, 1, 1), (x + width, bottom, -1, 1)):
        canv.line(cx, cy, cx + dx * 3 * mm, cy)
        canv.line(cx, cy, cx, cy + dy * 2 * mm)


class _Column:
    """Writes headings and values top-down in a column of the bill."""

    def __init__(self, canv, x: float, top: float, width: float, heading: int, value: int, leading: int):
        self.canv, self.x, self.y, self.width = canv, x, top, width
        self.heading_size, self.value_size, self.leading = heading, value, leading

    def heading(self, text: str) -> None:
        self.y -= self.heading_size + 1
        self.canv.setFont(BOLD, self.heading_size)
        self.canv.drawString(self.x, self.y, text)
        self.y -= 1.5

    def _split(self, line: str) -> list[str]:
        """The line broken at spaces to the column's width, and a word longer than the width wherever it must."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        parts = []
        for part in simpleSplit(line, REGULAR, self.value_size, self.width) or [""]:
            while stringWidth(part, REGULAR, self.value_size) > self.width:
                cut = len(part)
                while cut > 1 and stringWidth(part[:cut], REGULAR, self.value_size) > self.width:
                    cut -= 1
                parts.append(part[:cut])
                part = part[cut:]
            parts.append(part)
        return parts

    def values(self, lines) -> None:
        self.canv.setFont(REGULAR, self.value_size)
        for line in lines:
            for part in self._split(line):
                self.y -= self.leading
                self.canv.drawString(self.x, self.y + (self.leading - self.value_size) / 2, part)

    def gap(self) -> None:
        self.y -= self.leading * 0.5


def _address_lines(address) -> list[str]:
    return list(address.as_paragraph(max_chars=200)) if address is not None else []


def _amount_section(canv, x: float, top: float, currency: str, amount: str | None, lang: str, heading: float,
                    value: float, leading: float, *, amount_dx: float, box: tuple[float, float, float, float]) -> None:
    """The "Currency" and "Amount" headings and values of the receipt or the payment part (sizes its own).

    Without an amount, the payer writes it in a corner-marked box: `box` is (x offset, drop below
    `top`, width, height).
    """
    canv.setFont(BOLD, heading)
    canv.drawString(x, top - heading, label("Currency", lang))
    canv.drawString(x + amount_dx, top - heading, label("Amount", lang))
    canv.setFont(REGULAR, value)
    canv.drawString(x, top - heading - leading - 1, currency)
    if amount:
        canv.drawString(x + amount_dx, top - heading - leading - 1, amount)
    else:
        dx, drop, width, height = box
        _corner_box(canv, x + dx, top - drop, width, height)


def draw_qr_bill(canv, bill: QRBill, *, x: float = 0, y: float = 0) -> None:
    """The receipt and payment part of `bill`, 210 × 105 mm, lower left corner at (x, y) (the page's foot)."""
    register_fonts()
    lang = bill.language if bill.language in ("en", "de", "fr", "it") else "en"
    account = IBAN(bill.account).formatted
    creditor = [account, *_address_lines(bill.creditor)]
    reference = format_ref_number(bill)
    debtor = _address_lines(bill.debtor)
    amount = format_amount(bill.amount) if bill.amount else ""
    top = y + BILL_HEIGHT

    canv.saveState()
    canv.setFillColorRGB(0, 0, 0)
    canv.setStrokeColorRGB(0, 0, 0)

    # Separation lines: dashed, along the top and between receipt and payment part.
    canv.setLineWidth(0.5)
    canv.setDash(2, 2)
    canv.line(x, top, x + RECEIPT_WIDTH + PAYMENT_WIDTH, top)
    canv.line(x + RECEIPT_WIDTH, y, x + RECEIPT_WIDTH, top)
    canv.setDash()
    canv.setFont(REGULAR, 7)
    canv.drawCentredString(x + RECEIPT_WIDTH + PAYMENT_WIDTH / 2, top + 1.2 * mm,
                           label("Separate before paying in", lang))

    # Receipt.
    rx, rwidth = x + MARGIN, RECEIPT_WIDTH - 2 * MARGIN
    canv.setFont(BOLD, TITLE_SIZE)
    canv.drawString(rx, top - MARGIN - TITLE_SIZE, label("Receipt", lang))
    col = _Column(canv, rx, top - MARGIN - 7 * mm, rwidth, RECEIPT_HEADING, RECEIPT_VALUE, RECEIPT_LEADING)
    col.heading(label("Account / Payable to", lang))
    col.values(creditor)
    if reference:
        col.gap()
        col.heading(label("Reference", lang))
        col.values([reference])
    col.gap()
    if debtor:
        col.heading(label("Payable by", lang))
        col.values(debtor)
    else:
        col.heading(label("Payable by (name/address)", lang))
        _corner_box(canv, rx, col.y - 1 * mm, 52 * mm, 20 * mm)
    amount_top = y + 37 * mm  # receipt amount section: 14 mm above the 18 mm acceptance point section
    _amount_section(canv, rx, amount_top, bill.currency, amount, lang, RECEIPT_HEADING, RECEIPT_VALUE,
                    RECEIPT_LEADING, amount_dx=12 * mm, box=(22 * mm, 2 * mm, 30 * mm, 10 * mm))
    canv.setFont(BOLD, RECEIPT_HEADING)
    canv.drawRightString(x + RECEIPT_WIDTH - MARGIN, y + 23 * mm - RECEIPT_HEADING, label("Acceptance point", lang))

    # Payment part: title, QR code and amount on the left, the information on the right.
    px = x + RECEIPT_WIDTH + MARGIN
    canv.setFont(BOLD, TITLE_SIZE)
    canv.drawString(px, top - MARGIN - TITLE_SIZE, label("Payment part", lang))
    qr_top = top - MARGIN - 7 * mm - QR_QUIET_ZONE
    draw_qr_code(canv, bill.qr_data(), px, qr_top - QR_SIZE)
    amount_top = qr_top - QR_SIZE - QR_QUIET_ZONE
    _amount_section(canv, px, amount_top, bill.currency, amount, lang, PAYMENT_HEADING, PAYMENT_VALUE,
                    PAYMENT_LEADING, amount_dx=14 * mm, box=(11 * mm, PAYMENT_HEADING + 2 * mm, 40 * mm, 15 * mm))

    ix = x + RECEIPT_WIDTH + 56 * mm
    col = _Column(canv, ix, top - MARGIN, 87 * mm, PAYMENT_HEADING, PAYMENT_VALUE, PAYMENT_LEADING)
    col.heading(label("Account / Payable to", lang))
    col.values(creditor)
    if reference:
        col.gap()
        col.heading(label("Reference", lang))
        col.values([reference])
    info = [text for text in (bill.additional_information, bill.billing_information) if text]
    if info:
        col.gap()
        col.heading(label("Additional information", lang))
        col.values(info)
    col.gap()
    if debtor:
        col.heading(label("Payable by", lang))
        col.values(debtor)
    else:
        col.heading(label("Payable by (name/address)", lang))
        _corner_box(canv, ix, col.y - 1 * mm, 65 * mm, 25 * mm)
    canv.restoreState()
