"""IBAN checks, payment references derived from invoice numbers, and the QR-bill SVG."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qrbill import QRBill
from stdnum import iso11649
from stdnum.ch import esr

from pieced_admin.billing import qr
from pieced_admin.billing.qr import (
    IbanError,
    QrBillError,
    format_iban,
    format_reference,
    invoice_number_hint,
    is_qr_iban,
    normalise_iban,
    payment_reference,
    qr_bill_svg,
)

QR_IBAN = "CH4431999123000889012"  # institution id 31999: a QR-IBAN
PLAIN_IBAN = "CH9300762011623852957"
LI_IBAN = "LI21088100002324013AA"
DE_IBAN = "DE89370400440532013000"
CREDITOR = {"name": "PieCed AG", "street": "Bahnhofstrasse", "building_number": "1", "postal_code": "8001",
            "city": "Zürich", "country": "CH"}


# --------------------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CH44 3199 9123 0008 8901 2", QR_IBAN),
        ("ch93 0076 2011 6238 5295 7", PLAIN_IBAN),
        (" CH93-0076-2011-6238-5295-7 ", PLAIN_IBAN),
        ("LI21 0881 0000 2324 013A A", LI_IBAN),
    ],
)
def test_normalise_iban_accepts_and_compacts(text, expected):
    assert normalise_iban(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CH93 0076 2011 6238 5295 8", "IBAN check digits are wrong"),
        ("DE89 3704 0044 0532 0130 00", "not a Swiss or Liechtenstein IBAN: a QR-bill needs CH or LI"),
        ("", "IBAN is missing"),
        ("CH93 0076 2011 6238 529", "IBAN"),
        ("XX93 0076 2011 6238 5295 7", "unknown country code"),
    ],
)
def test_normalise_iban_rejects_with_a_message_a_person_can_act_on(text, message):
    with pytest.raises(IbanError, match=re.escape(message)):
        normalise_iban(text)


def test_iban_error_is_a_value_error():
    assert issubclass(IbanError, ValueError)


def test_a_foreign_iban_is_valid_when_no_qr_bill_is_needed():
    assert normalise_iban("DE89 3704 0044 0532 0130 00", qr_bill=False) == DE_IBAN


@pytest.mark.parametrize(
    ("iban", "expected"),
    [
        (QR_IBAN, True),
        ("CH44 3199 9123 0008 8901 2", True),
        ("CH8430000001234567890", True),  # IID 30000, the lower bound
        (PLAIN_IBAN, False),
        (LI_IBAN, False),
        (DE_IBAN, False),
        ("", False),
    ],
)
def test_is_qr_iban(iban, expected):
    assert is_qr_iban(iban) is expected


def test_format_iban_groups_by_four():
    assert format_iban(QR_IBAN) == "CH44 3199 9123 0008 8901 2"


# --------------------------------------------------------------------------- references


def test_qrr_reference_layout_and_check_digit():
    kind, ref = payment_reference("PC-2026-0001", QR_IBAN)
    assert kind == "QRR"
    assert len(ref) == 27 and ref.isdigit()
    # form 2 (two prefix characters), P=25 C=12 right-aligned in 14 digits, year, sequence, check digit
    assert ref[:26] == "2" + "00000000002512" + "2026" + "0000001"
    assert esr.is_valid(ref) and ref[-1] == esr.calc_check_digit(ref[:26])
    QRBill(account=QR_IBAN, creditor={"name": "x", "pcode": "8001", "city": "Zürich"}, reference_number=ref)
    assert format_reference(ref) == "20 00000 00002 51220 26000 00018"


def test_scor_reference_is_a_valid_creditor_reference_that_shows_the_number():
    kind, ref = payment_reference("PC-2026-0001", PLAIN_IBAN)
    assert kind == "SCOR"
    assert ref.startswith("RF") and ref.endswith("PC20260001")
    assert iso11649.is_valid(ref)
    QRBill(account=PLAIN_IBAN, creditor={"name": "x", "pcode": "8001", "city": "Zürich"}, reference_number=ref)


def test_references_are_deterministic():
    assert payment_reference("PC-2026-0042", QR_IBAN) == payment_reference("PC-2026-0042", QR_IBAN)
    assert payment_reference("PC-2026-0042", PLAIN_IBAN) == payment_reference("PC-2026-0042", PLAIN_IBAN)


@pytest.mark.parametrize(
    "number",
    ["PC-2026-0001", "PC-2026-12345", "LI-2027-0001", "PCX1A-1999-9999999", "ABCDEFG-2026-0001"],
)
def test_readable_references_give_the_number_back(number):
    for iban in (QR_IBAN, PLAIN_IBAN):
        _, ref = payment_reference(number, iban)
        assert invoice_number_hint(ref) == number
        assert invoice_number_hint(format_reference(ref)) == number


@pytest.mark.parametrize(
    "number",
    ["pc-2026-0001", "VERYLONGPREFIX-2026-0001", "PC-CH-2026-0001", "PC-2026-001", "not an invoice number"],
)
def test_other_numbers_still_get_valid_distinct_references(number):
    qrr = payment_reference(number, QR_IBAN)[1]
    scor = payment_reference(number, PLAIN_IBAN)[1]
    assert esr.is_valid(qrr) and len(qrr) == 27
    assert iso11649.is_valid(scor)
    assert qrr != payment_reference("PC-2026-0001", QR_IBAN)[1]
    assert scor != payment_reference("PC-2026-0001", PLAIN_IBAN)[1]


def test_hint_refuses_what_it_cannot_read():
    assert invoice_number_hint("RF18539007547034") is None  # a valid RF reference of someone else's
    assert invoice_number_hint("RF19PC20260001") is None  # wrong check digits
    assert invoice_number_hint("200000000002512202600000019") is None  # wrong check digit
    assert invoice_number_hint("hello") is None


def test_a_reference_is_required_to_come_from_a_number():
    with pytest.raises(ValueError):
        payment_reference("", QR_IBAN)


prefixes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=7)
numbers = st.builds(
    lambda prefix, year, seq: f"{prefix}-{year:04d}-{seq:04d}",
    prefixes, st.integers(2000, 2099), st.integers(1, 9_999_999),
)


@settings(max_examples=300, deadline=None)
@given(numbers)
def test_qrr_reference_properties(number):
    ref = qr.qrr_reference(number)
    assert len(ref) == 27 and esr.is_valid(ref)
    assert invoice_number_hint(ref) == number  # read back exactly, so distinct numbers give distinct references


@settings(max_examples=300, deadline=None)
@given(numbers)
def test_scor_reference_properties(number):
    ref = qr.scor_reference(number)
    assert iso11649.is_valid(ref) and len(ref) <= 25
    if number.split("-")[0][-1].isalpha():
        assert invoice_number_hint(ref) == number


@settings(max_examples=50, deadline=None)
@given(st.sets(numbers, min_size=2, max_size=40))
def test_distinct_numbers_give_distinct_references(batch):
    for iban in (QR_IBAN, PLAIN_IBAN):
        refs = {payment_reference(n, iban)[1] for n in batch}
        assert len(refs) == len(batch)


# --------------------------------------------------------------------------- the bill


def _bill(**overrides) -> str:
    kind, ref = payment_reference("PC-2026-0001", overrides.get("iban", QR_IBAN))
    args = {
        "iban": QR_IBAN, "amount": Decimal("160.80"), "currency": "CHF", "creditor": CREDITOR,
        "debtor": {"name": "ACME Swiss AG", "street": "Musterstrasse", "building_number": "5",
                   "postal_code": "3000", "city": "Bern", "country": "CH"},
        "reference_type": kind, "reference": ref,
        "additional_information": "Invoice PC-2026-0001", "language": "en",
    }
    args.update(overrides)
    return qr_bill_svg(**args)


def test_qr_bill_svg_is_a4_wide_and_106_mm_high():
    svg = _bill()
    assert 'width="210mm"' in svg and 'height="106mm"' in svg
    assert "Payment part" in svg and "Receipt" in svg
    assert "Invoice PC-2026-0001" in svg


def test_qr_bill_in_german():
    svg = _bill(language="de")
    assert "Zahlteil" in svg and "Empfangsschein" in svg


def test_qr_bill_without_debtor_leaves_the_box_to_fill_in():
    assert "Payable by (name/address)" in _bill(debtor=None)
    # an address without postal code and city cannot be structured: left out the same way
    assert "Payable by (name/address)" in _bill(debtor={"name": "Nobody", "country": "CH"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reference_type": "SCOR", "reference": "RF76PC20260001"}, "QR-IBAN needs a QRR reference"),
        ({"iban": PLAIN_IBAN, "reference_type": "QRR", "reference": "200000000002512202600000018"},
         "plain IBAN needs a SCOR reference"),
        ({"iban": DE_IBAN}, "not a Swiss or Liechtenstein IBAN"),
        ({"creditor": {"name": "PieCed AG", "country": "CH"}}, "structured address"),
        ({"reference": "200000000002512202600000019"}, "not a valid 27-digit QR reference"),
        ({"amount": Decimal("-1")}, "negative"),
    ],
)
def test_qr_bill_refuses_what_a_bank_would_refuse(overrides, message):
    with pytest.raises(QrBillError, match=re.escape(message)):
        _bill(**overrides)


def _modules(path: str) -> set[tuple[int, int]]:
    """The unit squares covered by a path of axis-aligned rectangles (either notation)."""
    cells = set()
    for m in re.finditer(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path):
        x1, y1, x2, y2 = map(int, m.groups())
        cells |= {(x, y) for x in range(x1, x2) for y in range(y1, y2)}
    for m in re.finditer(r"M(\d+) (\d+) (\d+) \d+ \d+ (\d+) \d+ \d+z", path):
        x1, y1, x2, y2 = map(int, m.groups())
        cells |= {(x, y) for x in range(x1, x2) for y in range(y1, y2)}
    return cells


def test_merged_qr_path_covers_exactly_the_same_modules():
    import io

    bill = QRBill(account=QR_IBAN, creditor={"name": "PieCed AG", "pcode": "8001", "city": "Zürich"},
                  amount="160.80", reference_number=qr.qrr_reference("PC-2026-0001"))
    out = io.StringIO()
    bill.as_svg(out)
    original = re.search(r'd="((?:M\d+,\d+H\d+V\d+H\d+z)+)"', out.getvalue()).group(1)
    merged = qr._merge_modules(original)
    assert merged.count("M") < original.count("M") / 1.5  # far fewer shapes to parse and draw
    assert _modules(merged) == _modules(original)
    # and no rectangle overlaps another
    count = 0
    for m in re.finditer(r"M(\d+) (\d+) (\d+) \d+ \d+ (\d+) \d+ \d+z", merged):
        x1, y1, x2, y2 = map(int, m.groups())
        count += (x2 - x1) * (y2 - y1)
    assert count == len(_modules(original))
