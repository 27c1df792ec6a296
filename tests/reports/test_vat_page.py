"""The VAT return page: figures linking their documents, PDF and XLSX downloads, for finance."""

from __future__ import annotations

import io
import subprocess

import pytest
from openpyxl import load_workbook

from pieced_admin import clock

from .test_vat_return import quarter_of_invoices  # noqa: F401  (the Q4 2026 dataset)


@pytest.mark.now("2027-01-15")
def test_finance_reads_the_return_with_each_figure_linking_its_documents(finance_client, quarter_of_invoices):
    page = finance_client.get("/reports/vat?entity=pieced&quarter=2026-Q4").get_data(as_text=True)
    default = finance_client.get("/reports/vat").get_data(as_text=True)
    # Without credit notes: the void's reversal 100.00 is the only reduction.
    # 200 = 1000 + 200 + 300 + 100 = 1600.00; 221 = 300.00; 235 = 100.00; 289 = 400.00; 299 = 1200.00
    for key, amount in (("200", "1’600.00"), ("221", "300.00"), ("235", "100.00"), ("289", "400.00"),
                        ("299", "1’200.00")):
        assert f'data-testid="figure-{key}">{amount}<' in page, key
    figure_221 = page.split('id="figure-221"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/invoices/PC-2026-0103"' in figure_221 and "PC-2026-0101" not in figure_221
    figure_235 = page.split('id="figure-235"', 1)[1].split("</tr>", 1)[0]
    assert "PC-2026-0104 (void)" in figure_235 and 'href="/invoices/PC-2026-0104"' in figure_235
    # 8.10 %: VAT 81.00 + 16.20 + 8.10 − 8.10 = 97.20
    assert 'data-testid="vat-total">97.20<' in page
    assert "2026-Q4" in default and 'selected>2026-Q4' in default  # last quarter by default


@pytest.mark.now("2027-01-15")
def test_downloads_as_xlsx_and_pdf(finance_client, quarter_of_invoices):
    xlsx = finance_client.get("/reports/vat.xlsx?entity=pieced&quarter=2026-Q4")
    pdf = finance_client.get("/reports/vat.pdf?entity=pieced&quarter=2026-Q4")
    assert xlsx.headers["Content-Disposition"] == 'attachment; filename="vat-return-pieced-2026-Q4.xlsx"'
    book = load_workbook(io.BytesIO(xlsx.data))
    figures = {row[0]: row[2] for row in book["Figures"].iter_rows(min_row=2, values_only=True)}
    assert figures == {"200": 1600, "221": 300, "235": 100, "289": 400, "299": 1200}
    documents = list(book["Documents"].iter_rows(min_row=2, values_only=True))
    assert ("credit_note", "PC-2026-0104 (void)") in [(d[0], d[1]) for d in documents]
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    assert "VAT return 2026-Q4" in text and "1’200.00" in text and "97.20" in text


@pytest.mark.parametrize("query,message", [("?entity=nope", "No billing entity with code"), ("?quarter=2026-Q9", "YYYY-Qn")])
def test_a_bad_choice_is_explained_not_a_500(finance_client, session, query, message):
    resp = finance_client.get(f"/reports/vat{query}")
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
