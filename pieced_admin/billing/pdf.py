"""Invoice and reminder documents: HTML from templates/pdf/, PDF through xhtml2pdf, the Swiss QR-bill.

Rendering reads only the invoice's own fields and its two snapshots taken at
issue (``entity_snapshot``, ``customer_snapshot``), never the database, so a
document always says what was issued.

Layout (see templates/pdf/_document.html): the line table runs over as many
pages as it needs with its header row repeated; every page says "Page x of y";
the QR-bill sits in a static frame at the foot of the last page only
(``-pdf-frame-pages: last``), and the end of the flow carries a block as tall
as the QR-bill that cannot be split, so on the last page nothing runs under
the payment part; when the totals leave no room for it, that block, with the
payment instructions, moves to a page of its own.

Page numbers and that last-page frame make xhtml2pdf lay a document out twice,
so render_invoice_pdf() and render_reminder_pdf() first try a short document
as a single page laid out once (see _one_page_pdf), and fall back to the
general layout when it does not fit.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .money import fmt_price, fmt_quantity, format_chf
from .qr import (
    QrBillError,
    format_iban,
    format_reference,
    payment_reference,
    qr_address,
    qr_bill_svg,
)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "pdf"
DEFAULT_TIMEZONE = "Europe/Zurich"
LANGUAGES = ("en", "de")
_TENANT_FITS = 24  # characters that fit the tenant column unbroken; longer names may break anywhere
REMINDER_LEVELS = (1, 2, 3)
REMINDER_DAYS = 10  # a reminder asks for payment within this many days (the letters say so)

# Every word the documents print, per language: one table, no gettext.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "reminder_1": "Payment reminder",
        "reminder_2": "Second reminder",
        "reminder_3": "Final reminder",
        "invoice_number": "Invoice number",
        "invoice_date": "Invoice date",
        "service_period": "Service period",
        "due_date": "Due date",
        "payment_terms": "Payment terms",
        "payment_terms_value": "{days} days net",
        "payment_terms_immediate": "Payable immediately",
        "customer_id": "Customer ID",
        "your_vat_number": "Your VAT no.",
        "vat_number": "VAT no.",
        "currency": "Currency",
        "page": "Page {page} of {count}",
        "continued": "Continued on the next page",
        "tenant": "Tenant",
        "description": "Description",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "amount": "Amount",
        "net": "Net amount",
        "vat": "VAT {rate} %",
        "total": "Total {currency}",
        "no_lines": "No billable items in this period.",
        "payment": "Payment",
        "pay_by_qr": ("Please pay {currency} {amount} by {due} using the QR-bill below, "
                      "or by bank transfer to IBAN {iban} with the reference {reference}."),
        "pay_by_card": "The amount of {currency} {amount} is charged to the payment card on file.",
        "credit_applied": "Credit applied",
        "amount_due": "Amount due {currency}",
        "paid_by_credit": "Your credit balance covers this invoice: nothing is to be paid.",
        "thanks": "Thank you for your business.",
        "void": "VOID",
        "no_qr_preview": "No QR-bill: {problem}",
        "reminder_date": "Date",
        "reminder_level": "Reminder level",
        "days_overdue": "Days overdue",
        "invoice_total": "Invoice total",
        "outstanding": "Amount outstanding",
        "outstanding_short": "Outstanding",
        "dear": "Dear Sir or Madam,",
        "reminder_text_1": ("Our records show that invoice {number} of {invoice_date}, due on {due}, has not been "
                            "paid yet. Perhaps it has slipped your attention. We kindly ask you to pay the amount "
                            "outstanding of {currency} {outstanding} within the next {days} days."),
        "reminder_text_2": ("Despite our reminder, invoice {number} of {invoice_date}, due on {due}, is still "
                            "unpaid. Please pay the amount outstanding of {currency} {outstanding} within the "
                            "next 10 days."),
        "reminder_text_3": ("Invoice {number} of {invoice_date}, due on {due}, remains unpaid despite our "
                            "reminders. Please pay the amount outstanding of {currency} {outstanding} within "
                            "10 days. Otherwise we will have to suspend the services and hand the claim over "
                            "for collection."),
        "reminder_crossed": "If you have paid in the meantime, please disregard this letter.",
        "reminder_questions": "If you have any questions about this invoice, please contact us{contact}.",
        "regards": "Kind regards",
        "qr_info_invoice": "Invoice {number}",
        "qr_info_reminder": "Invoice {number}, reminder {level}",
    },
    "de": {
        "invoice": "Rechnung",
        "reminder_1": "Zahlungserinnerung",
        "reminder_2": "2. Mahnung",
        "reminder_3": "Letzte Mahnung",
        "invoice_number": "Rechnungsnummer",
        "invoice_date": "Rechnungsdatum",
        "service_period": "Leistungszeitraum",
        "due_date": "Fälligkeitsdatum",
        "payment_terms": "Zahlungsfrist",
        "payment_terms_value": "{days} Tage netto",
        "payment_terms_immediate": "Sofort zahlbar",
        "customer_id": "Kundennummer",
        "your_vat_number": "Ihre MWST-Nr.",
        "vat_number": "MWST-Nr.",
        "currency": "Währung",
        "page": "Seite {page} von {count}",
        "continued": "Fortsetzung auf der nächsten Seite",
        "tenant": "Tenant",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "amount": "Betrag",
        "net": "Nettobetrag",
        "vat": "MWST {rate} %",
        "total": "Total {currency}",
        "no_lines": "Keine verrechenbaren Leistungen in diesem Zeitraum.",
        "payment": "Zahlung",
        "pay_by_qr": ("Bitte bezahlen Sie {currency} {amount} bis zum {due} mit dem QR-Zahlteil unten oder per "
                      "Überweisung auf IBAN {iban} mit der Referenz {reference}."),
        "pay_by_card": "Der Betrag von {currency} {amount} wird Ihrer hinterlegten Zahlungskarte belastet.",
        "credit_applied": "Verrechnetes Guthaben",
        "amount_due": "Zu bezahlen {currency}",
        "paid_by_credit": "Ihr Guthaben deckt diese Rechnung: Es ist nichts zu bezahlen.",
        "thanks": "Vielen Dank für Ihren Auftrag.",
        "void": "STORNIERT",
        "no_qr_preview": "Kein QR-Zahlteil: {problem}",
        "reminder_date": "Datum",
        "reminder_level": "Mahnstufe",
        "days_overdue": "Tage überfällig",
        "invoice_total": "Rechnungsbetrag",
        "outstanding": "Offener Betrag",
        "outstanding_short": "Offen",
        "dear": "Sehr geehrte Damen und Herren",
        "reminder_text_1": ("Gemäss unserer Buchhaltung ist die Rechnung {number} vom {invoice_date}, fällig am "
                            "{due}, noch nicht bezahlt. Vielleicht ist sie Ihrer Aufmerksamkeit entgangen. Wir "
                            "bitten Sie, den offenen Betrag von {currency} {outstanding} innert {days} Tagen zu "
                            "begleichen."),
        "reminder_text_2": ("Trotz unserer Zahlungserinnerung ist die Rechnung {number} vom {invoice_date}, fällig "
                            "am {due}, noch immer offen. Bitte begleichen Sie den offenen Betrag von {currency} "
                            "{outstanding} innert {days} Tagen."),
        "reminder_text_3": ("Die Rechnung {number} vom {invoice_date}, fällig am {due}, ist trotz unserer "
                            "Mahnungen noch immer offen. Bitte begleichen Sie den offenen Betrag von {currency} "
                            "{outstanding} innert {days} Tagen. Andernfalls müssen wir die Leistungen einstellen und "
                            "die Forderung an ein Inkassobüro übergeben."),
        "reminder_crossed": "Sollten Sie die Zahlung in der Zwischenzeit geleistet haben, betrachten Sie dieses "
                            "Schreiben bitte als gegenstandslos.",
        "reminder_questions": "Bei Fragen zu dieser Rechnung stehen wir Ihnen gerne zur Verfügung{contact}.",
        "regards": "Freundliche Grüsse",
        "qr_info_invoice": "Rechnung {number}",
        "qr_info_reminder": "Rechnung {number}, {level}. Mahnung",
    },
}



class PdfRenderError(RuntimeError):
    """A document could not be rendered; the message names the problem."""


# --------------------------------------------------------------------------- formatting helpers


def _language(invoice) -> str:
    lang = (getattr(invoice, "language", None) or "en").lower()
    return lang if lang in LANGUAGES else "en"


def _zone() -> ZoneInfo:
    """The billing time zone: the app's setting when an app context exists, else Europe/Zurich."""
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            return ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or DEFAULT_TIMEZONE)
    except ImportError:  # pragma: no cover - Flask is a dependency
        pass
    return ZoneInfo(DEFAULT_TIMEZONE)


