"""The journal for Abacus and bexio: every row of the quarter, with its accounts, amount, date and document,
balanced, and summing per account to the page's balances.

Neither program runs here, so each file is checked against its vendor's documentation:
- Abacus: AbaConnect "FIBU - XML entries" (Id "XML Buchungen", MapId AbaDefault, version 2018.00),
  https://downloads.abacus.ch/fileadmin/ablage/abaconnect/htmlfiles/fibu/FIBU__XML%20Buchungen_2018.00_AbaDefault_EN.html
  — its XML header example (container, task count, parameter block, Transaction / Entry mode='SAVE').
  The entry fields (CollectiveInformation / SingleInformation, EntryLevel, EntryType, DebitCredit,
  AmountData, KeyAmount, Account, Text1, Text2, DocumentNumber) follow exports used with Abacus (see
  `journal_formats.abacus_xml`), as that page's field table could not be read here.
- bexio: API v3 "Create manual entry", POST /3.0/accounting/manual_entries,
  https://docs.bexio.com/#tag/Manual-Entries/operation/CreateManualEntry — type manual_single_entry,
  date, reference_nr, entries[] with debit_account_id, credit_account_id, amount, description.
Both are compared row for row with the Banana file the existing journal tests check.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest

from pieced_admin.reports.journal import JournalRow
from pieced_admin.reports.journal_formats import abacus_xml, bexio_json

from ..factories import make_org
from ..invoices.support import make_invoice
from .test_journal import _lines, zurich_dt
from .test_vat_return import _credit, _credit_notes_table, _snap, quarter_of_invoices  # noqa: F401

D = Decimal
Q = "entity=pieced&quarter=2026-Q4"


@pytest.fixture
def quarter_with_names(quarter_of_invoices):
    """The VAT return's quarter (CH, LI, DE, a void, two credit notes) and two customers whose names are not ASCII."""
    docs = quarter_of_invoices
    _lines(docs["A"], ("monthly_fee", "900.00"), ("skill", "100.00"))
    _lines(docs["C"], ("monthly_fee", "300.00"))
    table = _credit_notes_table()
    _credit(table, "PC-CN-2026-0002", docs["A"], zurich_dt(2026, 12, 1), "250.00", "20.25")
    _credit(table, "PC-CN-2026-0003", docs["C"], zurich_dt(2026, 12, 10), "50.00", "0.00", rate="0.00")
    staedtle = make_org("org-staedtle", display_name="Städtle AG")
    dvorak = make_org("org-dvorak", country="CZ", display_name="Dvořák s.r.o.")
    # 20.00 Threema + 100.00 LLM = net 120.00; VAT 8.1 % = 9.72
    docs["E"] = make_invoice(staedtle, number="PC-2026-0105", issued=date(2026, 11, 3), net="120.00",
                             customer_snapshot=_snap(staedtle))
    _lines(docs["E"], ("threema", "20.00"), ("llm", "100.00"))
    # supplied abroad: 80.00 at 0 %, no VAT row
    docs["F"] = make_invoice(dvorak, number="PC-2026-0106", issued=date(2026, 12, 1), net="80.00", vat_rate="0.00",
                             vat_note="Place of supply abroad", customer_snapshot=_snap(dvorak))
    _lines(docs["F"], ("monthly_fee", "80.00"))
    return docs


def _banana_rows(client) -> list[tuple]:
    """The quarter's rows as the Banana file has them: (date, document, text, debit, credit, amount)."""
    text = client.get(f"/reports/journal.txt?{Q}").data.decode("utf-8")
    return [(r["Date"], r["Doc"], r["Description"], r["AccountDebit"], r["AccountCredit"], D(r["Amount"]))
            for r in csv.DictReader(io.StringIO(text), delimiter="\t")]


