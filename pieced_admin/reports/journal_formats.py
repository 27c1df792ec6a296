"""The accounting journal in the import formats of Abacus and bexio: PURE, journal rows in, file text out.

Each journal row is one balanced booking (debit account, credit account, one positive CHF amount), so
both formats carry one booking per row and every file balances by itself. VAT is booked on its own
rows (debtors / VAT payable), never as a tax code: neither program is asked to compute VAT, and the
VAT return comes from pieced-admin's own report. Banana's TXT and the spreadsheet tables are in
`services.py`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence

from ..billing.money import fmt_amount, q2
from ..json_amounts import json_dumps
from .journal import JournalRow

__all__ = ["ABACUS_DOCUMENTATION", "ABACUS_VERSION", "BEXIO_DOCUMENTATION", "BEXIO_ENDPOINT", "abacus_xml",
           "bexio_body", "bexio_json"]

def _clean(text: str) -> str:
    """One line of text: control characters (which XML 1.0 cannot carry) and runs of whitespace become one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


# --------------------------------------------------------------------------- Abacus: AbaConnect "XML Buchungen"

ABACUS_DOCUMENTATION = ("https://downloads.abacus.ch/fileadmin/ablage/abaconnect/htmlfiles/fibu/"
                        "FIBU__XML%20Buchungen_2018.00_AbaDefault_EN.html")
ABACUS_VERSION = "2018.00"
ABACUS_TEXT_MAX = 80            # Text1 / Text2
ABACUS_DOCUMENT_NUMBER_MAX = 10  # DocumentNumber


def abacus_xml(rows: Iterable[JournalRow], *, currency: str = "CHF") -> bytes:
    """The rows as an AbaConnect FIBU "XML Buchungen" import file (UTF-8): one single entry per row.

    The envelope is Abacus's own example (ABACUS_DOCUMENTATION): `AbaConnectContainer` / `TaskCount` 1 /
    `Task` / `Parameter` (Application FIBU, Id "XML Buchungen", MapId AbaDefault, Version 2018.00; no
    `Mandant`, so the file imports into whichever client it is loaded in) / `Transaction` / `Entry
    mode='SAVE'`. Each row is one `Transaction` (numbered by its `id`) holding one Entry:

    - `CollectiveInformation`: EntryLevel A (an actual booking), EntryType S (a single entry), Type
      Normal, DebitCredit D, KeyCurrency CHF, EntryDate, AmountData (Currency, Amount) and KeyAmount
      (the same CHF amount), Account = the debit account, Text1, Text2, DocumentNumber;
    - one `SingleInformation`: Type Normal, DebitCredit D, EntryDate, AmountData, KeyAmount, Account =
      the credit (contra) account, Text1, Text2, DocumentNumber.

    The field-level reference of that page could not be read here (only its envelope and example
    header). The element names, their order and the values A / S / Normal / D come from exports
    used with Abacus that agree with each other: libracore's erpnextswiss Abacus transfer file, a
    payroll export built after a real Mirus export file, and the PerformX connector's published
    mapping of "XML Buchungen 2021.00". Three details follow those files rather than a text of
    Abacus: each Entry has its own `Transaction` with an `id` (Abacus's example shows one
    Transaction around one Entry); the single part repeats the collective part's DebitCredit, which
    names the collective account's side (D: the collective account is debited, the single one
    credited); and `SingleCount` is left out (one file writes 0, another the number of single parts,
    and a single entry has exactly one). `Client` is written empty and `Division` 0, as those files
    write them for a client without divisions.

    Text1 is the row's text and Text2 the full document number, each at most 80 characters (the
    length reported from the field reference; erpnextswiss's export cuts Text1 to it too). DocumentNumber
    is reported there as 10 characters, so it carries the document number only
    when it fits; a longer one (PC-2026-0101 has 12) stands in Text2 (and in Text1's text) rather
    than being cut into a number that is not ours.

    VAT is booked on its own rows and no entry carries TaxData: import the file without Abacus's
    "MWST berechnen" option, which would have Abacus compute VAT from its own master data. An Abacus
    client whose revenue accounts require a VAT code may refuse those rows; the codes are the
    client's own and not known here.
    """
    root = ET.Element("AbaConnectContainer")
    ET.SubElement(root, "TaskCount").text = "1"
    task = ET.SubElement(root, "Task")
    parameter = ET.SubElement(task, "Parameter")
    for tag, value in (("Application", "FIBU"), ("Id", "XML Buchungen"), ("MapId", "AbaDefault"),
                       ("Version", ABACUS_VERSION)):
        ET.SubElement(parameter, tag).text = value
    for n, row in enumerate(rows, start=1):
        transaction = ET.SubElement(task, "Transaction", id=str(n))
        entry = ET.SubElement(transaction, "Entry", mode="SAVE")
        collective = ET.SubElement(entry, "CollectiveInformation", mode="SAVE")
        for tag, value in (("EntryLevel", "A"), ("EntryType", "S"), ("Type", "Normal"), ("DebitCredit", "D"),
                           ("Client", ""), ("Division", "0"), ("KeyCurrency", currency)):
            ET.SubElement(collective, tag).text = value
        _abacus_booking(collective, row, row.debit, currency)
        single = ET.SubElement(entry, "SingleInformation", mode="SAVE")
        for tag, value in (("Type", "Normal"), ("DebitCredit", "D")):
            ET.SubElement(single, tag).text = value
        _abacus_booking(single, row, row.credit, currency)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _abacus_booking(parent: ET.Element, row: JournalRow, account: str, currency: str) -> None:
    """The fields both parts of an entry carry: date, amount (document and key currency), account, texts."""
    ET.SubElement(parent, "EntryDate").text = row.booked_on.isoformat()
    amount_data = ET.SubElement(parent, "AmountData", mode="SAVE")
    ET.SubElement(amount_data, "Currency").text = currency
    ET.SubElement(amount_data, "Amount").text = fmt_amount(row.amount_chf)
    ET.SubElement(parent, "KeyAmount").text = fmt_amount(row.amount_chf)
    ET.SubElement(parent, "Account").text = account
    ET.SubElement(parent, "Text1").text = _clean(row.text)[:ABACUS_TEXT_MAX]
    document = _clean(row.document)
    ET.SubElement(parent, "Text2").text = document[:ABACUS_TEXT_MAX]
    if len(document) <= ABACUS_DOCUMENT_NUMBER_MAX:
        ET.SubElement(parent, "DocumentNumber").text = document


