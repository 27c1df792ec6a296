"""The credit note's PDF (English or German): the original invoice's number and date, the reason, what is
credited, net, VAT, total, and the seller and customer as on the invoice. Rendered once, at issue."""

from __future__ import annotations

from .money import format_chf
from .pdf import _address_lines, _environment, _fmt_date, _fmt_rate, html_to_pdf

TEXTS = {
    "en": {
        "title": "Credit note", "number": "Credit note number", "date": "Date", "invoice": "Credits invoice",
        "invoice_date": "Invoice date", "period": "Service period", "reason": "Reason", "description": "Description",
        "amount": "Amount", "net": "Net", "vat": "VAT", "total": "Total credited", "vat_no": "VAT no.",
        "cancels": "This credit note cancels invoice {number} in full.",
        "abroad": "Place of supply abroad — not subject to Swiss VAT",
        "note": "This amount is credited to your account; it reduces what you owe on invoice {number}.",
    },
    "de": {
        "title": "Gutschrift", "number": "Gutschrift-Nr.", "date": "Datum", "invoice": "Zu Rechnung",
        "invoice_date": "Rechnungsdatum", "period": "Leistungszeitraum", "reason": "Grund",
        "description": "Beschreibung", "amount": "Betrag", "net": "Netto", "vat": "MWST",
        "total": "Gutgeschriebener Betrag", "vat_no": "MWST-Nr.",
        "cancels": "Diese Gutschrift storniert die Rechnung {number} vollständig.",
        "abroad": "Ort der Leistung im Ausland — nicht der Schweizer MWST unterstellt",
        "note": "Dieser Betrag wird Ihnen gutgeschrieben; er vermindert den offenen Betrag der Rechnung {number}.",
    },
}


def _context(note) -> dict:
    lang = note.language if note.language in TEXTS else "en"
    invoice = note.invoice
    entity = {"name": invoice.entity.name if invoice.entity else "", "vat_number": None,
              **(note.entity_snapshot or {})}
    customer = {"name": invoice.zitadel_org_id, "vat_number": None, **(note.customer_snapshot or {})}
    home = (entity.get("country") or "CH").upper()
    return {
        "lang": lang, "t": TEXTS[lang], "note": note, "invoice": invoice,
        "entity": entity, "customer": customer,
        "entity_lines": _address_lines(entity, lang, home), "customer_lines": _address_lines(customer, lang, home),
        "issued": _fmt_date(note.issued_at), "invoice_issued": _fmt_date(invoice.issued_at),
        "period": f"{_fmt_date(invoice.period_start)} – {_fmt_date(invoice.period_end)}",
        "rate": _fmt_rate(note.vat_rate), "chf": format_chf,
        "lines": [(line.description, line.amount_chf) for line in note.lines],
    }


def render_credit_note_html(note) -> str:
    """The credit note as HTML for xhtml2pdf."""
    return _environment().get_template("credit_note.html").render(**_context(note))


def render_credit_note_pdf(note) -> bytes:
    """The credit note's PDF bytes."""
    return html_to_pdf(render_credit_note_html(note))
