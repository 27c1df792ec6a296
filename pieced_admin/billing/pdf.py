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

import io
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
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
    qr_bill,
    qr_bill_svg,
    swico_s1,
    uid_digits,
)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "pdf"
DEFAULT_TIMEZONE = "Europe/Zurich"
LANGUAGES = ("en", "de")
REMINDER_LEVELS = (1, 2, 3)
CARD_UNUSABLE = ("no_payment_method", "failed")  # card invoices that carry the QR-bill instead
REMINDER_DAYS = 10  # a reminder asks for payment within this many days (the letters say so)

# Every word the documents print, per language: one table, no gettext.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "reminder_1": "Payment reminder",
        "reminder_2": "Second reminder",
        "reminder_3": "Final reminder",
        "invoice_number": "Invoice number",
        "replaces": "Replaces invoice",
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
        "unit": "Unit",
        "unit_each": "each",
        "unit_month": "month",
        "unit_days": "days",
        "unit_messages": "messages",
        "subtotal": "Subtotal",
        "reference": "Reference",
        "iban": "IBAN",
        "bic": "BIC",
        "payable_to": "Payable to",
        "vat_summary": "VAT summary: {rate} % on {currency} {net} = {currency} {vat}",
        "prorated_note": ("The monthly fee of part of a month is priced per day (fee / days in the month, rounded "
                          "to 5 decimal places); each amount is rounded to 0.01."),
        "card_failed": "We could not charge your payment card.",
    },
    "de": {
        "invoice": "Rechnung",
        "reminder_1": "Zahlungserinnerung",
        "reminder_2": "2. Mahnung",
        "reminder_3": "Letzte Mahnung",
        "invoice_number": "Rechnungsnummer",
        "replaces": "Ersetzt Rechnung",
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
        "tenant": "Mandant",
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
        "unit": "Einheit",
        "unit_each": "Stk.",
        "unit_month": "Monat",
        "unit_days": "Tage",
        "unit_messages": "Nachrichten",
        "subtotal": "Zwischentotal",
        "reference": "Referenz",
        "iban": "IBAN",
        "bic": "BIC",
        "payable_to": "Zahlbar an",
        "vat_summary": "MWST-Zusammenfassung: {rate} % auf {currency} {net} = {currency} {vat}",
        "prorated_note": ("Die Monatsgebühr eines angebrochenen Monats wird pro Tag berechnet (Gebühr / Tage des "
                          "Monats, auf 5 Dezimalstellen gerundet); jeder Betrag ist auf 0.01 gerundet."),
        "card_failed": "Ihre Zahlungskarte konnte nicht belastet werden.",
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
    bill: object | None  # the qrbill.QRBill, when there is one
    problem: str | None  # why there is none (shown in previews; an error in PDFs)
    reference_type: str | None = None
    reference: str | None = None
    svg: str | None = None  # browser previews only


def _bic(iban: str) -> str | None:
    """The BIC of the IBAN's bank, when the bank registry knows it."""
    try:
        from schwifty import IBAN

        bic = IBAN(iban).bic
    except Exception:  # an IBAN the registry does not know: no BIC printed
        return None
    return str(bic) if bic else None


def _qr_for(invoice, amount: Decimal, additional_information: str, lang: str, *, for_pdf: bool,
            billing_information: str = "") -> _Qr:
    entity = invoice.entity_snapshot or {}
    iban = entity.get("iban")
    if not iban:
        return _Qr(None, f"the billing entity {entity.get('name') or entity.get('code') or '?'} has no IBAN")
    args = dict(
        iban=iban, amount=amount, currency=invoice.currency or "CHF",
        creditor={**entity, "country": entity.get("country") or "CH"},
        debtor=qr_address(invoice.customer_snapshot),
        additional_information=additional_information, language=lang,
    )
    try:
        ref_type, reference = payment_reference(invoice.number, iban)
        bill = qr_bill(**args, reference_type=ref_type, reference=reference, billing_information=billing_information)
        svg = None if for_pdf else qr_bill_svg(**args, reference_type=ref_type, reference=reference)
    except (QrBillError, ValueError) as exc:
        return _Qr(None, str(exc))
    return _Qr(bill, None, ref_type, reference, svg)


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
    return {
        "lang": lang,
        "t": t,
        "for_pdf": for_pdf,
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


def _qr_context(qr: _Qr, ctx: dict, invoice) -> dict:
    entity = invoice.entity_snapshot or {}
    decor = PageDecor(
        doc_label=ctx["doc_label"], entity_name=ctx["entity"]["name"], page_text=ctx["t"]["page"],
        continued=ctx["t"]["continued"], bill=qr.bill, title=ctx["doc_label"], author=ctx["entity"]["name"],
        subject=ctx["doc_label"], lang=ctx["lang"],
    )
    out = {"has_qr": qr.bill is not None, "qr_inline": None, "qr_problem": qr.problem, "decor": decor}
    if qr.svg and not ctx["for_pdf"]:
        out["qr_inline"] = Markup(re.sub(r"^<\?xml[^>]*\?>\s*", "", qr.svg))
    if qr.bill is not None:
        iban = entity.get("iban") or ""
        out["bank"] = {"iban": _unbroken(format_iban(iban)), "bic": _bic(iban) or "",
                       "reference": _unbroken(format_reference(qr.reference))}
    else:
        out["bank"] = None
    return out


def _strip_tenant(description: str, tenant: str | None) -> str:
    """The description without the tenant's name in front: the tenant heads its group of lines."""
    for sep in (" — ", " - ", ": "):
        prefix = f"{tenant}{sep}"
        if tenant and description.startswith(prefix):
            return description[len(prefix):]
    return description


_PER_DAY_PLACES = Decimal("0.00001")


def _line_figures(line, days_in_month: int, t: dict) -> tuple[str, str, str, bool]:
    """Quantity, unit and unit price as printed, and whether the unit price is a rounded per-day price.

    Quantity × unit price gives the amount on a calculator, to the cent: the
    monthly fee of part of a month is shown per day (the fee / days in the
    month, to 5 places), a whole month as 1 month at the fee.
    """
    quantity, price = Decimal(line.quantity), Decimal(line.unit_price_chf)
    kind = line.kind
    if kind == "monthly_fee":
        if quantity == days_in_month:
            return "1", t["unit_month"], fmt_price(price), False
        per_day = (price / days_in_month).quantize(_PER_DAY_PLACES, rounding=ROUND_HALF_UP)
        return fmt_quantity(quantity), t["unit_days"], fmt_price(per_day), True
    unit = {"setup_fee": t["unit_each"], "skill": t["unit_days"], "llm": "USD",
            "threema": t["unit_messages"]}.get(kind, t["unit_each"])
    return fmt_quantity(quantity), unit, fmt_price(price), False


def _invoice_context(invoice, for_pdf: bool) -> dict:
    lang = _language(invoice)
    t = TEXTS[lang]
    ctx = _base_context(invoice, lang, for_pdf)
    currency = ctx["currency"]
    money = lambda d: format_chf(Decimal(d), lang)  # noqa: E731

    lines = sorted(invoice.lines or [], key=lambda line: (line.position if line.position is not None else 0))
    days_in_month = invoice.period_end.day if invoice.period_end else 30
    groups: list[dict] = []
    prorated = False
    for line in lines:
        if not groups or groups[-1]["tenant"] != line.tenant_name:
            groups.append({"tenant": line.tenant_name, "rows": [], "subtotal": Decimal("0.00")})
        quantity, unit, unit_price, per_day = _line_figures(line, days_in_month, t)
        prorated = prorated or per_day
        groups[-1]["rows"].append({
            "description": _strip_tenant(line.description or "", line.tenant_name),
            "quantity": quantity, "unit": unit, "unit_price": unit_price, "amount": money(line.amount_chf),
        })
        groups[-1]["subtotal"] += Decimal(line.amount_chf)
    for group in groups:
        group["subtotal_text"] = money(group["subtotal"])

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
    replaces = getattr(invoice, "replaces_number", None)  # a re-issue after a void names what it replaces
    if replaces:
        meta.append((t["replaces"], replaces))
    if ctx["customer"]["org_id"]:
        meta.append((t["customer_id"], ctx["customer"]["org_id"]))
    if ctx["customer"]["vat_number"]:
        meta.append((t["your_vat_number"], ctx["customer"]["vat_number"]))

    rate = _fmt_rate(invoice.vat_rate or Decimal(0))
    totals = [(t["net"], money(invoice.net_chf), "net")]
    if not invoice.vat_note:
        totals.append((t["vat"].format(rate=rate), money(invoice.vat_chf), "vat"))
    totals.append((t["total"].format(currency=currency), money(invoice.total_chf), "total"))
    vat_summary = t["vat_summary"].format(rate=rate, currency=currency, net=money(invoice.net_chf),
                                          vat=money(invoice.vat_chf))

    # The org's credit balance used at issue: the QR-bill and the card charge are for what is left.
    credit = Decimal(getattr(invoice, "credit_applied_chf", None) or 0)
    due = Decimal(invoice.total_chf) - credit
    if credit:
        totals[-1] = (*totals[-1][:2], "gross")
        totals.append((t["credit_applied"], money(-credit), "credit"))
        totals.append((t["amount_due"].format(currency=currency), money(due), "total"))

    charge_status = getattr(invoice, "charge_status", None)
    card = charge_status is not None
    card_failed = charge_status in CARD_UNUSABLE
    ctx["doc_label"] = f"{t['invoice']} {ctx['number']}"
    qr = _Qr(None, None)
    if (not card or card_failed) and due > 0:
        issued_on = _local_date(invoice.issued_at)
        s1 = swico_s1(number=ctx["number"], issued_on=issued_on, uid=uid_digits((invoice.entity_snapshot or {})
                      .get("vat_number")), vat_rate=invoice.vat_rate, terms_days=terms) if issued_on else ""
        qr = _qr_for(invoice, due, t["qr_info_invoice"].format(number=ctx["number"]), lang,
                     for_pdf=for_pdf, billing_information=s1)
    qr_ctx = _qr_context(qr, ctx, invoice)
    if due <= 0:
        payment_text = t["paid_by_credit"]
    elif qr.bill is not None:
        if qr_ctx["bank"]["reference"]:
            meta.append((t["reference"], qr_ctx["bank"]["reference"]))
        payment_text = t["pay_by_qr"].format(
            currency=currency, amount=money(due), due=_fmt_date(invoice.due_date),
            iban=qr_ctx["bank"]["iban"], reference=qr_ctx["bank"]["reference"],
        )
        if card_failed:
            payment_text = t["card_failed"] + " " + payment_text
    elif card:
        payment_text = t["pay_by_card"].format(currency=currency, amount=money(due))
    else:
        payment_text = ""
    ctx.update({
        "kind": "invoice",
        "title": t["invoice"],
        "heading": f"{t['invoice']} {ctx['number']}",
        "meta": meta,
        "groups": groups,
        "show_subtotals": len(groups) > 1,
        "prorated_note": t["prorated_note"] if prorated else "",
        "totals": totals,
        "vat_summary": vat_summary if not invoice.vat_note else "",
        "vat_note": invoice.vat_note,
        "payment_text": payment_text,
        **qr_ctx,
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
    ctx["doc_label"] = f"{t[f'reminder_{level}']} – {t['invoice']} {ctx['number']}"
    qr = _qr_for(invoice, outstanding, t["qr_info_reminder"].format(number=ctx["number"], level=level), lang,
                 for_pdf=for_pdf)
    qr_ctx = _qr_context(qr, ctx, invoice)
    contact = ", ".join(ctx["entity"]["contact"][:1])
    meta = [
        (t["reminder_date"], _fmt_date(reminder_date)),
        (t["invoice_number"], ctx["number"]),
        (t["invoice_date"], _fmt_date(invoice.issued_at)),
        (t["due_date"], _fmt_date(invoice.due_date)),
        (t["reminder_level"], str(level)),
    ] + ([(t["customer_id"], ctx["customer"]["org_id"])] if ctx["customer"]["org_id"] else [])
    if qr_ctx["bank"]:
        meta.append((t["reference"], qr_ctx["bank"]["reference"]))
    ctx.update({
        "kind": "reminder",
        "title": t[f"reminder_{level}"],
        "heading": f"{t[f'reminder_{level}']} – {t['invoice']} {ctx['number']}",
        "meta": meta,
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
            iban=qr_ctx["bank"]["iban"], reference=qr_ctx["bank"]["reference"],
        ) if qr_ctx["bank"] else "",
        **qr_ctx,
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
    if ctx["for_pdf"] and not ctx["has_qr"] and ctx["qr_problem"]:
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
    """Documents are self-contained: no network, no local files."""
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=120)


# What xhtml2pdf only warns about but leaves a document incomplete: an image it could not read,
# a resource refused, a static frame that could not be painted or overflowed.
_FATAL_WARNINGS = ("image", "blocked by the resource policy", "static frame")


@dataclass
class PageDecor:
    """What is drawn on the pages around the flow of the HTML: running header and footer, the QR-bill.

    Drawn by the canvas once the layout is done and the page count known, so a
    document is laid out in a single pass whatever its length ("Page x of y"
    in HTML would make xhtml2pdf lay it out twice).
    """

    doc_label: str = ""
    entity_name: str = ""
    page_text: str = "Page {page} of {count}"
    continued: str = ""
    bill: object | None = None  # a qrbill.QRBill, drawn at the foot of the last page
    title: str = ""
    author: str = ""
    subject: str = ""
    lang: str = "en"


_MM = 72 / 25.4


def _draw_decor(canv, decor: PageDecor, page: int, count: int) -> None:
    from .fonts import REGULAR

    width, height = canv._pagesize
    canv.saveState()
    canv.setFont(REGULAR, 7.5)
    canv.setFillColorRGB(0.4, 0.4, 0.4)
    right = f"{decor.doc_label} · {decor.page_text.format(page=page, count=count)}" if decor.doc_label \
        else decor.page_text.format(page=page, count=count)
    baseline = height - 12 * _MM
    canv.drawRightString(width - 20 * _MM, baseline, right)
    if page > 1 and decor.entity_name:
        canv.drawString(20 * _MM, baseline, decor.entity_name)
    if page < count and decor.continued:
        canv.drawRightString(width - 20 * _MM, 9 * _MM, f"{decor.continued} …")
    canv.restoreState()
    if page == count and decor.bill is not None:
        from .qr_draw import draw_qr_bill

        draw_qr_bill(canv, decor.bill)


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _xmp(doc, info) -> bytes:
    """XMP metadata declaring PDF/A-2b, with the same values as the document information dictionary."""
    from xml.sax.saxutils import escape

    ts = doc._timeStamp
    y, mo, d, h, mi, se = ts.YMDhms
    when = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{se:02d}{ts.dhh:+03d}:{ts.dmm:02d}"
    e = lambda v: escape(str(v or ""))  # noqa: E731
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
        '<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>'
        f'<dc:format>application/pdf</dc:format>'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{e(info.title)}</rdf:li></rdf:Alt></dc:title>'
        f'<dc:creator><rdf:Seq><rdf:li>{e(info.author)}</rdf:li></rdf:Seq></dc:creator>'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{e(info.subject)}</rdf:li></rdf:Alt></dc:description>'
        f'<xmp:CreateDate>{when}</xmp:CreateDate><xmp:ModifyDate>{when}</xmp:ModifyDate>'
        f'<xmp:MetadataDate>{when}</xmp:MetadataDate><xmp:CreatorTool>{e(info.creator)}</xmp:CreatorTool>'
        f'<pdf:Producer>{e(info.producer)}</pdf:Producer><pdf:Keywords>{e(info.keywords)}</pdf:Keywords>'
        '</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
    ).encode("utf-8")


def _mark_pdfa(canv, decor: PageDecor) -> None:
    """PDF/A-2b parts ReportLab does not write by itself: XMP metadata and an sRGB output intent."""
    from reportlab.pdfbase.pdfdoc import XMP, PDFArray, PDFCatalog, PDFDictionary, PDFName, PDFStream, PDFString

    doc = canv._doc
    info = doc.info
    info.title, info.author, info.subject = decor.title, decor.author, decor.subject
    info.creator = "pieced-admin"
    catalog = doc.Catalog
    # OutputIntents is not among the catalog entries ReportLab knows; the instance's list adds it.
    catalog.__NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents"]
    catalog.__Refs__ = catalog.__NoDefault__
    profile = PDFStream(PDFDictionary({"N": 3}), _srgb_profile())
    catalog.OutputIntents = PDFArray([PDFDictionary({
        "Type": PDFName("OutputIntent"), "S": PDFName("GTS_PDFA1"),
        "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"), "Info": PDFString("sRGB IEC61966-2.1"),
        "DestOutputProfile": doc.Reference(profile),
    })])
    catalog.Metadata = XMP(creator=lambda d: _xmp(d, info))


def _canvas_class(decor: PageDecor):
    """A canvas that keeps the pages until the end, then draws the decor on each knowing the page count."""
    from reportlab.pdfgen.canvas import Canvas
    from xhtml2pdf.builders.printmarks import MarkedCanvas

    class DocumentCanvas(MarkedCanvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._kept_pages: list[dict] = []

        def showPage(self):  # noqa: N802 - ReportLab's name
            self._kept_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            count = len(self._kept_pages)
            for number, state in enumerate(self._kept_pages, 1):
                self.__dict__.update(state)
                _draw_decor(self, decor, number, count)
                Canvas.showPage(self)
            _mark_pdfa(self, decor)
            Canvas.save(self)

    return DocumentCanvas


def _convert(html: str, decor: PageDecor) -> tuple[bytes, int]:
    """xhtml2pdf's parse of the HTML into a story, laid out once by its document template on our canvas."""
    from reportlab.lib.units import cm
    from xhtml2pdf import document as xdoc
    from xhtml2pdf.config.resources import render_budget, use_policy
    from xhtml2pdf.context import pisaContext
    from xhtml2pdf.default import DEFAULT_PAGE_NAME
    from xhtml2pdf.files import cleanFiles
    from xhtml2pdf.util import reset_caches
    from xhtml2pdf.xhtml2pdf_reportlab import PmlBaseDoc, PmlFrame, PmlPageTemplate

    from .fonts import REGULAR, register_fonts

    register_fonts()
    policy = _resource_policy()
    with xdoc._RENDER_LOCK:  # xhtml2pdf and ReportLab keep fonts and caches in module globals
        context = pisaContext("", capacity=100 * 1024)
        context.resource_policy = policy
        try:
            with use_policy(policy), render_budget(policy):
                context = xdoc.pisaStory(html, "", None, 0, None, False, "utf-8", context=context)
                if context.err:
                    return b"", context.err
                out = io.BytesIO()
                doc = PmlBaseDoc(out, pagesize=context.pageSize, title=decor.title, author=decor.author,
                                 subject=decor.subject, showBoundary=0, allowSplitting=1, lang=decor.lang,
                                 initialFontName=REGULAR)
                declared_body = DEFAULT_PAGE_NAME in context.templateList
                if declared_body:
                    body = context.templateList.pop(DEFAULT_PAGE_NAME)
                else:
                    body = PmlPageTemplate(id="body", frames=[PmlFrame(cm, cm, context.pageSize[0] - 2 * cm,
                                                                       context.pageSize[1] - 2 * cm, id="body")],
                                           pagesize=context.pageSize)
                templates = [body, *context.templateList.values()]
                doc.addPageTemplates(templates)
                doc.pisaPositioned = context.positioned
                xdoc.start_on_leading_template(doc, templates, context.story, declared_body=declared_body,
                                               body_named=context.bodyPageNamed)
                doc.build(context.story, canvasmaker=_canvas_class(decor))
                return out.getvalue(), 0
        finally:
            cleanFiles()
            reset_caches()


def html_to_pdf(html: str, decor: PageDecor | None = None) -> bytes:
    """Convert document HTML to PDF with xhtml2pdf, `decor` drawn on its pages; raises PdfRenderError."""
    if not isinstance(html, str):
        raise PdfRenderError(f"expected the document's HTML as text, got {type(html).__name__}")
    decor = decor or PageDecor()
    handler = _ThreadLog()
    pisa_log = logging.getLogger("xhtml2pdf")
    pisa_log.addHandler(handler)
    try:
        data, errors = _convert(html, decor)
    except PdfRenderError:
        raise
    except Exception as exc:
        raise PdfRenderError(f"xhtml2pdf failed: {type(exc).__name__}: {exc}") from exc
    finally:
        pisa_log.removeHandler(handler)
    if errors:
        details = "; ".join(dict.fromkeys(handler.messages)) or "no details logged"
        raise PdfRenderError(f"xhtml2pdf reported {errors} error(s): {details}")
    fatal = [m for m in dict.fromkeys(handler.messages) if any(f in m.lower() for f in _FATAL_WARNINGS)]
    if fatal:
        raise PdfRenderError("the PDF would be incomplete: " + "; ".join(m.strip() for m in fatal))
    if not data.startswith(b"%PDF"):
        raise PdfRenderError("xhtml2pdf produced no PDF")
    return data


def _page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def invoice_pdf_parts(invoice) -> tuple[str, PageDecor]:
    """The HTML and page decor render_invoice_pdf converts (for worker processes and the benchmark)."""
    ctx = _invoice_context(invoice, True)
    return _render("invoice.html", ctx), ctx["decor"]


def render_invoice_pdf(invoice) -> bytes:
    """The invoice as PDF bytes (what is stored at issue): its HTML through xhtml2pdf, the QR-bill drawn natively."""
    return html_to_pdf(*invoice_pdf_parts(invoice))


def render_reminder_pdf(invoice, *, level: int, reminder_date: date, outstanding_chf: Decimal) -> bytes:
    """The reminder letter as PDF bytes, with its QR-bill for the outstanding amount."""
    ctx = _reminder_context(invoice, level, reminder_date, outstanding_chf, True)
    return html_to_pdf(_render("reminder.html", ctx), ctx["decor"])
