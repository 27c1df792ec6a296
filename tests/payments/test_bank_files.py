"""The camt parser alone (pure: bytes in, transactions out), as tables over the fixture files.

`camt/` holds files built from SIX's Swiss Implementation Guidelines; `camt/published/` holds
PostFinance's published sample files (see its SOURCE.md).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pieced_admin.payments.bank_files import BankFileError, parse_bank_file

CAMT = Path(__file__).parent / "camt"


def read(name: str) -> bytes:
    return (CAMT / name).read_bytes()


def rows(name: str):
    """(status, C/D, reversal, amount, booked_on, reference, reference type, debtor, deferred) per transaction."""
    return [(t.status, "C" if t.credit else "D", t.reversal, t.amount, t.booked_on, t.reference, t.reference_type,
             t.debtor_name, t.deferred_to) for t in parse_bank_file(read(name)).transactions]


QRR = "2000000000025122026000010"  # + the last two digits of each reference below
D16, D17 = date(2026, 11, 16), date(2026, 11, 17)


def test_the_day1_camt054_v08_every_transaction_of_every_entry():
    parsed = parse_bank_file(read("qr-day1-camt054-v08.xml"))
    assert (parsed.message, parsed.version, parsed.entries, len(parsed.transactions)) == ("camt.054", "08", 8, 10)
    assert rows("qr-day1-camt054-v08.xml") == [
        ("BOOK", "C", False, Decimal("108.10"), D16, QRR + "16", "QRR", "Acme AG", None),
        ("BOOK", "C", False, Decimal("108.10"), D16, "RF65PC20260102", "SCOR", "Berg GmbH", None),  # spaces gone
        ("BOOK", "C", False, Decimal("108.10"), D16, QRR + "32", "QRR", "Cirrus SA", None),       # the batch: 3
        ("BOOK", "C", False, Decimal("108.10"), D16, QRR + "48", "QRR", "Delta AG", None),
        ("BOOK", "C", False, Decimal("108.10"), D16, QRR + "53", "QRR", "Echo GmbH", None),
        ("BOOK", "C", False, Decimal("100.00"), D16, QRR + "69", "QRR", "Foxtrot AG", None),     # "100"
        ("BOOK", "C", False, Decimal("120.00"), D16, QRR + "77", "QRR", "Golf SA", None),
        ("BOOK", "C", False, Decimal("42.00"), D16, "210000000003139471430009017", "QRR", "Hotel Zum Stern", None),
        ("BOOK", "D", False, Decimal("500.00"), D16, None, None, "Hosting Provider AG", None),
        ("PDNG", "C", False, Decimal("108.10"), date(2026, 11, 17), QRR + "85", "QRR", None, None),  # ValDt only
    ]
    ids = [t.source_id for t in parsed.transactions]
    assert ids[2:5] == ["CH4431999123000889012:261116CH0000BT03A", "CH4431999123000889012:261116CH0000BT03B",
                        "CH4431999123000889012:261116CH0000BT03C"]
    assert len(set(ids)) == len(ids)
    assert parsed.warnings == ("account CH4431999123000889012: TxsSummry says 9 entries, the file has 8",)


def test_the_day2_camt054_v04_text_status_no_pty_untyped_reference_and_reversals():
    assert rows("qr-day2-camt054-v04.xml") == [
        ("BOOK", "D", True, Decimal("108.10"), D17, QRR + "16", "ISR Reference", "Acme AG", None),
        ("BOOK", "C", False, Decimal("8.10"), D17, QRR + "69", None, "Foxtrot AG", None),
        ("BOOK", "C", True, Decimal("25.00"), D17, None, None, None, None),
    ]
    remittance = parse_bank_file(read("qr-day2-camt054-v04.xml")).transactions[1].remittance
    assert remittance == "Rest Rechnung PC-2026-0106"  # PostFinance's ?REJECT?0 / ?ERROR?000 left out


def test_a_camt053_entry_detailed_in_a_camt054_points_there():
    parsed = parse_bank_file(read("statement-day1-camt053-v08.xml"))
    assert (parsed.message, parsed.version, parsed.entries) == ("camt.053", "08", 4)
    assert [(t.amount, t.deferred_to, t.source_id.split(":")[1]) for t in parsed.transactions] == [
        (Decimal("108.10"), None, "261116CH0000QR01"),
        (Decimal("324.30"), "camt.054.001.08", "261116CH0000BT03"),
        (Decimal("100.00"), None, "261116CH0000PA04"),
        (Decimal("500.00"), None, "261116CH0000DB07"),
    ]


@pytest.mark.parametrize("name, message, version, entries, transactions, credits_booked", [
    ("published/postfinance-qrr-camt054-v04.xml", "camt.054", "04", 1, 2, 2),
    ("published/postfinance-qrr-camt054-v08.xml", "camt.054", "08", 1, 2, 2),
    ("published/postfinance-statement-camt053-v04.xml", "camt.053", "04", 13, 32, 24),
    ("published/pending-reversal-debit-camt054-v04.xml", "camt.054", "04", 3, 3, 2),
])
def test_published_bank_samples_are_read(name, message, version, entries, transactions, credits_booked):
    parsed = parse_bank_file(read(name))
    assert (parsed.message, parsed.version, parsed.entries, len(parsed.transactions)) == (
        message, version, entries, transactions)
    assert sum(1 for t in parsed.transactions if t.credit and t.booked) == credits_booked
    assert len({t.source_id for t in parsed.transactions}) == transactions


def test_postfinance_v04_and_v08_of_the_same_day_give_the_same_transactions():
    old = parse_bank_file(read("published/postfinance-qrr-camt054-v04.xml")).transactions
    new = parse_bank_file(read("published/postfinance-qrr-camt054-v08.xml")).transactions
    assert [(t.source_id, t.amount, t.reference, t.reference_type, t.debtor_name) for t in old] == [
        (t.source_id, t.amount, t.reference, t.reference_type, t.debtor_name) for t in new] == [
        ("CH2909000000250094239:2000000000000000", Decimal("778.29"), "539115429773825311971477453", "QRR",
         "Bernasconi Maria"),
        ("CH2909000000250094239:3000000000000000", Decimal("913.93"), "662437765447746478179744715", "QRR",
         "Bernasconi Maria")]


def test_the_postfinance_statement_types_isr_references_and_reversed_debits():
    txs = parse_bank_file(read("published/postfinance-statement-camt053-v04.xml")).transactions
    isr = [t for t in txs if t.reference_type == "ISR Reference"]
    assert len(isr) == 10 and all(len(t.reference) == 27 for t in isr)
    assert [(t.credit, t.amount) for t in txs if t.reversal] == [(False, Decimal("6.00")), (False, Decimal("15.53"))]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
    (read("truncated-camt054.xml"), "not a complete XML document (cut short"),
    (b"<Document><BkToCstmr", "not a complete XML document"),
    (b"Datum;Betrag\n16.11.2026;108.10\n", "not a complete XML document (not well-formed"),
    (read("pain001-not-a-statement.xml"), "this is a pain.001.001.09 file, not a camt.054 or camt.053"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>', "this is a camt.052.001.08 file"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"/>', "this is a camt.054.001.02 file"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>', "has no BkToCstmrDbtCdtNtfctn"),
    (b"<html><body>login</body></html>", "its root element is 'html' without a namespace"),
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>', "declares a DOCTYPE"),
    (read("qr-day1-camt054-v08.xml").replace(b">120.00<", b">12O.00<", 1), "the amount '12O.00' is not a number"),
    (read("qr-day1-camt054-v08.xml").replace(b"<CdtDbtInd>CRDT</CdtDbtInd>", b"<CdtDbtInd>X</CdtDbtInd>", 1),
     "CdtDbtInd is X"),
])
def test_what_is_not_a_camt_file_is_refused_in_one_line(data, message):
    with pytest.raises(BankFileError) as exc:
        parse_bank_file(data)
    assert message in str(exc.value) and "\n" not in str(exc.value)
