"""Benchmark of invoice PDFs: a one-page invoice and a 60-tenant one, and our own overhead.

Run: .venv/bin/python bench/pdf.py [--runs R]

Prints, for each invoice, the median wall time of render_invoice_pdf() (HTML
from the template + xhtml2pdf + the QR-bill + the checks), the median of a bare
xhtml2pdf.CreatePDF() of the very HTML it converted, and their ratio: what our
code adds on top of xhtml2pdf. A short invoice takes the one-page layout (one
pass); the two-pass layout of render_invoice_html() is timed for comparison. The CPU time is printed too, being steadier than wall
time on a busy machine. No database: the invoices are built in memory.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pieced_admin.billing import pdf as pdfmod  # noqa: E402
from pieced_admin.billing.pdf import html_to_pdf, render_invoice_html, render_invoice_pdf  # noqa: E402
from pieced_admin.models import Invoice, InvoiceLine  # noqa: E402

D = Decimal
ENTITY = {
    "code": "pieced-ch", "name": "PieCed AG", "street": "Bahnhofstrasse", "building_number": "1",
    "postal_code": "8001", "city": "Zürich", "country": "CH", "vat_number": "CHE-123.456.788 MWST",
    "iban": "CH4431999123000889012", "currency": "CHF", "email": "billing@pieced.ch", "website": "www.pieced.ch",
}
CUSTOMER = {
    "org_id": "org-acme", "name": "ACME Swiss AG", "street": "Musterstrasse", "building_number": "5",
    "postal_code": "3000", "city": "Bern", "country": "CH", "vat_number": None, "billing_email": "ap@acme.ch",
    "language": "en",
}
LINES = [
    ("setup_fee", None, "Setup fee", D("1"), D("99.00"), D("99.00")),
    ("monthly_fee", None, "Monthly fee (18 of 31 days)", D("18"), D("49.00"), D("28.45")),
    ("skill", "searxng-local-search", "Skill searxng-local-search (18 days)", D("18"), D("0.10"), D("1.80")),
    ("llm", None, "LLM usage (12.3456 USD at 0.9 CHF/USD)", D("12.3456"), D("1.08"), D("13.33")),
    ("threema", None, "Threema messages", D("1234"), D("0.005"), D("6.17")),
]


def invoice(tenants: int) -> Invoice:
    lines = []
    for t in range(tenants):
        for kind, skill, description, quantity, price, amount in LINES:
            lines.append(InvoiceLine(tenant_name=f"tenant-{t:02d}-production", kind=kind, skill_id=skill,
                                     description=description, quantity=quantity, unit_price_chf=price,
                                     amount_chf=amount, position=len(lines) + 1))
    net = sum((line.amount_chf for line in lines), D("0.00"))
    vat = (net * D("0.081")).quantize(D("0.01"))
    inv = Invoice(number="PC-2026-0001", issued_at=datetime(2026, 11, 1, 6, tzinfo=timezone.utc),
                  period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), due_date=date(2026, 12, 1),
                  currency="CHF", net_chf=net, vat_rate=D("8.10"), vat_chf=vat, total_chf=net + vat,
                  language="en", payment_terms_days=30, status="issued",
                  entity_snapshot=ENTITY, customer_snapshot=CUSTOMER)
    inv.lines = lines
    return inv


def measure(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of fn() over `runs` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def converted_html(inv: Invoice) -> str:
    """The HTML render_invoice_pdf() hands to xhtml2pdf: the one-page layout when it is taken, else the general."""
    ctx = pdfmod._invoice_context(inv, True)
    if len(inv.lines) <= pdfmod._ONE_PAGE_LINES and pdfmod._one_page_pdf("invoice.html", ctx) is not None:
        return pdfmod._render("invoice.html", {**ctx, "single_page": True})
    return render_invoice_html(inv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from xhtml2pdf import pisa

    for label, tenants, runs in (("one-page invoice (1 tenant, 5 lines)", 1, args.runs),
                                 ("60-tenant invoice (300 lines)", 60, max(3, args.runs // 3))):
        inv = invoice(tenants)
        pdf = render_invoice_pdf(inv)  # warm up: imports, template compilation
        html = converted_html(inv)
        full_wall, full_cpu = measure(lambda inv=inv: render_invoice_pdf(inv), runs)
        html_wall, _ = measure(lambda inv=inv: render_invoice_html(inv), runs)
        bare_wall, bare_cpu = measure(lambda html=html: pisa.CreatePDF(html, dest=io.BytesIO()), runs)
        print(f"{label}: {pdfmod._page_count(pdf)} page(s), {runs} runs")
        print(f"  render_invoice_pdf          median {full_wall * 1000:7.1f} ms wall, {full_cpu * 1000:7.1f} ms CPU")
        print(f"    of which the HTML         median {html_wall * 1000:7.1f} ms wall")
        print(f"  bare xhtml2pdf, same HTML   median {bare_wall * 1000:7.1f} ms wall, {bare_cpu * 1000:7.1f} ms CPU")
        print(f"  our overhead (ours / bare): {full_wall / bare_wall:.2f} wall, {full_cpu / bare_cpu:.2f} CPU")
        if tenants == 1:
            general_wall, general_cpu = measure(lambda inv=inv: html_to_pdf(render_invoice_html(inv)), runs)
            print(f"  for comparison, the two-pass layout of render_invoice_html(): "
                  f"median {general_wall * 1000:.1f} ms wall, {general_cpu * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