def _page_balances(client) -> dict[str, Decimal]:
    """The balances table of the journal page (debit +, credit −), as Decimals."""
    page = client.get(f"/reports/journal?{Q}").get_data(as_text=True)
    assert 'data-testid="journal-balance">0.00<' in page
    table = page.split('class="journal-balances"', 1)[1]
    return {account: D(value.replace("’", "")) for account, value in
            re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', table)}


def _balances(rows) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for _date, _doc, _text, debit, credit, amount in rows:
        out[debit] = out.get(debit, D("0")) + amount
        out[credit] = out.get(credit, D("0")) - amount
    return dict(sorted(out.items()))


@pytest.mark.now("2027-01-15")
def test_the_abacus_file_has_every_row_as_a_single_entry_in_abaconnects_container(finance_client, quarter_with_names):
    response = finance_client.get(f"/reports/journal.abacus.xml?{Q}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="journal-pieced-2026-Q4-abacus.xml"'
    assert response.mimetype == "application/xml"
    body = response.data
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Städtle AG".encode() in body and "Dvořák s.r.o.".encode() in body  # UTF-8, not escaped

    root = ET.fromstring(body)
    # The documented header: container, one task, its parameters (no Mandant: any client may import it).
    assert root.tag == "AbaConnectContainer"
    assert [c.tag for c in root] == ["TaskCount", "Task"] and root.findtext("TaskCount") == "1"
    task = root.find("Task")
    assert task[0].tag == "Parameter"
    assert [(p.tag, p.text) for p in task[0]] == [("Application", "FIBU"), ("Id", "XML Buchungen"),
                                                 ("MapId", "AbaDefault"), ("Version", "2018.00")]
    transactions = task[1:]
    assert {t.tag for t in transactions} == {"Transaction"}
    assert [t.get("id") for t in transactions] == [str(n) for n in range(1, len(transactions) + 1)]

    rows, debits, credits = [], D("0"), D("0")
    for t in transactions:
        (entry,) = list(t)
        assert (entry.tag, entry.get("mode")) == ("Entry", "SAVE")
        collective, single = list(entry)
        assert (collective.tag, collective.get("mode"), single.tag, single.get("mode")) == (
            "CollectiveInformation", "SAVE", "SingleInformation", "SAVE")
        assert [collective.findtext(k) for k in ("EntryLevel", "EntryType", "Type", "DebitCredit", "KeyCurrency")] \
            == ["A", "S", "Normal", "D", "CHF"]
        assert [single.findtext(k) for k in ("Type", "DebitCredit")] == ["Normal", "D"]
        for part in (collective, single):
            assert part.findtext("AmountData/Currency") == "CHF"
            assert part.findtext("AmountData/Amount") == part.findtext("KeyAmount")
            assert re.fullmatch(r"\d+\.\d{2}", part.findtext("KeyAmount"))
            assert part.findtext("EntryDate") == collective.findtext("EntryDate")
            assert part.findtext("Text1") == collective.findtext("Text1")
            assert part.findtext("Text2") == collective.findtext("Text2")
            # our numbers (PC-2026-0101: 12 characters) are longer than DocumentNumber's 10; they stand in Text2
            assert part.find("DocumentNumber") is None
        debits += D(collective.findtext("KeyAmount"))
        credits += D(single.findtext("KeyAmount"))
        rows.append((collective.findtext("EntryDate"), collective.findtext("Text2"), collective.findtext("Text1"),
                     collective.findtext("Account"), single.findtext("Account"), D(collective.findtext("KeyAmount"))))

    assert rows == _banana_rows(finance_client)
    assert rows[0] == ("2026-10-01", "PC-2026-0101", "Invoice PC-2026-0101 Zuerich AG, tenant fees", "1100", "3400",
                       D("900.00"))
    assert ("2026-11-03", "PC-2026-0105", "Invoice PC-2026-0105 Städtle AG, VAT", "1100", "2200", D("9.72")) in rows
    assert ("2026-12-01", "PC-2026-0106", "Invoice PC-2026-0106 Dvořák s.r.o., tenant fees", "1100", "3400",
            D("80.00")) in rows
    assert ("2026-12-01", "PC-CN-2026-0002", "Credit note PC-CN-2026-0002 on PC-2026-0101, VAT", "2200", "1100",
            D("20.25")) in rows
    # debit = credit; debtors 1276.95 (the VAT return's quarter) + 129.72 (Städtle) + 80.00 (Dvořák) = 1486.67
    assert debits == credits
    balances = _balances(rows)
    assert balances == _page_balances(finance_client)
    assert balances == {"1100": D("1486.67"), "2200": D("-86.67"), "3400": D("-1400.00")}


@pytest.mark.now("2027-01-15")
def test_the_bexio_file_is_one_documented_manual_single_entry_body_per_row(finance_client, quarter_with_names):
    response = finance_client.get(f"/reports/journal.bexio.json?{Q}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="journal-pieced-2026-Q4-bexio.json"'
    assert response.mimetype == "application/json"
    text = response.data.decode("utf-8")
    assert "Städtle AG" in text and "Dvořák s.r.o." in text  # UTF-8, not \u-escaped
    # amounts are JSON numbers with two places, as the API's `amount` is a number
    amounts = re.findall(r'"amount": ([^,\n]+)', text)
    assert amounts and all(re.fullmatch(r"\d+\.\d{2}", a) for a in amounts)

    doc = json.loads(text, parse_float=Decimal)
    assert "POST https://api.bexio.com/3.0/accounting/manual_entries" in doc["format"]
    assert (doc["entity"], doc["period"], doc["currency"]) == ("pieced", "2026-Q4", "CHF")
    # bexio wants its own account ids: every number used is listed, its id left for the person to fill in
    assert doc["accounts"] == {"1100": None, "2200": None, "3400": None}

    rows = []
    for item in doc["manual_entries"]:
        assert set(item) == {"debit_account_no", "credit_account_no", "body"}
        body = item["body"]
        assert set(body) == {"type", "date", "reference_nr", "entries"} and body["type"] == "manual_single_entry"
        (line,) = body["entries"]
        assert set(line) == {"debit_account_id", "credit_account_id", "amount", "description"}
        assert line["debit_account_id"] is None and line["credit_account_id"] is None
        assert item["debit_account_no"] in doc["accounts"] and item["credit_account_no"] in doc["accounts"]
        rows.append((body["date"], body["reference_nr"], line["description"], item["debit_account_no"],
                     item["credit_account_no"], line["amount"]))

    assert rows == _banana_rows(finance_client)
    assert ("2026-11-03", "PC-2026-0105", "Invoice PC-2026-0105 Städtle AG, LLM usage", "1100", "3400",
            D("100.00")) in rows
    assert ("2026-10-11", "PC-2026-0104 (void)", "Credit note PC-2026-0104 Zuerich AG (void), other", "3400", "1100",
            D("100.00")) in rows
    balances = _balances(rows)
    assert sum(balances.values()) == 0
    assert balances == _page_balances(finance_client)


@pytest.mark.now("2027-01-15")
def test_a_months_files_are_named_after_the_month_and_unknown_formats_are_not_found(finance_client,
                                                                                    quarter_with_names):
    abacus = finance_client.get("/reports/journal.abacus.xml?entity=pieced&quarter=2026-12")
    bexio = finance_client.get("/reports/journal.bexio.json?entity=pieced&quarter=2026-12")
    assert abacus.headers["Content-Disposition"] == 'attachment; filename="journal-pieced-2026-12-abacus.xml"'
    assert bexio.headers["Content-Disposition"] == 'attachment; filename="journal-pieced-2026-12-bexio.json"'
    # December: C's fees 300.00, F's 80.00, the two credit notes (250.00 + 20.25 VAT, 50.00)
    dates = {e.findtext("CollectiveInformation/EntryDate") for e in ET.fromstring(abacus.data).iter("Entry")}
    assert dates and all(d.startswith("2026-12-") for d in dates)
    assert len(json.loads(bexio.data)["manual_entries"]) == len(list(ET.fromstring(abacus.data).iter("Entry"))) == 5
    assert finance_client.get(f"/reports/journal.sage.xml?{Q}").status_code == 404
    assert finance_client.get("/reports/journal.abacus.xml?entity=nope&quarter=2026-Q4").status_code == 400


def test_the_journal_page_links_every_format(finance_client, quarter_with_names):
    page = finance_client.get(f"/reports/journal?{Q}").get_data(as_text=True)
    for fmt, label in (("txt", "Banana (.txt)"), ("abacus.xml", "Abacus (.xml)"), ("bexio.json", "bexio API (.json)"),
                       ("csv", "CSV (Excel, Swiss)"), ("xlsx", "Excel (.xlsx)")):
        assert re.search(rf'href="/reports/journal\.{re.escape(fmt)}\?[^"]*"[^>]*download>{re.escape(label)}</a>', page), fmt


DAY = date(2026, 11, 2)


def test_abacus_short_numbers_are_document_numbers_and_texts_are_cut_to_80_characters():
    long_text = "Invoice R-17 " + "Ä" * 100 + " <&> \x07 tab\there"
    rows = [JournalRow(DAY, "R-17", long_text, "1100", "3400", D("12.5")),
            JournalRow(DAY, "PC-2026-0101", "Payment & co", "1020", "1100", D("1234.50"))]
    root = ET.fromstring(abacus_xml(rows))
    first, second = root.iter("Entry")
    assert first.findtext("CollectiveInformation/DocumentNumber") == "R-17"
    assert first.findtext("SingleInformation/DocumentNumber") == "R-17"
    assert first.findtext("CollectiveInformation/KeyAmount") == "12.50"
    assert first.findtext("CollectiveInformation/Text1") == ("Invoice R-17 " + "Ä" * 100)[:80]
    assert second.find("CollectiveInformation/DocumentNumber") is None
    assert second.findtext("CollectiveInformation/Text1") == "Payment & co"
    assert second.findtext("SingleInformation/KeyAmount") == "1234.50"


def test_abacus_and_bexio_files_of_no_rows_are_empty_but_well_formed():
    root = ET.fromstring(abacus_xml([]))
    assert [c.tag for c in root.find("Task")] == ["Parameter"]
    doc = json.loads(bexio_json([], entity="pieced", period="2026-Q4"))
    assert doc["accounts"] == {} and doc["manual_entries"] == []


def test_bexio_texts_are_one_line_and_amounts_keep_two_places():
    rows = [JournalRow(DAY, "PC-1", "Invoice PC-1 \"Quoted\"\nName\x00", "1100", "3400", D("5"))]
    text = bexio_json(rows, entity="pieced", period="2026-11")
    assert '"amount": 5.00' in text
    line = json.loads(text)["manual_entries"][0]["body"]["entries"][0]
    assert line["description"] == 'Invoice PC-1 "Quoted" Name'
