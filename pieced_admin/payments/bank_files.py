"""ISO 20022 bank files as Swiss banks deliver them: camt.054 and camt.053, versions .04 to .08. PURE.

Bytes in, transactions out: no database, no clock, no Flask. `parse_bank_file`
reads every entry down to each transaction of a batched entry (one `TxDtls`
each) and says of each what SPEC §6 needs: booked or not, credit or debit,
reversal or not, amount, currency, booking day, creditor reference, debtor,
and the id the bank gives it (`AcctSvcrRef`, else the entry's reference and
the transaction's position), prefixed with the account so two accounts never
collide. What becomes of a transaction (recorded, ignored, matched) is the
import service's business (`payments/bank_import.py`).

Real files differ from the guidelines, and each of these is accepted:
`Sts` as text (.04) or `<Sts><Cd>` (.08); parties with or without `Pty`;
references typed `QRR` (Prtry), `SCOR` (Cd), "ISR Reference" or not at all;
amounts without decimals; amounts per transaction in `Amt` or only in
`AmtDtls`; a camt.053 entry without details pointing to the camt.054 that has
them (`NtryDtls/Btch` or `AddtlInfInd/MsgNmId`); `TxsSummry` counts that do not
add up (a warning, not a refusal); bank-specific extra elements.

A file that is not XML, is cut short, or is another message (pain.001, camt.052,
a newer or older version) raises `BankFileError` with one line saying so.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["BankFileError", "BankFile", "BankTransaction", "parse_bank_file", "SUPPORTED", "compact_reference"]

# message -> its root element's child, for the versions Swiss banks deliver
_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(0[4-8])$")
_ANY_ISO = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3})\.\d{3}\.(\d{2})$")
SUPPORTED = {"camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"), "camt.053": ("BkToCstmrStmt", "Stmt")}
MAX_BYTES = 50 * 1024 * 1024


class BankFileError(ValueError):
    """The file is not a camt.053/camt.054 we can read: one line saying what is wrong."""


@dataclass(frozen=True)
class BankTransaction:
    """One transaction of one entry (a batched entry gives several)."""

    source_id: str                 # account + AcctSvcrRef, else account + entry reference + position
    entry_index: int               # 1-based, in the file
    tx_index: int                  # 1-based, within its entry
    status: str                    # BOOK, PDNG, INFO, ...
    credit: bool
    reversal: bool
    amount: Decimal                # positive, as the bank writes it
    currency: str
    booked_on: date | None
    reference: str | None          # compact: no spaces, upper case
    reference_type: str | None     # QRR, SCOR, ISR Reference, ... or None
    debtor_name: str | None        # for a debit: the creditor (who got the money)
    remittance: str | None         # unstructured remittance text and AddtlRmtInf, for a person
    account: str | None
    deferred_to: str | None = None  # the message (camt.054) that carries this entry's details

    @property
    def booked(self) -> bool:
        return self.status == "BOOK"


@dataclass(frozen=True)
class BankFile:
    message: str                   # camt.054 or camt.053
    version: str                   # 04 … 08
    message_id: str | None
    entries: int                   # Ntry elements
    transactions: tuple[BankTransaction, ...]
    warnings: tuple[str, ...] = field(default=())


def compact_reference(text: str | None) -> str | None:
    """A reference without spaces, in capitals (how it is compared)."""
    if not text:
        return None
    value = re.sub(r"\s+", "", text).upper()
    return value or None


class _Reader:
    """Namespace-aware paths: `q(el, "Ntry/Amt")` finds `{ns}Ntry/{ns}Amt`."""

    def __init__(self, ns: str):
        self.ns = ns

    def path(self, path: str) -> str:
        return "/".join(part if part in (".", "..") else f"{{{self.ns}}}{part}" for part in path.split("/"))

    def find(self, el, path: str):
        return el.find(self.path(path)) if el is not None else None

    def first(self, el, *paths: str):
        """The first element found of several paths (an Element without children is falsy: test for None)."""
        for path in paths:
            found = self.find(el, path)
            if found is not None:
                return found
        return None

    def findall(self, el, path: str) -> list:
        return el.findall(self.path(path)) if el is not None else []

    def text(self, el, *paths: str) -> str | None:
        for path in paths:
            found = self.find(el, path)
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return None


def _amount(el, where: str) -> tuple[Decimal, str]:
    try:
        value = Decimal(el.text.strip())
    except (InvalidOperation, AttributeError):
        raise BankFileError(f"{where}: the amount {(el.text or '').strip()!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise BankFileError(f"{where}: the amount {el.text.strip()!r} is not a positive number")
    return value.quantize(Decimal("0.01")), (el.get("Ccy") or "").strip().upper() or "CHF"


def _day(r: _Reader, el, path: str) -> date | None:
    text = r.text(el, f"{path}/Dt") or r.text(el, f"{path}/DtTm")
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise BankFileError(f"the date {text!r} is not a date") from None


def _status(r: _Reader, entry) -> str:
    sts = r.find(entry, "Sts")
    if sts is None:
        return ""
    code = r.text(sts, "Cd", "Prtry")
    return (code or (sts.text or "")).strip().upper()


def _party_name(r: _Reader, parties, role: str) -> str | None:
    return r.text(parties, f"{role}/Pty/Nm", f"{role}/Nm", f"Ultmt{role}/Pty/Nm", f"Ultmt{role}/Nm")


def _reference(r: _Reader, tx) -> tuple[str | None, str | None]:
    for ref_info in r.findall(tx, "RmtInf/Strd/CdtrRefInf"):
        ref = compact_reference(r.text(ref_info, "Ref"))
        if ref:
            kind = r.text(ref_info, "Tp/CdOrPrtry/Prtry", "Tp/CdOrPrtry/Cd")
            return ref, kind
    return None, None


# PostFinance's own status lines in AddtlRmtInf (`?REJECT?0`, `?ERROR?000`): not the payer's words.
_BANK_STATUS_LINE = re.compile(r"^\?(REJECT|ERROR)\?\d*$")


def _remittance(r: _Reader, tx) -> str | None:
    texts = [el.text for path in ("RmtInf/Ustrd", "RmtInf/Strd/AddtlRmtInf", "AddtlTxInf")
             for el in r.findall(tx, path)]
    parts = [t.strip() for t in texts if t and t.strip() and not _BANK_STATUS_LINE.match(t.strip())]
    return " / ".join(parts) or None


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def _root(data: bytes):
    if not data or not data.strip():
        raise BankFileError("the file is empty")
    if len(data) > MAX_BYTES:
        raise BankFileError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise BankFileError("the file declares a DOCTYPE or entities, which bank files never do: refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        what = "cut short" if "no element found" in str(exc) or "unclosed token" in str(exc) else "not well-formed"
        raise BankFileError(f"the file is not a complete XML document ({what} at line {line}, column {column})") from None


def parse_bank_file(data: bytes) -> BankFile:
    """Read a camt.054 or camt.053 (.04 to .08); BankFileError with one line when it is anything else."""
    root = _root(data)
    match = re.match(r"^\{([^}]*)\}(.*)$", root.tag)
    ns, local = (match.group(1), match.group(2)) if match else ("", root.tag)
    found = _NAMESPACE.match(ns)
    if local != "Document" or not found:
        other = _ANY_ISO.match(ns)
        if other:
            raise BankFileError(f"this is a {other.group(1)}.001.{other.group(2)} file, not a camt.054 or camt.053 "
                                "(versions .04 to .08)")
        raise BankFileError(f"this is not an ISO 20022 camt.054 or camt.053 file (its root element is {local!r}"
                            + (f" in {ns!r}" if ns else " without a namespace") + ")")
    message, version = found.group(1), found.group(2)
    group_tag, report_tag = SUPPORTED[message]
    r = _Reader(ns)
    group = r.find(root, group_tag)
    if group is None:
        raise BankFileError(f"this {message} file has no {group_tag} element")
    message_id = r.text(group, "GrpHdr/MsgId")
    reports = r.findall(group, report_tag)
    if not reports:
        raise BankFileError(f"this {message} file has no {report_tag} (account report) element")

    transactions: list[BankTransaction] = []
    warnings: list[str] = []
    entry_count = 0
    for report in reports:
        account = r.text(report, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
        account_key = compact_reference(account) or "-"
        report_entries = r.findall(report, "Ntry")
        declared = r.text(report, "TxsSummry/TtlNtries/NbOfNtries")
        for entry in report_entries:
            entry_count += 1
            where = f"entry {entry_count}"
            amt_el = r.find(entry, "Amt")
            if amt_el is None:
                raise BankFileError(f"{where} has no amount (Amt)")
            entry_amount, entry_ccy = _amount(amt_el, where)
            indicator = (r.text(entry, "CdtDbtInd") or "").upper()
            if indicator not in ("CRDT", "DBIT"):
                raise BankFileError(f"{where}: CdtDbtInd is {indicator or 'missing'}, not CRDT or DBIT")
            entry_reversal = _bool(r.text(entry, "RvslInd"))
            status = _status(r, entry)
            booked_on = _day(r, entry, "BookgDt") or _day(r, entry, "ValDt")
            entry_ref = r.text(entry, "NtryRef")
            entry_svcr = r.text(entry, "AcctSvcrRef")
            deferred = r.text(entry, "AddtlInfInd/MsgNmId")
            details = r.findall(entry, "NtryDtls/TxDtls")
            if not details:
                # No transactions here: a camt.053 entry whose details are in a camt.054, or a bare entry.
                deferred_to = deferred if deferred and "camt.054" in deferred else (
                    "camt.054" if message == "camt.053" and r.find(entry, "NtryDtls/Btch") is not None else None)
                key = entry_svcr or f"{entry_ref or message_id or '-'}#{entry_count}"
                transactions.append(BankTransaction(
                    source_id=f"{account_key}:{key}", entry_index=entry_count, tx_index=1, status=status,
                    credit=indicator == "CRDT", reversal=entry_reversal, amount=entry_amount, currency=entry_ccy,
                    booked_on=booked_on, reference=None, reference_type=None, debtor_name=None,
                    remittance=r.text(entry, "AddtlNtryInf"), account=account, deferred_to=deferred_to))
                continue
            for tx_index, tx in enumerate(details, start=1):
                tx_where = f"{where}, transaction {tx_index}"
                amt = r.first(tx, "Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt")
                if amt is not None:
                    amount, currency = _amount(amt, tx_where)
                elif len(details) == 1:
                    amount, currency = entry_amount, entry_ccy
                else:
                    raise BankFileError(f"{tx_where} of a batched entry has no amount")
                tx_indicator = (r.text(tx, "CdtDbtInd") or indicator).upper()
                tx_svcr = r.text(tx, "Refs/AcctSvcrRef")
                if tx_svcr:
                    key = tx_svcr
                elif entry_svcr:
                    key = entry_svcr if len(details) == 1 else f"{entry_svcr}#{tx_index}"
                else:
                    key = f"{entry_ref or message_id or '-'}#{entry_count}.{tx_index}"
                reference, reference_type = _reference(r, tx)
                credit = tx_indicator == "CRDT"
                parties = r.find(tx, "RltdPties")
                name = _party_name(r, parties, "Dbtr" if credit else "Cdtr")
                transactions.append(BankTransaction(
                    source_id=f"{account_key}:{key}", entry_index=entry_count, tx_index=tx_index, status=status,
                    credit=credit, reversal=entry_reversal or _bool(r.text(tx, "RvslInd")), amount=amount,
                    currency=currency, booked_on=booked_on, reference=reference, reference_type=reference_type,
                    debtor_name=name, remittance=_remittance(r, tx), account=account))
        if declared and declared.isdigit() and int(declared) != len(report_entries):
            warnings.append(f"account {account or '?'}: TxsSummry says {declared} entries, the file has "
                            f"{len(report_entries)}")
    return BankFile(message=message, version=version, message_id=message_id, entries=entry_count,
                    transactions=tuple(transactions), warnings=tuple(warnings))
