"""`pieced-admin reports vat` and its gatherer on the database: CH, LI and German invoices, a void and
partial credit notes, through SPEC §5's `--json` shape.

The credit notes are rows of the `credit_notes` table of SPEC §2, written with only the columns the
SPEC names (as an operator or another service could), inside the rolled-back transaction.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.extensions import db
from pieced_admin.reports.gather import vat_documents
from pieced_admin.reports.vat import Quarter

from ..factories import default_entity, make_entity, make_org, zurich
from ..invoices.support import make_invoice

Q4 = Quarter(2026, 4)


def _credit_notes_table() -> sa.Table:
    """The `credit_notes` table of SPEC §2; rows written as plain SQL with only the SPEC's columns."""
    from pieced_admin.models import CreditNote

    return CreditNote.__table__


def _credit(table, number, invoice, issued_at, net, vat, rate="8.10"):
    db.session.execute(table.insert().values(
        number=number, invoice_id=invoice.id, billing_entity_id=invoice.billing_entity_id, reason="goodwill",
        issued_at=issued_at, currency="CHF", net_chf=Decimal(net), vat_rate=Decimal(rate), vat_chf=Decimal(vat),
        total_chf=Decimal(net) + Decimal(vat)))


def _snap(org):
    """The customer as issuing freezes it on the invoice, with its country."""
    return {"name": org.name, "org_id": org.zitadel_org_id, "country": org.country}


@pytest.fixture
def quarter_of_invoices(session):
    """Q4 2026 of the default entity, plus what must not count."""
    entity = default_entity()
    other = make_entity("pieced-services", prefix="PS")
    ch, li, de = make_org("org-zuerich"), make_org("org-vaduz", country="LI"), make_org("org-muenchen", country="DE")
    docs = {
        # 01.10.2026 00:30 in Zurich is 30.09. 22:30 UTC: the local date puts it in Q4.
        "A": make_invoice(ch, number="PC-2026-0101", period=Period(2026, 9), issued=zurich(2026, 10, 1, 0, 30), net="1000.00",
                          customer_snapshot=_snap(ch)),
        "B": make_invoice(li, number="PC-2026-0102", issued=date(2026, 11, 20), net="200.00", customer_snapshot=_snap(li)),
        "C": make_invoice(de, number="PC-2026-0103", issued=date(2026, 12, 5), net="300.00", vat_rate="0.00",
                          vat_note="Place of supply abroad", customer_snapshot=_snap(de)),
        "D": make_invoice(ch, number="PC-2026-0104", period=Period(2026, 8), issued=date(2026, 10, 10), net="100.00", status="void"),
        # not counted: the last hour of Q3 in Zurich, and another entity's invoice
        "S": make_invoice(ch, number="PC-2026-0100", period=Period(2026, 7), issued=zurich(2026, 9, 30, 23, 30), net="999.00"),
        "X": make_invoice(ch, number="PS-2026-0001", entity=other, issued=date(2026, 11, 1), net="777.00"),
    }
    assert entity.code == "pieced"
    return docs


def test_without_credit_notes_the_gatherer_reads_invoices_and_reverses_a_void(quarter_of_invoices, session):
    docs = vat_documents(default_entity(), Q4)
    assert sorted((d.kind, d.number, d.issued_on.isoformat(), str(d.net_chf), d.abroad) for d in docs) == [
        ("credit_note", "PC-2026-0104 (void)", "2026-10-11", "100.00", False),  # voided the next day
        ("invoice", "PC-2026-0101", "2026-10-01", "1000.00", False),
        ("invoice", "PC-2026-0102", "2026-11-20", "200.00", False),
        ("invoice", "PC-2026-0103", "2026-12-05", "300.00", True),
        ("invoice", "PC-2026-0104", "2026-10-10", "100.00", False),
    ]


def test_reports_vat_json_for_a_quarter_with_ch_li_abroad_a_void_and_partial_credit_notes(
        quarter_of_invoices, session, runner):
    docs = quarter_of_invoices
    table = _credit_notes_table()
    # The void's own credit note (the full 100.00 + 8.10), on its void day: no synthetic reversal then.
    _credit(table, "PC-CN-2026-0001", docs["D"], zurich(2026, 10, 11, 9), "100.00", "8.10")
    _credit(table, "PC-CN-2026-0002", docs["A"], zurich(2026, 12, 1, 9), "250.00", "20.25")  # partial, CH
    _credit(table, "PC-CN-2026-0003", docs["C"], zurich(2026, 12, 10, 9), "50.00", "0.00", rate="0.00")  # abroad
    _credit(table, "PC-CN-2027-0001", docs["B"], zurich(2027, 1, 2, 9), "10.00", "0.81")  # next quarter
    result = runner.invoke(args=["reports", "vat", "--entity", "pieced", "--quarter", "2026-Q4", "--json"])
    assert result.exit_code == 0, result.output
    # Invoices: A 1000.00 (VAT 81.00), B (LI) 200.00 (16.20), C (DE) 300.00 (0), D void 100.00 (8.10).
    # 200 = 1000 + 200 + 300 + 100 − 50.00 (credit note on C, abroad) = 1550.00
    # 221 = 300 − 50 = 250.00
    # 235 = 100.00 (D's credit note) + 250.00 (partial on A) = 350.00
    # 289 = 250 + 350 = 600.00; 299 = 1550 − 600 = 950.00
    # 8.10 %: taxable 1000 + 200 + 100 − 100 − 250 = 950.00; VAT 81.00 + 16.20 + 8.10 − 8.10 − 20.25 = 76.95
    assert json.loads(result.output) == {
        "entity": "pieced", "quarter": "2026-Q4", "method": "agreed",
        "figures": {"200": "1550.00", "221": "250.00", "235": "350.00", "289": "600.00", "299": "950.00"},
        "rates": [{"rate": "8.10", "taxable_chf": "950.00", "vat_chf": "76.95"}],
        "vat_total_chf": "76.95",
    }
    text = runner.invoke(args=["reports", "vat", "--entity", "pieced", "--quarter", "2026-Q4"])
    assert text.exit_code == 0 and "299  Taxable turnover" in text.output and "950.00" in text.output


@pytest.mark.parametrize("args,message", [
    (["--entity", "nope", "--quarter", "2026-Q4"], "no billing entity with code 'nope'"),
    (["--entity", "pieced", "--quarter", "2026-13"], "YYYY-Qn"),
])
def test_bad_arguments_exit_2_with_one_line(session, runner, args, message):
    result = runner.invoke(args=["reports", "vat", *args])
    assert result.exit_code == 2 and message in result.output
