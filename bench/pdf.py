"""Benchmark of invoice PDFs: a one-page invoice and a 60-tenant one, against the ReportLab floor.

Run: .venv/bin/python bench/pdf.py [--runs R]

Prints, for each invoice, the median wall and CPU time of render_invoice_pdf()
(HTML from the template, xhtml2pdf's parse and one layout pass, the header,
footer and QR-bill drawn on the canvas, the fonts embedded), and of the HTML
alone. For the one-page invoice it also prints the floor: ReportLab's canvas
drawing the same content (letterhead, addresses, details, the five lines,
totals, payment text) in the same embedded font, with the same QR-bill drawing
and QR encoder, and the ratio of the two, and what xhtml2pdf's parse of the
HTML into a story costs by itself, before any layout (the part of the time the
letter's template and converter decide). In the same run, it times the same
invoices rendered by the revision before the invoice-document work
(`--baseline`, default BASELINE: SVG QR-bill through svglib, two layout passes)
from a `git archive` of it, in a subprocess, and prints the speed-up. CPU time
is steadier than wall time on a busy machine: compare CPU figures. No database:
the invoices are built in memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = "26162a5"  # the last revision before the invoice-document work (native QR-bill, one layout pass)

from pieced_admin.billing import pdf as pdfmod  # noqa: E402
from pieced_admin.billing.pdf import render_invoice_html, render_invoice_pdf  # noqa: E402
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
    """Median wall and CPU seconds of fn() over `runs` calls (the QR code encoded afresh each time)."""
    from pieced_admin.billing import qr_draw

    walls, cpus = [], []
    for _ in range(runs):
        qr_draw.qr_matrix.cache_clear()  # every invoice has a QR code of its own
        qr_draw._qr_operators.cache_clear()
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def floor_pdf(inv: Invoice) -> bytes:
    """The one-page invoice drawn straight on a ReportLab canvas: what a PDF of this content costs at least."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    from pieced_admin.billing.fonts import BOLD, REGULAR, register_fonts
    from pieced_admin.billing.qr_draw import draw_qr_bill

    register_fonts()
    ctx = pdfmod._invoice_context(inv, True)
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, initialFontName=REGULAR)
    width, height = A4
    c.setFont(REGULAR, 7.5)
    c.drawRightString(width - 20 * mm, height - 12 * mm, f"{ctx['doc_label']} · Page 1 of 1")
    c.setFont(BOLD, 17)
    c.drawString(20 * mm, height - 26 * mm, ctx["entity"]["name"])
    c.setFont(REGULAR, 7.5)
    for i, text in enumerate([" · ".join(ctx["entity"]["address_lines"]), ctx["entity"]["vat_number"],
                              " · ".join(ctx["entity"]["contact"])]):
        c.drawRightString(width - 20 * mm, height - (20 + 3.5 * i) * mm, text)
    c.line(20 * mm, height - 33 * mm, width - 20 * mm, height - 33 * mm)
    y = height - 40 * mm
    c.setFont(REGULAR, 8)
    for label, value in ctx["meta"]:
        c.drawString(20 * mm, y, label)
        c.drawString(50 * mm, y, value)
        y -= 3.6 * mm
    c.setFont(REGULAR, 10)
    for i, text in enumerate([ctx["customer"]["name"], *ctx["customer"]["address_lines"]]):
        c.drawString(115 * mm, height - (44 + 4.5 * i) * mm, text)
    y -= 6 * mm
    c.setFont(BOLD, 14)
    c.drawString(20 * mm, y, ctx["heading"])
    y -= 8 * mm
    columns = (20, 128, 132, 168, 190)
    c.setFont(BOLD, 8)
    for x, text in zip(columns, ("Description", "Quantity", "Unit", "Unit price", "Amount (CHF)"), strict=True):
        (c.drawString if x in (20, 132) else c.drawRightString)(x * mm, y, text)
    for group in ctx["groups"]:
        y -= 4.5 * mm
        c.setFont(BOLD, 8.5)
        c.drawString(20 * mm, y, f"Tenant {group['tenant']}")
        c.setFont(REGULAR, 8.5)
        for row in group["rows"]:
            y -= 4.2 * mm
            for x, key in zip(columns, ("description", "quantity", "unit", "unit_price", "amount"), strict=True):
                (c.drawString if x in (20, 132) else c.drawRightString)(x * mm, y, row[key])
            c.line(20 * mm, y - 1 * mm, 190 * mm, y - 1 * mm)
    c.setFont(REGULAR, 9)
    for label, value, _kind in ctx["totals"]:
        y -= 4.5 * mm
        c.drawString(120 * mm, y, label)
        c.drawRightString(190 * mm, y, value)
    c.setFont(REGULAR, 7)
    c.drawString(20 * mm, y, ctx["vat_summary"])
    y -= 8 * mm
    c.setFont(REGULAR, 9)
    c.drawString(20 * mm, y, ctx["payment_text"][:110])
    c.drawString(20 * mm, y - 4 * mm, ctx["payment_text"][110:])
    draw_qr_bill(c, ctx["decor"].bill)
    c.showPage()
    pdfmod._mark_pdfa(c, ctx["decor"])  # the same document: XMP metadata and the sRGB output intent
    c.save()
    return out.getvalue()


