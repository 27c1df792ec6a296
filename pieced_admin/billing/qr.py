"""The Swiss QR-bill: IBAN checks, payment references derived from invoice numbers, the bill as SVG.

Payment references
==================

A payment is matched back to its invoice through the reference printed on the
QR-bill, so the reference is a pure function of the invoice number
(``<prefix>-<YYYY>-<NNNN>``, SPEC §3): the same number always gives the same
reference, different numbers give different ones, and
:func:`invoice_number_hint` reads the number back out of a reference.

**QRR** (QR-IBAN; 26 digits + 1 check digit, modulo 10 recursive, computed by
``stdnum.ch.esr``)::

    F  PPPPPPPPPPPPPP  YYYY  SSSSSSS  C
    1       14           4      7     1   = 27 digits

``F`` is the form:

* ``1``–``7``: the prefix has F characters from ``0-9A-Z``; each becomes two
  digits (``0``–``9`` → ``00``–``09``, ``A``–``Z`` → ``10``–``35``, the ISO 7064
  letter values), right-aligned in the 14 ``P`` digits and zero-filled;
  ``YYYY`` is the year and ``SSSSSSS`` the sequence.
  ``PC-2026-0001`` → ``2 00000000002512 2026 0000001`` + check digit.
* ``8``: the prefix is longer than 7 characters or uses other characters;
  ``P`` holds 14 digits of the SHA-256 of the prefix, year and sequence as above.
* ``9``: the number does not follow the pattern (or its sequence has more than
  7 digits or is not zero-padded to 4); the 25 digits after ``F`` come from the
  SHA-256 of the whole number.

Forms 1–7 are read back exactly; forms 8 and 9 are still deterministic and, for
all practical purposes, distinct, but cannot be read back.

**SCOR** (plain IBAN; ISO 11649 creditor reference ``RF`` + 2 check digits + up
to 21 characters, computed by ``stdnum.iso7064.mod_97_10``):

* the invoice number without its hyphens, ``PC-2026-0001`` → ``RF..PC20260001``,
  when the prefix is upper-case letters and digits ending in a letter (so the
  split between prefix and year is unambiguous) and the whole fits in 21
  characters;
* otherwise 20 digits from the SHA-256 of the number: a body of digits only,
  which the readable form (it always holds a letter) can never be.
"""

from __future__ import annotations

import hashlib
import io
import re
from decimal import Decimal
from functools import lru_cache

from qrbill import QRBill
from schwifty import IBAN
from schwifty import exceptions as iban_errors
from stdnum import iso11649
from stdnum.ch import esr
from stdnum.iso7064 import mod_97_10

QR_BILL_COUNTRIES = ("CH", "LI")
QR_IID_RANGE = range(30000, 32000)  # institution ids of QR-IBANs: 30000–31999

REFERENCE_QRR = "QRR"
REFERENCE_SCOR = "SCOR"
REFERENCE_NONE = "NON"

_NUMBER = re.compile(r"^(?P<prefix>.+)-(?P<year>\d{4})-(?P<seq>\d{4,})$")
_QRR_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # index = two-digit code
_QRR_PREFIX_CHARS = 7
_QRR_SEQ_DIGITS = 7
_SCOR_PREFIX = re.compile(r"^[A-Z0-9]*[A-Z]$")
_SCOR_READABLE = re.compile(r"^(?P<prefix>[A-Z0-9]*[A-Z])(?P<year>\d{4})(?P<seq>\d{4,})$")
_SCOR_MAX_BODY = 21


class IbanError(ValueError):
    """An IBAN that cannot be used to collect payments, with a message a person can act on."""


class QrBillError(ValueError):
    """The QR-bill cannot be produced from the data given (says which data)."""


# --------------------------------------------------------------------------- IBAN


def _compact(text: str) -> str:
    return re.sub(r"[\s\-.]", "", text or "").upper()