# --------------------------------------------------------------------------- bexio: API v3 manual entries

BEXIO_DOCUMENTATION = "https://docs.bexio.com/#tag/Manual-Entries/operation/CreateManualEntry"
BEXIO_ENDPOINT = "POST https://api.bexio.com/3.0/accounting/manual_entries"
BEXIO_DESCRIPTION_MAX = 255
BEXIO_REFERENCE_MAX = 80


def bexio_body(row: JournalRow, debit_id: int | None = None, credit_id: int | None = None) -> dict:
    """One row as the request body of `POST /3.0/accounting/manual_entries`: a `manual_single_entry`
    (bexio's account ids `None` where unknown)."""
    return {
        "type": "manual_single_entry",
        "date": row.booked_on.isoformat(),
        "reference_nr": _clean(row.document)[:BEXIO_REFERENCE_MAX],
        "entries": [{
            "debit_account_id": debit_id,
            "credit_account_id": credit_id,
            "amount": q2(row.amount_chf),
            "description": _clean(row.text)[:BEXIO_DESCRIPTION_MAX],
        }],
    }


BEXIO_HOW_TO_FILL = ("bexio's API takes its internal account ids: fill in `accounts` (account number → the `id` "
                     "that GET /2.0/accounts lists with that `account_no`), set each body's debit_account_id and "
                     "credit_account_id from its debit_account_no and credit_account_no, then post the bodies in order.")
BEXIO_HOW_FILLED = ("The account ids are bexio's own, read from GET /2.0/accounts of the configured bexio company: "
                    "post the bodies in order (or let pieced-admin do it: `pieced-admin reports journal "
                    "--post-to-bexio`, which skips what is already booked).")


def bexio_json(rows: Sequence[JournalRow], *, entity: str, period: str, currency: str = "CHF",
               account_ids: Mapping[str, int] | None = None, note: str | None = None) -> str:
    """The rows as request bodies of bexio's API for manual entries (JSON, UTF-8): one
    `manual_single_entry` per row.

    No file import of bookings is documented for bexio (third-party marketplace importers fill that
    gap); its documented interface is the REST API v3, `POST /3.0/accounting/manual_entries`
    (BEXIO_DOCUMENTATION), whose body is `type` (manual_single_entry, manual_compound_entry or
    manual_group_entry), `date`, `reference_nr` and `entries[]` with `debit_account_id`,
    `credit_account_id`, `tax_id`, `tax_account_id`, `description`, `amount`, `currency_id` and
    `currency_factor`. A single entry (one line with a debit and a credit account and one amount)
    is exactly one journal row, so each row is one body and its `reference_nr` is the document
    number, which ties a document's rows together in bexio. A compound entry per document would
    have to split the rows into one-sided lines, unlike the Banana and Abacus files of the same
    journal. Amounts are JSON numbers with two places; descriptions are cut at 255 characters and
    references at 80 (limits given by API clients of bexio, not confirmed in bexio's own text).
    `tax_id` is left out because VAT is booked on its own rows (so bexio's own VAT report does not
    count these bookings), and `currency_id` / `currency_factor` because the amounts are in CHF, a
    Swiss company's base currency (API clients treat both as optional; `currency_id` would be one
    more internal id).

    The API takes bexio's internal account ids, not account numbers (`GET /2.0/accounts` lists each
    account's `id` with its `account_no`). `accounts` lists every account number the rows use with
    its id, and each item of `manual_entries` carries its `debit_account_no` and `credit_account_no`
    beside its `body`. With `account_ids` (read from the configured bexio company) the ids are
    filled in and every `body` is a request as documented; without them (bexio not configured, or
    not reachable: `note` says why) they are `null`, to be filled in by whoever posts the bodies,
    and `how` says how. A number bexio does not have stays `null` either way.
    """
    numbers = sorted({r.debit for r in rows} | {r.credit for r in rows})
    ids = dict(account_ids or {})
    how = BEXIO_HOW_TO_FILL
    if account_ids is not None:
        missing = [n for n in numbers if n not in ids]
        how = BEXIO_HOW_FILLED + (f" bexio has no account {', '.join(missing)}: create it there, then download "
                                  "this file again." if missing else "")
    document = {
        "format": f"bexio API v3 manual entries: each item's body is one request body for {BEXIO_ENDPOINT}",
        "documentation": BEXIO_DOCUMENTATION,
        "entity": entity,
        "period": period,
        "currency": currency,
        "how": how,
        **({"note": note} if note else {}),
        "accounts": {number: ids.get(number) for number in numbers},
        "manual_entries": [
            {"debit_account_no": r.debit, "credit_account_no": r.credit,
             "body": bexio_body(r, ids.get(r.debit), ids.get(r.credit))}
            for r in rows
        ],
    }
    return json_dumps(document, pretty=True) + "\n"