def _local_date(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # stored timestamps are UTC
            value = value.replace(tzinfo=ZoneInfo("UTC"))
        return value.astimezone(_zone()).date()
    return value


def _fmt_date(value: date | datetime | None) -> str:
    day = _local_date(value)
    return day.strftime("%d.%m.%Y") if day else ""


def _fmt_rate(rate: Decimal) -> str:
    """8.10 -> 8.1, 8.00 -> 8.0: a VAT rate with at least one decimal."""
    text = fmt_quantity(Decimal(rate))
    return text if "." in text else f"{text}.0"


def _unbroken(text: str) -> str:
    """Keep an IBAN or a reference on one line."""
    return text.replace(" ", "\u00a0")


@lru_cache(maxsize=16)
def _country_name(code: str, lang: str) -> str:
    try:
        return Locale.parse(lang).territories.get(code.upper(), code)
    except (ValueError, TypeError):
        return code


def _address_lines(snap: dict, lang: str, home_country: str) -> list[str]:
    """Street and building number, postal code and city, and the country when it is not the sender's."""
    lines = []
    street = " ".join(p for p in (snap.get("street"), snap.get("building_number")) if p)
    if street:
        lines.append(street)
    place = " ".join(p for p in (snap.get("postal_code"), snap.get("city")) if p)
    if place:
        lines.append(place)
    country = (snap.get("country") or "").upper()
    if place and country and country != home_country:
        lines.append(_country_name(country, lang))
    return lines


# --------------------------------------------------------------------------- the view model


@dataclass
class _Qr:
    svg: str | None  # the bill, when there is one
    problem: str | None  # why there is none (shown in previews; an error in PDFs)
    reference_type: str | None = None
    reference: str | None = None


def _qr_for(invoice, amount: Decimal, additional_information: str, lang: str) -> _Qr:
    entity = invoice.entity_snapshot or {}
    iban = entity.get("iban")
    if not iban:
        return _Qr(None, f"the billing entity {entity.get('name') or entity.get('code') or '?'} has no IBAN")
    try:
        ref_type, reference = payment_reference(invoice.number, iban)
        svg = qr_bill_svg(
            iban=iban, amount=amount, currency=invoice.currency or "CHF",
            creditor={**entity, "country": entity.get("country") or "CH"},
            debtor=qr_address(invoice.customer_snapshot),
            reference_type=ref_type, reference=reference,
            additional_information=additional_information, language=lang,
        )
    except (QrBillError, ValueError) as exc:
        return _Qr(None, str(exc))
    return _Qr(svg, None, ref_type, reference)


def _base_context(invoice, lang: str, for_pdf: bool) -> dict:
    t = TEXTS[lang]
    entity = invoice.entity_snapshot or {}
    customer = invoice.customer_snapshot or {}
    home = (entity.get("country") or "CH").upper()
    entity_lines = _address_lines(entity, lang, home)
    # The letterhead names the seller's country: many customers read it from abroad.
    entity_lines_full = entity_lines + ([_country_name(home, lang)] if entity_lines else [])
    contact = [x for x in (entity.get("email"), entity.get("website")) if x]
    sender_line = " · ".join(x for x in [entity.get("name"), *entity_lines] if x)
    before, rest = t["page"].split("{page}")
    middle, after = rest.split("{count}")
    return {
        "lang": lang,
        "t": t,
        "for_pdf": for_pdf,
        "page_label": (before, middle, after),  # around <pdf:pagenumber/> and <pdf:pagecount/>
        "page_one_of_one": t["page"].format(page=1, count=1),
        "single_page": False,  # see _one_page_pdf()
        "void": getattr(invoice, "status", None) == "void",
        "number": invoice.number or "",
        "entity": {
            "name": entity.get("name") or "",
            "address_lines": entity_lines_full,
            "vat_number": entity.get("vat_number") or "",
            "contact": contact,
            "sender_line": sender_line,
        },
        "customer": {
            "name": customer.get("name") or customer.get("org_id") or "",
            "address_lines": _address_lines(customer, lang, home),
            "vat_number": customer.get("vat_number") or "",
            "org_id": customer.get("org_id") or "",
        },
        "currency": invoice.currency or "CHF",
    }


def _qr_context(qr: _Qr, for_pdf: bool) -> dict:
    if qr.svg is None:
        return {"qr_uri": None, "qr_inline": None, "qr_problem": qr.problem}
    if for_pdf:
        return {"qr_uri": "data:image/svg+xml;base64," + base64.b64encode(qr.svg.encode("utf-8")).decode("ascii"),
                "qr_inline": None, "qr_problem": None}
    inline = re.sub(r"^<\?xml[^>]*\?>\s*", "", qr.svg)
    return {"qr_uri": None, "qr_inline": Markup(inline), "qr_problem": None}


def _invoice_context(invoice, for_pdf: bool) -> dict:
    lang = _language(invoice)
    t = TEXTS[lang]
    ctx = _base_context(invoice, lang, for_pdf)
    currency = ctx["currency"]
    money = lambda d: format_chf(Decimal(d), lang)  # noqa: E731

    lines = sorted(invoice.lines or [], key=lambda line: (line.position if line.position is not None else 0))
    rows = []
    previous = None
    for line in lines:
        rows.append({
            "tenant": line.tenant_name,
            "description": line.description,
            "quantity": fmt_quantity(line.quantity),
            "unit_price": fmt_price(line.unit_price_chf),
            "amount": money(line.amount_chf),
            "new_tenant": previous is not None and line.tenant_name != previous,
            "long_tenant": len(line.tenant_name or "") > _TENANT_FITS,
        })
        previous = line.tenant_name

    terms = invoice.payment_terms_days
    terms_text = (t["payment_terms_value"].format(days=terms) if terms else t["payment_terms_immediate"]) \
        if terms is not None else ""
    meta = [
        (t["invoice_number"], ctx["number"]),
        (t["invoice_date"], _fmt_date(invoice.issued_at)),
        (t["service_period"], f"{_fmt_date(invoice.period_start)} – {_fmt_date(invoice.period_end)}"),
        (t["due_date"], _fmt_date(invoice.due_date)),
    ]
    if terms_text:
        meta.append((t["payment_terms"], terms_text))
    if ctx["customer"]["org_id"]:
        meta.append((t["customer_id"], ctx["customer"]["org_id"]))
    if ctx["customer"]["vat_number"]:
        meta.append((t["your_vat_number"], ctx["customer"]["vat_number"]))

    totals = [(t["net"], money(invoice.net_chf), "net")]
    if not invoice.vat_note:
        totals.append((t["vat"].format(rate=_fmt_rate(invoice.vat_rate or Decimal(0))), money(invoice.vat_chf), "vat"))
    totals.append((t["total"].format(currency=currency), money(invoice.total_chf), "total"))
    # The org's credit balance used at issue: the QR-bill and the card charge are for what is left.
    credit = Decimal(getattr(invoice, "credit_applied_chf", None) or 0)
    due = Decimal(invoice.total_chf) - credit
    if credit:
        totals[-1] = (*totals[-1][:2], "gross")
        totals.append((t["credit_applied"], money(-credit), "credit"))
        totals.append((t["amount_due"].format(currency=currency), money(due), "total"))

    card = getattr(invoice, "charge_status", None) is not None
    qr = _Qr(None, None) if card or due <= 0 else _qr_for(
        invoice, due, t["qr_info_invoice"].format(number=ctx["number"]), lang)
    if due <= 0:
        payment_text = t["paid_by_credit"]
    elif qr.svg:
        entity = invoice.entity_snapshot or {}
        payment_text = t["pay_by_qr"].format(
            currency=currency, amount=money(due), due=_fmt_date(invoice.due_date),
            iban=_unbroken(format_iban(entity.get("iban") or "")), reference=_unbroken(format_reference(qr.reference)),
        )
    elif card:
        payment_text = t["pay_by_card"].format(currency=currency, amount=money(due))
    else:
        payment_text = ""
    ctx.update({
        "kind": "invoice",
        "title": t["invoice"],
        "heading": f"{t['invoice']} {ctx['number']}",
        "doc_label": f"{t['invoice']} {ctx['number']}",
        "meta": meta,
        "rows": rows,
        "totals": totals,
        "vat_note": invoice.vat_note,
        "payment_text": payment_text,
        **_qr_context(qr, for_pdf),
    })
    return ctx


def _reminder_context(invoice, level: int, reminder_date: date, outstanding_chf: Decimal, for_pdf: bool) -> dict:
    if level not in REMINDER_LEVELS:
        raise ValueError(f"reminder level must be 1, 2 or 3, not {level!r}")
    lang = _language(invoice)
    t = TEXTS[lang]
    ctx = _base_context(invoice, lang, for_pdf)
    currency = ctx["currency"]
    money = lambda d: format_chf(Decimal(d), lang)  # noqa: E731
    outstanding = Decimal(outstanding_chf)
    fields = {
        "number": ctx["number"], "invoice_date": _fmt_date(invoice.issued_at), "due": _fmt_date(invoice.due_date),
        "currency": currency, "outstanding": money(outstanding), "days": REMINDER_DAYS,
    }
    overdue = (reminder_date - invoice.due_date).days if invoice.due_date else 0
    qr = _qr_for(invoice, outstanding, t["qr_info_reminder"].format(number=ctx["number"], level=level), lang)
    entity = invoice.entity_snapshot or {}
    contact = ", ".join(ctx["entity"]["contact"][:1])
    ctx.update({
        "kind": "reminder",
        "title": t[f"reminder_{level}"],
        "heading": f"{t[f'reminder_{level}']} – {t['invoice']} {ctx['number']}",
        "doc_label": f"{t[f'reminder_{level}']} – {t['invoice']} {ctx['number']}",
        "meta": [
            (t["reminder_date"], _fmt_date(reminder_date)),
            (t["invoice_number"], ctx["number"]),
            (t["invoice_date"], _fmt_date(invoice.issued_at)),
            (t["due_date"], _fmt_date(invoice.due_date)),
            (t["reminder_level"], str(level)),
        ] + ([(t["customer_id"], ctx["customer"]["org_id"])] if ctx["customer"]["org_id"] else []),
        "level": level,
        "summary": {
            "number": ctx["number"], "invoice_date": fields["invoice_date"], "due": fields["due"],
            "days_overdue": str(max(overdue, 0)), "total": money(invoice.total_chf), "outstanding": money(outstanding),
        },
        "paragraphs": [
            t[f"reminder_text_{level}"].format(**fields),
            t["reminder_crossed"],
            t["reminder_questions"].format(contact=f" ({contact})" if contact else ""),
        ],
        "payment_text": t["pay_by_qr"].format(
            currency=currency, amount=money(outstanding), due=_fmt_date(reminder_date + timedelta(days=REMINDER_DAYS)),
            iban=_unbroken(format_iban(entity.get("iban") or "")), reference=_unbroken(format_reference(qr.reference)),
        ) if qr.svg else "",
        **_qr_context(qr, for_pdf),
    })
    return ctx


# --------------------------------------------------------------------------- templates


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The Jinja environment of the documents: built once, templates compiled once."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def _render(template: str, ctx: dict) -> str:
    if ctx["for_pdf"] and ctx["qr_uri"] is None and ctx["qr_problem"]:
        raise PdfRenderError(f"Cannot put a QR-bill on {ctx['doc_label']}: {ctx['qr_problem']}.")
    return _environment().get_template(template).render(**ctx)


def render_invoice_html(invoice, *, for_pdf: bool = True) -> str:
    """The invoice as HTML: for xhtml2pdf (for_pdf=True) or as a browser preview (for_pdf=False)."""
    return _render("invoice.html", _invoice_context(invoice, for_pdf))


def render_reminder_html(invoice, *, level: int, reminder_date: date, outstanding_chf: Decimal,
                         for_pdf: bool = True) -> str:
    """A payment reminder letter for the invoice (level 1–3) with its own QR-bill for the outstanding amount."""
    return _render("reminder.html", _reminder_context(invoice, level, reminder_date, outstanding_chf, for_pdf))


# --------------------------------------------------------------------------- PDF


class _ThreadLog(logging.Handler):
    """Collects what xhtml2pdf logs from this thread while it converts one document."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            try:
                self.messages.append(record.getMessage())
            except Exception:  # pragma: no cover - a broken log record must not break the render
                self.messages.append(str(record.msg))


@lru_cache(maxsize=1)
def _resource_policy():
    """Documents are self-contained: no network, no local files (the QR-bill is a data: URI)."""
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=120)


@lru_cache(maxsize=1)
def _svg_support() -> bool:
    try:
        import svglib.svglib  # noqa: F401
    except ImportError:
        return False
    return True


# What xhtml2pdf only warns about but leaves a document incomplete: an image it could not read
# (the QR-bill is one), a resource refused, a static frame that could not be painted or overflowed.
_FATAL_WARNINGS = ("image", "blocked by the resource policy", "static frame")


def html_to_pdf(html: str) -> bytes:
    """Convert document HTML to PDF with xhtml2pdf; raises PdfRenderError naming the problem."""
    if not isinstance(html, str):
        raise PdfRenderError(f"expected the document's HTML as text, got {type(html).__name__}")
    if "data:image/svg+xml" in html and not _svg_support():
        raise PdfRenderError("svglib is not installed: xhtml2pdf would silently drop the QR-bill (an SVG image)")
    from xhtml2pdf import pisa

    handler = _ThreadLog()
    pisa_log = logging.getLogger("xhtml2pdf")
    pisa_log.addHandler(handler)
    out = io.BytesIO()
    try:
        result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=_resource_policy())
    except Exception as exc:
        raise PdfRenderError(f"xhtml2pdf failed: {type(exc).__name__}: {exc}") from exc
    finally:
        pisa_log.removeHandler(handler)
    if result.err:
        details = "; ".join(dict.fromkeys(handler.messages)) or "no details logged"
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s): {details}")
    fatal = [m for m in dict.fromkeys(handler.messages) if any(f in m.lower() for f in _FATAL_WARNINGS)]
    if fatal:
        raise PdfRenderError("the PDF would be incomplete: " + "; ".join(m.strip() for m in fatal))
    data = out.getvalue()
    if not data.startswith(b"%PDF"):
        raise PdfRenderError("xhtml2pdf produced no PDF")
    return data


# A one-page document is laid out in a single pass, without <pdf:pagecount/> and "last page"
# frames, which make xhtml2pdf lay everything out twice and convert the QR-bill SVG on every
# page of the first pass: about half the time of a typical invoice. Up to this many lines an
# invoice usually fits one page (about ten do); the result is checked either way.
_ONE_PAGE_LINES = 8


def _page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _one_page_pdf(template: str, ctx: dict) -> bytes | None:
    """The document laid out in one pass as a single page, or None when it does not fit one."""
    pdf = html_to_pdf(_render(template, {**ctx, "single_page": True}))
    return pdf if _page_count(pdf) == 1 else None


def render_invoice_pdf(invoice) -> bytes:
    """The invoice as PDF bytes (what is stored at issue): html_to_pdf(render_invoice_html(invoice)).

    Short invoices take the one-page fast path, with the same content and layout.
    """
    ctx = _invoice_context(invoice, True)
    if len(invoice.lines or []) <= _ONE_PAGE_LINES:
        pdf = _one_page_pdf("invoice.html", ctx)
        if pdf is not None:
            return pdf
    return html_to_pdf(_render("invoice.html", ctx))


def render_reminder_pdf(invoice, *, level: int, reminder_date: date, outstanding_chf: Decimal) -> bytes:
    """The reminder letter as PDF bytes (one page unless the addresses are unusually long)."""
    ctx = _reminder_context(invoice, level, reminder_date, outstanding_chf, True)
    return _one_page_pdf("reminder.html", ctx) or html_to_pdf(_render("reminder.html", ctx))