def normalise_iban(text: str, *, qr_bill: bool = True) -> str:
    """Validate an IBAN (schwifty) and return it compact and upper-case; raises IbanError.

    With ``qr_bill`` (the default: the entity's IBAN is printed on QR-bills) only
    Swiss and Liechtenstein IBANs are accepted.
    """
    compact = _compact(text)
    if not compact:
        raise IbanError("IBAN is missing")
    try:
        iban = IBAN(compact)
    except iban_errors.InvalidChecksumDigits:
        raise IbanError("IBAN check digits are wrong: please check it for a typing error") from None
    except iban_errors.InvalidCountryCode:
        raise IbanError(f"IBAN starts with an unknown country code {compact[:2]!r}") from None
    except iban_errors.InvalidLength:
        raise IbanError(f"IBAN has the wrong length for {compact[:2]} ({len(compact)} characters)") from None
    except iban_errors.InvalidStructure:
        raise IbanError(f"IBAN is not in the format used in {compact[:2]}: please check it") from None
    except iban_errors.SchwiftyException as exc:
        raise IbanError(f"IBAN is not valid: {exc}") from None
    if qr_bill and iban.country_code not in QR_BILL_COUNTRIES:
        raise IbanError("not a Swiss or Liechtenstein IBAN: a QR-bill needs CH or LI")
    return iban.compact