def parse_only(html: str) -> None:
    """xhtml2pdf's parse of the HTML into a ReportLab story (html5lib, the CSS, the element walk), no layout."""
    from xhtml2pdf import document as xdoc
    from xhtml2pdf.context import pisaContext

    context = pisaContext("", capacity=100 * 1024)
    xdoc.pisaStory(html, "", None, 0, None, False, "utf-8", context=context)
    assert not context.err


# Runs in the baseline's archive: its own bench module builds the same invoices and times them.
_BASELINE_SCRIPT = """
import json, sys
sys.path.insert(0, "bench")
import pdf as old
import pieced_admin
assert pieced_admin.__file__.startswith(sys.argv[1]), pieced_admin.__file__
out = {}
for tenants, runs in ((1, int(sys.argv[2])), (60, int(sys.argv[3]))):
    inv = old.invoice(tenants)
    old.render_invoice_pdf(inv)
    out[tenants] = old.measure(lambda: old.render_invoice_pdf(inv), runs)
print(json.dumps(out))
"""


def baseline(rev: str, runs: int, long_runs: int) -> dict[int, tuple[float, float]] | str:
    """Median wall and CPU seconds of the same invoices rendered by `rev` (its own code and templates, this
    machine's libraries), from a `git archive` in a subprocess; a sentence instead when that cannot run."""
    with tempfile.TemporaryDirectory(prefix="pieced-bench-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pieced_admin", "templates", "bench"],
                                 capture_output=True)
        if archive.returncode != 0:
            return f"git archive {rev} failed: {archive.stderr.decode(errors='replace').strip()}"
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run([sys.executable, "-c", _BASELINE_SCRIPT, tmp, str(runs), str(long_runs)], cwd=tmp,
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return f"revision {rev} could not render: {done.stderr.strip().splitlines()[-1:]}"
        return {int(k): tuple(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", default=BASELINE, help="revision to compare with in the same run ('' to skip)")
    args = parser.parse_args()
    long_runs = max(3, args.runs // 3)
    before = baseline(args.baseline, args.runs, long_runs) if args.baseline else "skipped (--baseline '')"

    for label, tenants, runs in (("one-page invoice (1 tenant, 5 lines)", 1, args.runs),
                                 ("60-tenant invoice (300 lines)", 60, long_runs)):
        inv = invoice(tenants)
        pdf = render_invoice_pdf(inv)  # warm up: imports, fonts, template compilation
        full_wall, full_cpu = measure(lambda inv=inv: render_invoice_pdf(inv), runs)
        html_wall, _ = measure(lambda inv=inv: render_invoice_html(inv), runs)
        print(f"{label}: {pdfmod._page_count(pdf)} page(s), {runs} runs")
        print(f"  render_invoice_pdf          median {full_wall * 1000:7.1f} ms wall, {full_cpu * 1000:7.1f} ms CPU")
        print(f"    of which the HTML         median {html_wall * 1000:7.1f} ms wall")
        html = pdfmod.invoice_pdf_parts(inv)[0]
        parse_wall, parse_cpu = measure(lambda html=html: parse_only(html), runs)
        print(f"    xhtml2pdf's parse alone   median {parse_wall * 1000:7.1f} ms wall, {parse_cpu * 1000:7.1f} ms CPU"
              f"  (HTML to story, before any layout)")
        if isinstance(before, dict):
            old_wall, old_cpu = before[tenants]
            print(f"  {'before (' + args.baseline + ')':<28}median {old_wall * 1000:7.1f} ms wall, {old_cpu * 1000:7.1f} ms CPU"
                  f"  = {old_cpu / full_cpu:.2f}x the time of today's render (CPU)")
        else:
            print(f"  before: {before}")
        if tenants == 1:
            floor = floor_pdf(inv)
            assert pdfmod._page_count(floor) == 1
            floor_wall, floor_cpu = measure(lambda inv=inv: floor_pdf(inv), runs)
            print(f"  floor: ReportLab canvas     median {floor_wall * 1000:7.1f} ms wall, {floor_cpu * 1000:7.1f} ms CPU"
                  f"  (same content, font, QR-bill drawing and encoder)")
            print(f"  ratio to the floor: {full_wall / floor_wall:.2f} wall, {full_cpu / floor_cpu:.2f} CPU;"
                  f" xhtml2pdf's parse alone is {parse_cpu / floor_cpu:.2f}x the floor (CPU)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
