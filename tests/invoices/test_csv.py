"""`/invoices.csv`: the filtered set for accounting, RFC 4180, one header row, the filter in the file name."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import local_today
from pieced_admin.exports.invoices import INVOICE_COLUMNS
from pieced_admin.invoices.services import InvoiceQuery, csv_rows

from ..factories import make_entity, make_org, zurich
from .support import make_invoice

CSV_COLUMNS = [c.name for c in INVOICE_COLUMNS]


def parse(body: bytes) -> list[dict]:
    text = body.decode("utf-8")
    assert not text.startswith("\ufeff")  # no byte-order mark
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_export_of_a_filter_has_its_rows_columns_and_name(finance_client, session):
    today = local_today()
    acme = make_org("org-acme", display_name='Acme "Treuhand", Zürich AG')  # a comma and quotes: quoted per RFC 4180
    other = make_entity("pieced-services", prefix="PS")
    overdue = make_invoice(acme, number="PC-2026-0001", period=Period(2026, 9),
                           issued=zurich(2026, 10, 1, 0, 30), due=today - timedelta(days=12), net="148.75")
    make_invoice(acme, number="PS-2026-0001", entity=other, due=today - timedelta(days=3))  # other entity
    make_invoice(acme, number="PC-2026-0002", status="paid", period=Period(2026, 8))          # paid
    resp = finance_client.get("/invoices.csv?status=overdue&entity=pieced")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="invoices-overdue-pieced.csv"'
    rows = parse(resp.data)
    assert list(rows[0].keys()) == list(CSV_COLUMNS)
    assert len(rows) == 1
    row = rows[0]
    # 148.75 net, VAT 8.10 % = 12.049 → 12.05, total 160.80; issued 1.10. 00:30 local (30.9. 22:30 UTC)
    assert row == {
        "number": "PC-2026-0001", "issued_date": "2026-10-01", "period": "2026-09",
        "due_date": overdue.due_date.isoformat(), "org_id": "org-acme", "org_name": 'Acme "Treuhand", Zürich AG',
        "entity": "pieced", "net_chf": "148.75", "vat_rate": "8.10", "vat_chf": "12.05", "total_chf": "160.80",
        "void_net_chf": "", "void_vat_chf": "", "void_total_chf": "",
        "currency": "CHF", "status": "overdue", "days_overdue": "12", "paid_date": "", "payment_method": "",
        "payment_reference": "", "voided_date": "", "void_reason": "",
        "credited_chf": "0.00", "balance_chf": "160.80", "credit_notes": "",
    }
    assert b'"Acme ""Treuhand"", Z\xc3\xbcrich AG"' in resp.data  # quoting and UTF-8 as written
    assert resp.data.count(b"\r\n") == 2                          # header + one row, CRLF line ends


def test_export_without_a_filter_has_everything_and_paid_details(finance_client, session):
    org = make_org("org-berg")
    make_invoice(org, number="PC-2026-0003", status="paid", paid_on=date(2026, 10, 20), issued=date(2026, 10, 2),
                 period=Period(2026, 9), payment_reference="UBS 123")
    make_invoice(org, number="PC-2026-0004", status="void", period=Period(2026, 8), issued=date(2026, 9, 2))
    resp = finance_client.get("/invoices.csv")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="invoices-all.csv"'
    rows = {r["number"]: r for r in parse(resp.data)}
    assert (rows["PC-2026-0003"]["status"], rows["PC-2026-0003"]["paid_date"],
            rows["PC-2026-0003"]["payment_method"], rows["PC-2026-0003"]["payment_reference"]) == (
        "paid", "2026-10-20", "bank_transfer", "UBS 123")
    assert (rows["PC-2026-0004"]["status"], rows["PC-2026-0004"]["void_reason"]) == ("void", "wrong address")
    # A void invoice's amounts stand in their own columns: summing total_chf leaves it out.
    void = rows["PC-2026-0004"]
    assert (void["net_chf"], void["total_chf"]) == ("", "") and void["void_total_chf"] == rows["PC-2026-0003"]["total_chf"]


def test_file_names_of_filters():
    assert InvoiceQuery(org="org-acme", period="2026-10").filename() == "invoices-org-acme-2026-10.csv"
    assert InvoiceQuery(aging="61+").filename() == "invoices-overdue-61+.csv"
    assert InvoiceQuery(q='a"b/c d').filename() == "invoices-search-a_b_c_d.csv"  # nothing that breaks the header


def test_the_export_is_streamed_in_batches(session):
    org = make_org("org-acme")
    for n in range(5):
        make_invoice(org, number=f"PC-2026-{n + 1:04d}", period=Period(2026, n + 1))
    chunks = list(csv_rows(InvoiceQuery(sort="number", dir="asc"), date(2026, 11, 21), batch=2))
    # header with rows 1–2, rows 3–4, then row 5
    assert len(chunks) == 3
    lines = "".join(chunks).splitlines()
    assert lines[0].startswith("number,issued_date,period") and len(lines) == 6
    assert [line.split(",")[0] for line in lines[1:]] == [f"PC-2026-{n:04d}" for n in range(1, 6)]