def is_qr_iban(iban: str) -> bool:
    """Whether the IBAN is a QR-IBAN: CH/LI with an institution id (positions 5–9) of 30000–31999."""
    compact = _compact(iban)
    if compact[:2] not in QR_BILL_COUNTRIES or not compact[4:9].isdigit():
        return False
    return int(compact[4:9]) in QR_IID_RANGE


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as printed: ``CH44 3199 9123 0008 8901 2``."""
    compact = _compact(iban)
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def describe_iban(iban: str) -> str:
    """What kind of reference invoices to this (valid) IBAN carry, for forms and help texts."""
    if is_qr_iban(iban):
        return "QR-IBAN: QR-bills carry a QR reference (QRR)"
    return "IBAN: QR-bills carry a creditor reference (SCOR, RF…)"


# --------------------------------------------------------------------------- references


def _digest(text: str, digits: int) -> str:
    value = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    return f"{value % 10**digits:0{digits}d}"


def _canonical_parts(invoice_number: str) -> tuple[str, str, int] | None:
    """(prefix, year, sequence) of a number written exactly as issuing writes it, else None."""
    match = _NUMBER.match(invoice_number)
    if not match:
        return None
    seq = int(match["seq"])
    if match["seq"] != f"{seq:04d}" or seq >= 10**_QRR_SEQ_DIGITS:
        return None
    return match["prefix"], match["year"], seq


def qrr_reference(invoice_number: str) -> str:
    """The 27-digit QR reference of an invoice number (see the module docstring for the layout)."""
    parts = _canonical_parts(invoice_number)
    if parts is None:
        data = "9" + _digest(invoice_number, 25)
    else:
        prefix, year, seq = parts
        if 1 <= len(prefix) <= _QRR_PREFIX_CHARS and all(ch in _QRR_ALPHABET for ch in prefix):
            codes = "".join(f"{_QRR_ALPHABET.index(ch):02d}" for ch in prefix)
            data = f"{len(prefix)}{codes:0>14}{year}{seq:0{_QRR_SEQ_DIGITS}d}"
        else:
            data = f"8{_digest(prefix, 14)}{year}{seq:0{_QRR_SEQ_DIGITS}d}"
    return data + esr.calc_check_digit(data)


def scor_reference(invoice_number: str) -> str:
    """The ISO 11649 creditor reference (RF…) of an invoice number (see the module docstring)."""
    match = _NUMBER.match(invoice_number)
    body = None
    if match and _SCOR_PREFIX.match(match["prefix"]):
        candidate = f"{match['prefix']}{match['year']}{match['seq']}"
        if len(candidate) <= _SCOR_MAX_BODY:
            body = candidate
    if body is None:
        body = _digest(invoice_number, 20)
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def payment_reference(invoice_number: str, iban: str) -> tuple[str, str]:
    """("QRR", 27 digits) for a QR-IBAN, ("SCOR", "RF…") otherwise; derived from the invoice number."""
    if not invoice_number:
        raise ValueError("an invoice number is needed to derive a payment reference")
    if is_qr_iban(iban):
        return REFERENCE_QRR, qrr_reference(invoice_number)
    return REFERENCE_SCOR, scor_reference(invoice_number)


def format_reference(reference: str) -> str:
    """A reference as printed: QRR in the 2+5×5 digit groups, RF in groups of four."""
    compact = _compact(reference)
    if compact.startswith("RF"):
        return iso11649.format(compact)
    if compact.isdigit() and len(compact) == 27:
        return esr.format(compact)
    return compact


def invoice_number_hint(reference: str) -> str | None:
    """The invoice number a reference was derived from, when it can be read back; else None."""
    compact = _compact(reference)
    if compact.startswith("RF"):
        if not iso11649.is_valid(compact):
            return None
        match = _SCOR_READABLE.match(compact[4:])
        return f"{match['prefix']}-{match['year']}-{match['seq']}" if match else None
    if len(compact) != 27 or not esr.is_valid(compact):
        return None
    form = int(compact[0])
    if not 1 <= form <= _QRR_PREFIX_CHARS:
        return None
    codes = compact[1:15][-2 * form:]
    if compact[1:15][: 14 - 2 * form].strip("0"):
        return None
    indexes = [int(codes[i:i + 2]) for i in range(0, len(codes), 2)]
    if any(i >= len(_QRR_ALPHABET) for i in indexes):
        return None
    prefix = "".join(_QRR_ALPHABET[i] for i in indexes)
    return f"{prefix}-{compact[15:19]}-{int(compact[19:26]):04d}"


# --------------------------------------------------------------------------- characters and billing information


def qr_character_allowed(ch: str) -> bool:
    """Whether the QR-bill may carry this character (Implementation Guidelines 2.3, section 4.1.1).

    Basic Latin, Latin-1 Supplement and Latin Extended-A, Ș ș Ț ț and the euro sign.
    """
    code = ord(ch)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0x17F or 0x218 <= code <= 0x21B or code == 0x20AC)


def unsupported_characters(text: str | None) -> set[str]:
    """The characters of `text` a QR-bill cannot carry (empty when it can carry it all)."""
    return {ch for ch in (text or "") if not qr_character_allowed(ch)}


def _s1_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("/", "\\/")


def uid_digits(vat_number: str | None) -> str | None:
    """The nine digits of a valid Swiss UID (``CHE-123.456.788 MWST`` -> ``123456788``), else None."""
    from stdnum.ch import uid

    compact = re.sub(r"\s*(MWST|TVA|IVA|VAT)$", "", (vat_number or "").strip().upper())
    try:
        return uid.validate(compact)[3:]
    except Exception:  # stdnum raises its own ValidationError subclasses
        return None


def swico_s1(*, number: str, issued_on, uid: str | None, vat_rate: Decimal | None, terms_days: int | None) -> str:
    """Swico S1 billing information: ``//S1/10/<number>/11/<YYMMDD>/30/<UID>/32/<rate>/40/0:<days>``.

    The tags the payer's accounting software books the invoice from: invoice
    number, invoice date, the seller's UID (digits only; left out without a
    valid one), the VAT rate and the payment terms (days net).
    """
    parts = ["//S1", "10", _s1_escape(number), "11", issued_on.strftime("%y%m%d")]
    if uid:
        parts += ["30", uid]
    if vat_rate is not None:
        rate = format(Decimal(vat_rate).normalize(), "f")
        parts += ["32", rate]
    if terms_days is not None:
        parts += ["40", f"0:{int(terms_days)}"]
    return "/".join(parts)


def parse_s1(text: str) -> dict[str, str]:
    """The tags of a Swico S1 string, by tag number (``{"10": "PC-2026-0001", "11": "261101", …}``)."""
    if not text.startswith("//S1/"):
        raise ValueError(f"not Swico S1 billing information: {text[:10]!r}")
    fields, current, escaped = [], "", False
    for ch in text[5:]:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "/":
            fields.append(current)
            current = ""
        else:
            current += ch
    fields.append(current)
    if len(fields) % 2:
        raise ValueError("Swico S1: a tag without a value")
    return dict(zip(fields[::2], fields[1::2], strict=True))


# --------------------------------------------------------------------------- the bill


def qr_address(snapshot: dict | None) -> dict | None:
    """A structured QR-bill address from a name/street/building_number/postal_code/city/country dict.

    None when there is no postal code or city: the QR-bill then leaves the
    debtor empty (a structured address needs both).
    """
    if not snapshot:
        return None
    get = lambda *keys: next((str(snapshot[k]).strip() for k in keys if snapshot.get(k)), "")  # noqa: E731
    address = {
        "name": get("name"),
        "street": get("street"),
        "house_num": get("house_num", "building_number"),
        "pcode": get("pcode", "postal_code"),
        "city": get("city"),
        "country": get("country") or "CH",
    }
    if not (address["name"] and address["pcode"] and address["city"]):
        return None
    return address


_MODULE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z")


def _merge_modules(path: str) -> str:
    """The QR code's path with its one-module squares merged into rectangles.

    qrcode draws every dark module as its own square (1,000 to 2,000 of them);
    the same area as horizontal runs stacked into rectangles takes less than
    half the path, which svglib parses (three times per document) and
    ReportLab draws (once per layout pass) that much faster. The shape is
    unchanged, module for module.
    """
    rows: dict[int, list[int]] = {}
    for x, y, x2, y2 in _MODULE.findall(path):
        if int(x2) != int(x) + 1 or int(y2) != int(y) + 1:
            return path  # not the one-module squares this expects: leave it alone
        rows.setdefault(int(y), []).append(int(x))
    if not rows:
        return path
    runs: dict[int, list[tuple[int, int]]] = {}
    for y, xs in rows.items():
        xs.sort()
        spans, start, prev = [], xs[0], xs[0]
        for x in xs[1:]:
            if x != prev + 1:
                spans.append((start, prev + 1))
                start = x
            prev = x
        spans.append((start, prev + 1))
        runs[y] = spans
    parts = []
    open_rects: dict[tuple[int, int], int] = {}  # (x1, x2) -> first row, while the next rows repeat the run
    for y in range(min(runs), max(runs) + 2):
        current = set(runs.get(y, ()))
        for span in [s for s in open_rects if s not in current]:
            top = open_rects.pop(span)
            # Four corners after one M (implicit line-tos): the cheapest form for svglib to parse.
            parts.append(f"M{span[0]} {top} {span[1]} {top} {span[1]} {y} {span[0]} {y}z")
        for span in current:
            open_rects.setdefault(span, y)
    return "".join(parts)


def _compact_qr(svg: str) -> str:
    """The bill's SVG with the QR code's path merged into rectangles (see _merge_modules)."""

    def replace(match: re.Match) -> str:
        return f'd="{_merge_modules(match.group(1))}"'

    return re.sub(r'd="((?:M\d+,\d+H\d+V\d+H\d+z)+)"', replace, svg, count=1)


@lru_cache(maxsize=64)
def _svg(iban, amount, currency, creditor, debtor, reference, additional_information, language) -> str:
    bill = _bill(iban, amount, currency, creditor, debtor, reference, additional_information, language)
    out = io.StringIO()
    bill.as_svg(out)
    return _compact_qr(out.getvalue())


def _bill(account, amount, currency, creditor, debtor, reference, additional_information, language,
          billing_information="") -> QRBill:
    return QRBill(
        account=account,
        creditor=dict(creditor),
        debtor=dict(debtor) if debtor else None,
        amount=amount,
        currency=currency,
        reference_number=reference or None,
        additional_information=additional_information or "",
        billing_information=billing_information or "",
        language=language,
    )


def qr_bill_svg(
    *,
    iban: str,
    amount: Decimal,
    currency: str,
    creditor: dict,
    debtor: dict | None,
    reference_type: str,
    reference: str,
    additional_information: str,
    language: str,
) -> str:
    """The QR-bill's payment part and receipt as SVG, 210 × 106 mm (scissors line on top): browser previews.

    Addresses are structured (name, street, house_num, pcode, city, country;
    the snapshot names building_number and postal_code are accepted too).
    Raises QrBillError naming what is wrong.
    """
    args = _checked_args(iban=iban, amount=amount, currency=currency, creditor=creditor, debtor=debtor,
                         reference_type=reference_type, reference=reference,
                         additional_information=additional_information, language=language)
    try:
        return _svg(*args)
    except ValueError as exc:
        raise QrBillError(str(exc)) from None


def qr_bill(
    *,
    iban: str,
    amount: Decimal,
    currency: str,
    creditor: dict,
    debtor: dict | None,
    reference_type: str,
    reference: str,
    additional_information: str,
    language: str,
    billing_information: str = "",
) -> QRBill:
    """The validated QR-bill (the qrbill library's object: its data, for billing.qr_draw to draw).

    Same arguments and checks as `qr_bill_svg`, plus the structured billing
    information (Swico S1, see `swico_s1`). Raises QrBillError naming what is wrong.
    """
    args = _checked_args(iban=iban, amount=amount, currency=currency, creditor=creditor, debtor=debtor,
                         reference_type=reference_type, reference=reference,
                         additional_information=additional_information, language=language)
    try:
        return _bill(*args, billing_information=billing_information)
    except ValueError as exc:
        raise QrBillError(str(exc)) from None


def _checked_args(*, iban, amount, currency, creditor, debtor, reference_type, reference, additional_information,
                  language) -> tuple:
    try:
        account = normalise_iban(iban)
    except IbanError as exc:
        raise QrBillError(f"the entity's IBAN cannot be used: {exc}") from None
    creditor_address = qr_address(creditor)
    if creditor_address is None:
        raise QrBillError("the entity needs a name, postal code and city for the QR-bill (structured address)")
    debtor_address = qr_address(debtor)
    if reference_type not in (REFERENCE_QRR, REFERENCE_SCOR, REFERENCE_NONE):
        raise QrBillError(f"unknown reference type {reference_type!r}")
    wanted = REFERENCE_QRR if is_qr_iban(account) else REFERENCE_SCOR
    if reference_type == REFERENCE_NONE and wanted == REFERENCE_QRR:
        raise QrBillError("a QR-IBAN needs a QRR reference")
    if reference_type != REFERENCE_NONE and reference_type != wanted:
        raise QrBillError(f"a {'QR-IBAN' if wanted == REFERENCE_QRR else 'plain IBAN'} needs a {wanted} reference, "
                          f"not {reference_type}")
    if reference_type == REFERENCE_SCOR and not iso11649.is_valid(reference):
        raise QrBillError(f"{reference!r} is not a valid creditor reference (RF…)")
    if reference_type == REFERENCE_QRR and not (len(_compact(reference)) == 27 and esr.is_valid(reference)):
        raise QrBillError(f"{reference!r} is not a valid 27-digit QR reference")
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if amount < 0:
        raise QrBillError("a QR-bill cannot carry a negative amount")
    for who, address in (("the entity", creditor_address), ("the customer", debtor_address)):
        for key, value in (address or {}).items():
            bad = unsupported_characters(value)
            if bad:
                raise QrBillError(f"{who}'s {key.replace('_', ' ')} {value!r} has characters a QR-bill cannot carry: "
                                  + " ".join(sorted(bad)))
    return (
        account, format(amount, "f"), currency,
        tuple(creditor_address.items()), tuple(debtor_address.items()) if debtor_address else None,
        _compact(reference) if reference_type != REFERENCE_NONE else "",
        additional_information or "", language if language in ("en", "de", "fr", "it") else "en",
    )
