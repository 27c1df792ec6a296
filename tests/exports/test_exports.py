"""Exports of the invoice list: XLSX with typed cells, CSV for Excel in Swiss locales and for machines,
void invoices apart, every filter applied, no formula injection."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.exports.tables import Column, Table, csv_text, neutralise, to_xlsx
from pieced_admin.extensions import db
from pieced_admin.models import InvoiceLine

from ..factories import make_org
from ..invoices.support import make_invoice


@pytest.mark.parametrize("text,expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+41 44 000 00 00", "'+41 44 000 00 00"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("Städtle AG", "Städtle AG"),
    ("a=b", "a=b"),
    ("", ""),
])
def test_text_cells_are_neutralised_as_owasp_says(text, expected):
    assert neutralise(text) == expected


def test_numbers_are_not_neutralised_and_each_flavour_writes_its_own_way():
    table = Table("T", [Column("name"), Column("amount_chf", "money"), Column("on", "date")],
                  [["=cmd", Decimal("-5"), date(2026, 12, 1)]])
    # Excel de-CH: BOM, semicolon, dd.mm.yyyy; a refund of -5.00 stays the number -5.00.
    assert csv_text(table, "excel-ch") == "\ufeffname;amount_chf;on\r\n'=cmd;-5.00;01.12.2026\r\n"
    assert csv_text(table, "rfc4180") == "name,amount_chf,on\r\n'=cmd,-5.00,2026-12-01\r\n"


def _excel_de_ch(body: bytes) -> list[list[str]]:
    """Read a CSV as Excel with a Swiss German locale does: UTF-8 recognised by its BOM, `;` between fields."""
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


@pytest.fixture
def dataset(session):
    with clock.pinned("2026-12-10"):
        stadtle = make_org("org-stadtle", display_name="=Städtle Bäckerei AG")  # a formula where a name should be
        berg = make_org("org-berg", display_name="Berg GmbH")
        a = make_invoice(stadtle, number="PC-2026-0101", period=Period(2026, 10), issued=date(2026, 11, 2), net="100.00")
        b = make_invoice(berg, number="PC-2026-0102", period=Period(2026, 10), issued=date(2026, 11, 2), net="200.00",
                         status="paid", paid_on=date(2026, 11, 20))
        v = make_invoice(berg, number="PC-2026-0103", period=Period(2026, 10), issued=date(2026, 11, 3), net="50.00",
                         status="void")
        for inv, desc in ((a, "@SUM(1+1) monthly fee"), (b, "Monthly fee"), (v, "Monthly fee")):
            db.session.add(InvoiceLine(invoice_id=inv.id, tenant_name=f"{inv.zitadel_org_id}-main", kind="monthly_fee",
                                       description=desc, quantity=Decimal("31"), unit_price_chf=Decimal("49.00"),
                                       amount_chf=inv.net_chf, position=1))
        db.session.flush()
        yield


@pytest.mark.now("2026-12-10")
def test_excel_csv_opens_in_de_ch_with_its_columns_and_void_apart(finance_client, dataset):
    resp = finance_client.get("/invoices/export/invoices.csv?flavour=excel-ch&sort=number&dir=asc")
    resp.data  # noqa: B018  (a streamed body: read it before the next request)
    page = finance_client.get("/invoices").get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="invoices-all-excel-ch.csv"'
    rows = _excel_de_ch(resp.data)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["number", "issued_date", "period", "due_date"] and len(header) == 25  # with credited, balance and credit notes
    by = {r[0]: dict(zip(header, r)) for r in body}
    assert list(by) == ["PC-2026-0101", "PC-2026-0102", "PC-2026-0103"]
    assert by["PC-2026-0101"]["org_name"] == "'=Städtle Bäckerei AG"  # UTF-8 intact, formula neutralised
    assert by["PC-2026-0101"]["issued_date"] == "02.11.2026"
    # 100.00 + 8.10 % = 108.10; 200.00 + 16.20 = 216.20; the void 50.00 + 4.05 = 54.05 stands apart.
    assert [by[n]["total_chf"] for n in by] == ["108.10", "216.20", ""]
    assert by["PC-2026-0103"]["void_total_chf"] == "54.05" and by["PC-2026-0103"]["void_net_chf"] == "50.00"
    total = sum(Decimal(r["total_chf"]) for r in by.values() if r["total_chf"])
    assert total == Decimal("324.30")  # 108.10 + 216.20: what the list shows as its total
    assert "324.30" in page


@pytest.mark.now("2026-12-10")
def test_every_filter_of_the_list_applies_and_names_the_file(finance_client, dataset):
    resp = finance_client.get("/invoices/export/lines.csv?flavour=rfc4180&status=void")
    void_lines, name = resp.data, resp.headers["Content-Disposition"]
    only_berg = finance_client.get("/invoices/export/invoices.csv?flavour=excel-ch&org=org-berg").data
    assert name == 'attachment; filename="invoice-lines-void-rfc4180.csv"'
    lines = list(csv.DictReader(io.StringIO(void_lines.decode("utf-8"), newline="")))
    assert [(r["number"], r["amount_chf"], r["void_amount_chf"]) for r in lines] == [("PC-2026-0103", "", "50.00")]
    assert sorted(r[0] for r in _excel_de_ch(only_berg)[1:]) == ["PC-2026-0102", "PC-2026-0103"]


@pytest.mark.now("2026-12-10")
def test_xlsx_reads_back_with_numbers_dates_header_and_frozen_panes(finance_client, dataset):
    resp = finance_client.get("/invoices/export/invoices.xlsx?sort=number&dir=asc")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="invoices-all.xlsx"'
    book = load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["Invoices", "Lines", "Payments", "Credit notes", "Unmatched"]
    sheet = book["Invoices"]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[0] == "number" and sheet["A1"].font.bold
    first = dict(zip(header, [c.value for c in sheet[2]]))
    assert isinstance(first["issued_date"], datetime) and first["issued_date"].date() == date(2026, 11, 2)
    assert sheet.cell(2, header.index("issued_date") + 1).number_format == "DD.MM.YYYY"
    assert isinstance(first["total_chf"], (int, float)) and first["total_chf"] == pytest.approx(108.10)
    assert first["org_name"] == "'=Städtle Bäckerei AG"
    assert sheet.cell(2, header.index("org_name") + 1).data_type == "s"  # text, never a formula
    void = dict(zip(header, [c.value for c in sheet[4]]))
    assert void["total_chf"] is None and void["void_total_chf"] == pytest.approx(54.05)
    lines = book["Lines"]
    line_header = [c.value for c in lines[1]]
    first_line = dict(zip(line_header, [c.value for c in lines[2]]))
    assert first_line["description"] == "'@SUM(1+1) monthly fee"
    assert first_line["quantity"] == 31 and first_line["amount_chf"] == pytest.approx(100.0)


def test_to_xlsx_keeps_text_that_looks_like_a_formula_as_text():
    book = load_workbook(io.BytesIO(to_xlsx([Table("X", [Column("a"), Column("n", "number")], [["=1+1", 3]])])))
    cell = book["X"]["A2"]
    assert cell.value == "'=1+1" and cell.data_type == "s" and book["X"]["B2"].value == 3


@pytest.mark.now("2026-12-10")
def test_payments_and_credit_notes_of_the_listed_invoices_export_for_excel(finance_client, dataset):
    from pieced_admin.billing.credit_notes import issue_credit_note
    from pieced_admin.billing.issuing import mark_paid

    # 0101: 108.10 owed; 50.00 paid by bank, then a credit of 10.00 net + 8.1 % = 0.81 VAT (10.81).
    mark_paid("PC-2026-0101", amount=Decimal("50.00"), paid_on=date(2026, 12, 1), reference="=BANK 1")
    issue_credit_note("PC-2026-0101", "goodwill", amount=Decimal("10.00"), render_pdf=False)
    db.session.commit()

    payments = _excel_de_ch(finance_client.get(
        "/invoices/export/payments.csv?flavour=excel-ch&q=org-stadtle").data)
    header, rows = payments[0], payments[1:]
    by = [dict(zip(header, r)) for r in rows]
    assert [(r["booked_on"], r["invoice"], r["amount_chf"], r["reference"]) for r in by] == [
        ("01.12.2026", "PC-2026-0101", "50.00", "'=BANK 1")]  # the reference a formula no more

    notes = _excel_de_ch(finance_client.get("/invoices/export/credit-notes.csv?flavour=excel-ch").data)
    note = dict(zip(notes[0], notes[1]))
    assert (note["invoice"], note["reason"], note["net_chf"], note["vat_chf"], note["total_chf"]) == (
        "PC-2026-0101", "goodwill", "10.00", "0.81", "10.81")

    invoices = _excel_de_ch(finance_client.get("/invoices/export/invoices.csv?flavour=excel-ch&q=org-stadtle").data)
    row = dict(zip(invoices[0], invoices[1]))
    # Balance: 108.10 − 10.81 credited − 50.00 paid = 47.29.
    assert (row["credited_chf"], row["balance_chf"], row["credit_notes"]) == ("10.81", "47.29", note["number"])
