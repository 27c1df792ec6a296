"""reports/vat.py as a table: documents in, the figures of the Swiss VAT return out (SPEC §6)."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pieced_admin.reports.vat import Document, Quarter, compute_vat_return

D = Decimal
Q4 = Quarter(2026, 4)


def inv(number, day, net, vat, rate="8.10", abroad=False):
    return Document("invoice", number, day, D(net), D(rate), D(vat), abroad)


def cn(number, day, net, vat, rate="8.10", abroad=False, credits=None):
    return Document("credit_note", number, day, D(net), D(rate), D(vat), abroad, credits)


CASES = [
    pytest.param(
        [], {"200": "0.00", "221": "0.00", "235": "0.00", "289": "0.00", "299": "0.00"}, [], "0.00",
        id="an empty quarter"),
    pytest.param(
        # one Swiss invoice: 200 = 299 = 148.75; VAT 8.1 % of 148.75 = 12.05 (as issued)
        [inv("PC-1", date(2026, 10, 3), "148.75", "12.05")],
        {"200": "148.75", "221": "0.00", "235": "0.00", "289": "0.00", "299": "148.75"},
        [("8.10", "148.75", "12.05")], "12.05", id="one Swiss invoice"),
    pytest.param(
        # a German customer: 200 = 221 = 300.00, nothing taxable: 299 = 300.00 − 300.00 = 0.00
        [inv("PC-2", date(2026, 11, 3), "300.00", "0.00", rate="0.00", abroad=True)],
        {"200": "300.00", "221": "300.00", "235": "0.00", "289": "300.00", "299": "0.00"}, [], "0.00",
        id="a supply abroad is declared in 200 and deducted in 221"),
    pytest.param(
        # CH 1000.00 (VAT 81.00) + LI 200.00 (16.20) + DE 300.00 (0) + a voided CH 100.00 (8.10),
        # its void's reversal −100.00 (−8.10), a partial credit note −250.00 (−20.25) on the CH invoice,
        # a partial one −50.00 on the German invoice:
        # 200 = 1000 + 200 + 300 + 100 − 50 (credit abroad) = 1550.00
        # 221 = 300 − 50 = 250.00; 235 = 250 + 100 = 350.00; 289 = 250 + 350 = 600.00; 299 = 1550 − 600 = 950.00
        # 8.10 %: taxable 1000 + 200 + 100 − 250 − 100 = 950.00; VAT 81.00 + 16.20 + 8.10 − 20.25 − 8.10 = 76.95
        [inv("PC-A", date(2026, 10, 1), "1000.00", "81.00"), inv("PC-B", date(2026, 11, 20), "200.00", "16.20"),
         inv("PC-C", date(2026, 12, 5), "300.00", "0.00", rate="0.00", abroad=True),
         inv("PC-D", date(2026, 10, 10), "100.00", "8.10"),
         cn("PC-D (void)", date(2026, 10, 12), "100.00", "8.10", credits="PC-D"),
         cn("PC-CN-1", date(2026, 12, 1), "250.00", "20.25", credits="PC-A"),
         cn("PC-CN-2", date(2026, 12, 10), "50.00", "0.00", rate="0.00", abroad=True, credits="PC-C")],
        {"200": "1550.00", "221": "250.00", "235": "350.00", "289": "600.00", "299": "950.00"},
        [("8.10", "950.00", "76.95")], "76.95", id="CH, LI, abroad, a void and partial credit notes"),
    pytest.param(
        # documents outside the quarter are ignored: the September invoice and the January credit note;
        # a credit note in Q4 on an invoice of Q3 still reduces Q4: 235 = 40.00, 299 = 0 − 40.00 = −40.00
        [inv("PC-S", date(2026, 9, 30), "500.00", "40.50"), cn("PC-CN-J", date(2027, 1, 1), "10.00", "0.81"),
         cn("PC-CN-O", date(2026, 10, 31), "40.00", "3.24", credits="PC-S")],
        {"200": "0.00", "221": "0.00", "235": "40.00", "289": "40.00", "299": "-40.00"},
        [("8.10", "-40.00", "-3.24")], "-3.24", id="a credit note counts in its own quarter"),
    pytest.param(
        # two rates (the reduced 2.6 % beside 8.1 %), highest first:
        # 8.10: 100.00 / 8.10; 2.60: 50.00 / 1.30; VAT total 8.10 + 1.30 = 9.40
        [inv("PC-R1", date(2026, 10, 5), "100.00", "8.10"), inv("PC-R2", date(2026, 10, 6), "50.00", "1.30", rate="2.60")],
        {"200": "150.00", "221": "0.00", "235": "0.00", "289": "0.00", "299": "150.00"},
        [("8.10", "100.00", "8.10"), ("2.60", "50.00", "1.30")], "9.40", id="per rate"),
]


@pytest.mark.parametrize("documents,figures,rates,vat_total", CASES)
def test_figures(documents, figures, rates, vat_total):
    result = compute_vat_return(documents, Q4)
    assert {k: f"{v:.2f}" for k, v in result.figures.items()} == figures
    assert [(f"{r.rate:.2f}", f"{r.taxable_chf:.2f}", f"{r.vat_chf:.2f}") for r in result.rates] == rates
    assert f"{result.vat_total_chf:.2f}" == vat_total
    # the taxable nets of the rates add up to 299 (the rates are the Swiss-VAT documents')
    assert sum((r.taxable_chf for r in result.rates), D("0")) == result.figures["299"]


def test_each_figure_lists_the_documents_it_counts():
    docs = [d for d in CASES[3].values[0]]
    result = compute_vat_return(docs, Q4)
    assert set(result.documents["221"]) == {"PC-C", "PC-CN-2"}
    assert set(result.documents["235"]) == {"PC-D (void)", "PC-CN-1"}
    assert set(result.documents["200"]) == {"PC-A", "PC-B", "PC-C", "PC-D", "PC-CN-2"}
    assert result.rates[0].documents and "PC-C" not in result.rates[0].documents


@pytest.mark.parametrize("text,key,first,last", [
    ("2026-Q1", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026-q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2024-Q1", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31)),
])
def test_quarters(text, key, first, last):
    q = Quarter.parse(text)
    assert (q.key, q.first_day, q.last_day) == (key, first, last)


@pytest.mark.parametrize("text", ["2026-Q5", "2026Q1", "26-Q1", "", "2026-Q0"])
def test_bad_quarters_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="YYYY-Qn"):
        Quarter.parse(text)


def test_the_computation_is_pure():
    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("pieced_admin/reports/vat.py").read_text())
    imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "collections", "dataclasses", "datetime", "decimal"}, imported
