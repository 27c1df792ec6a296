"""The accounting journal: balanced double-entry rows per document; the period balances to 0.00 and its
revenue and VAT equal the VAT return's; Banana's import format."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import InvoiceLine
from pieced_admin.reports.journal import Accounts, JournalDocument, balances, journal_rows

from .test_vat_return import _credit, _credit_notes_table, quarter_of_invoices  # noqa: F401

D = Decimal
DAY = date(2026, 11, 2)


def test_an_invoice_books_debtors_against_revenue_per_line_kind_and_vat():
    # 49.00 fees + 12.50 skills = net 61.50; VAT 8.1 % = 4.98; total 66.48 on the debtors
    inv = JournalDocument("invoice", "PC-1", DAY, "PC-1 Acme", (("monthly_fee", D("49.00")), ("skill", D("12.50"))),
                          D("4.98"))
    rows = journal_rows([inv], Accounts())
    assert [(r.debit, r.credit, str(r.amount_chf), r.text) for r in rows] == [
        ("1100", "3400", "49.00", "Invoice PC-1 Acme, tenant fees"),
        ("1100", "3400", "12.50", "Invoice PC-1 Acme, skills"),
        ("1100", "2200", "4.98", "Invoice PC-1 Acme, VAT"),
    ]
    assert balances(rows) == {"1100": D("66.48"), "2200": D("-4.98"), "3400": D("-61.50")}


@pytest.mark.parametrize("doc,expected", [
    # a credit note reverses: revenue / debtors and VAT payable / debtors
    (JournalDocument("credit_note", "CN-1", DAY, "CN-1", (("credit", D("20.00")),), D("1.62")),
     [("3400", "1100", "20.00"), ("2200", "1100", "1.62")]),
    # a payment: bank / debtors; a refund (negative) the other way round
    (JournalDocument("payment", "P-1", DAY, "QRR 123", amount_chf=D("66.48")), [("1020", "1100", "66.48")]),
    (JournalDocument("payment", "P-2", DAY, "refund", amount_chf=D("-10.00")), [("1100", "1020", "10.00")]),
    # an abroad invoice has no VAT row; a zero line is left out
    (JournalDocument("invoice", "PC-2", DAY, "PC-2", (("monthly_fee", D("300.00")), ("llm", D("0.00")))),
     [("1100", "3400", "300.00")]),
])
def test_other_documents(doc, expected):
    rows = journal_rows([doc], Accounts())
    assert [(r.debit, r.credit, str(r.amount_chf)) for r in rows] == expected
    assert sum(balances(rows).values(), D("0")) == 0


def test_entity_accounts_and_revenue_per_kind_are_used():
    acc = Accounts(debtors="1105", vat_payable="2201", revenue="3200", revenue_by_kind={"llm": "3410"})
    rows = journal_rows([JournalDocument("invoice", "X", DAY, "X", (("llm", D("5.00")), ("skill", D("1.00"))), D("0.49"))], acc)
    assert [(r.debit, r.credit) for r in rows] == [("1105", "3410"), ("1105", "3200"), ("1105", "2201")]


def _lines(invoice, *parts):
    for pos, (kind, amount) in enumerate(parts, start=1):
        db.session.add(InvoiceLine(invoice_id=invoice.id, tenant_name="t", kind=kind, description=kind,
                                   quantity=D("1"), unit_price_chf=D(amount), amount_chf=D(amount), position=pos))
    db.session.flush()


@pytest.mark.now("2027-01-15")
def test_the_quarters_journal_balances_and_matches_the_vat_return(finance_client, quarter_of_invoices):
    docs = quarter_of_invoices
    _lines(docs["A"], ("monthly_fee", "900.00"), ("skill", "100.00"))   # 1000.00 in two kinds
    _lines(docs["C"], ("monthly_fee", "300.00"))
    table = _credit_notes_table()
    _credit(table, "PC-CN-2026-0002", docs["A"], zurich_dt(2026, 12, 1), "250.00", "20.25")
    _credit(table, "PC-CN-2026-0003", docs["C"], zurich_dt(2026, 12, 10), "50.00", "0.00", rate="0.00")
    page = finance_client.get("/reports/journal?entity=pieced&quarter=2026-Q4").get_data(as_text=True)
    banana = finance_client.get("/reports/journal.txt?entity=pieced&quarter=2026-Q4")
    excel = finance_client.get("/reports/journal.csv?entity=pieced&quarter=2026-Q4").data
    xlsx = finance_client.get("/reports/journal.xlsx?entity=pieced&quarter=2026-Q4").data
    # Revenue: A 1000 + B 200 + C 300 + D 100 − D's void 100 − 250 − 50 = 1200.00 = 299 (950) + 221 (250)
    # VAT: 81.00 + 16.20 + 8.10 − 8.10 − 20.25 = 76.95 = the VAT return's total
    assert 'data-testid="journal-balance">0.00<' in page
    assert 'data-testid="journal-revenue">1’200.00 <span class="badge badge-ok">matches' in page
    assert 'data-testid="journal-vat">76.95 <span class="badge badge-ok">matches' in page
    text = banana.data.decode("utf-8")
    assert banana.headers["Content-Disposition"] == 'attachment; filename="journal-pieced-2026-Q4-banana.txt"'
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert list(rows[0]) == ["Date", "Doc", "Description", "AccountDebit", "AccountCredit", "Amount"]
    assert rows[0] == {"Date": "2026-10-01", "Doc": "PC-2026-0101", "Description": "Invoice PC-2026-0101 Zuerich AG, tenant fees",
                       "AccountDebit": "1100", "AccountCredit": "3400", "Amount": "900.00"}
    debit = sum(D(r["Amount"]) for r in rows if r["AccountDebit"] == "1100")
    credit = sum(D(r["Amount"]) for r in rows if r["AccountCredit"] == "1100")
    # debtors: the invoices' totals 1081.00 + 216.20 + 300.00 + 108.10 = 1705.30, less the credits
    # 108.10 (D's void) + 270.25 + 50.00 = 428.35: 1276.95 = revenue 1200.00 + VAT 76.95
    assert debit - credit == D("1276.95")
    de_ch = list(csv.reader(io.StringIO(excel.decode("utf-8-sig")), delimiter=";"))
    assert de_ch[0] == ["date", "document", "text", "debit_account", "credit_account", "amount_chf"]
    assert de_ch[1][0] == "01.10.2026"
    sheet = load_workbook(io.BytesIO(xlsx))["Journal"]
    assert sheet.freeze_panes == "A2" and isinstance(sheet["F2"].value, (int, float))


def zurich_dt(y, m, d):
    from ..factories import zurich

    return zurich(y, m, d, 9)


@pytest.mark.now("2027-01-15")
def test_a_months_journal_balances_and_matches_that_months_vat_figures(finance_client, quarter_of_invoices):
    docs = quarter_of_invoices
    _lines(docs["C"], ("monthly_fee", "300.00"))
    table = _credit_notes_table()
    _credit(table, "PC-CN-2026-0002", docs["A"], zurich_dt(2026, 12, 1), "250.00", "20.25")
    _credit(table, "PC-CN-2026-0003", docs["C"], zurich_dt(2026, 12, 10), "50.00", "0.00", rate="0.00")
    page = finance_client.get("/reports/journal?entity=pieced&quarter=2026-12").get_data(as_text=True)
    bad = finance_client.get("/reports/journal?entity=pieced&quarter=2026-13")
    # December: C (DE) 300.00, less its credit note 50.00 and A's partial credit note 250.00 (VAT 20.25):
    # revenue 300 − 50 − 250 = 0.00 = 299 (−250.00) + 221 (250.00); VAT −20.25
    assert 'data-testid="journal-balance">0.00<' in page
    assert 'data-testid="journal-revenue">0.00 <span class="badge badge-ok">matches' in page
    assert 'data-testid="journal-vat">-20.25 <span class="badge badge-ok">matches' in page
    assert '<option value="2026-12" selected>' in page
    assert bad.status_code == 400 and "YYYY-MM" in bad.get_data(as_text=True)


@pytest.mark.now("2026-11-20")
def test_money_received_and_paid_back_is_booked_bank_against_debtors(session):
    """The ledger's rows of the quarter in the journal (SPEC §6): payment bank / debtors, refund the other way."""
    from pieced_admin.billing.issuing import mark_paid
    from pieced_admin.payments import ledger
    from pieced_admin.payments.refunds import refund_credit
    from pieced_admin.payments.unmatched import assign_payment, mark_not_ours
    from pieced_admin.reports.services import journal_view

    from ..factories import make_org
    from ..invoices.support import make_invoice

    make_org("org-pays")
    invoice = make_invoice("org-pays", number="PC-2026-0301", issued=date(2026, 11, 3), net="100.00")  # 108.10
    _lines(invoice, ("monthly_fee", "100.00"))
    mark_paid(invoice.number, amount=D("150.00"))            # 150.00 - 108.10 = 41.90 to the org's credit
    refund_credit("org-pays", D("41.90"), method="bank_transfer", reference="ZKB-OUT-1")

    def unmatched(amount: str, booked: date, source_id: str):
        return ledger.record(amount=D(amount), booked_on=booked, method="bank_transfer", source="bank_file",
                             source_id=source_id, reference="RF18539007547034", kind="payment")

    assign_payment(unmatched("20.00", date(2026, 11, 12), "camt-1").id, org_id="org-pays")  # to the org's credit
    mark_not_ours(unmatched("5.00", date(2026, 11, 13), "camt-2").id, "not a customer of ours")  # sent back
    unmatched("7.00", date(2026, 11, 14), "camt-3")                                               # still unmatched
    ledger.record(amount=D("1.00"), booked_on=date(2026, 9, 30), method="bank_transfer", source="manual",
                  source_id="last-quarter", invoice=invoice, kind="payment")                      # Q3: not in Q4
    session.flush()

    view = journal_view("pieced", "2026-Q4")
    payments = [(r.booked_on, r.document, r.debit, r.credit, str(r.amount_chf)) for r in view.rows
                if r.text.startswith("Payment")]
    assert payments == [
        (date(2026, 11, 12), "org org-pays", "1020", "1100", "20.00"),     # assigned: on the bank's date
        (date(2026, 11, 20), "PC-2026-0301", "1020", "1100", "150.00"),
        (date(2026, 11, 20), "PC-2026-0301", "1100", "1020", "41.90"),     # the refund, the other way round
    ]                                                                       # not ours, unmatched, Q3: none
    # bank 20.00 + 150.00 - 41.90 = 128.10; debtors 108.10 - 128.10 = -20.00 (the org's credit)
    assert view.balances == {"1020": D("128.10"), "1100": D("-20.00"), "2200": D("-8.10"), "3400": D("-100.00")}
    assert view.balanced and view.vat_booked == view.vat.vat_total_chf == D("8.10")
