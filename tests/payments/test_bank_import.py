"""Importing bank files: the guideline-built fixture set gives exactly the expected ledger and invoices.

Invoices PC-2026-0101 … 0108, each net 100.00 + 8.10 % VAT = 108.10, one org each, issued 03.11.2026.
Day 1 (camt.054 .08): 0101 QRR and 0102 SCOR paid exactly, 0103–0105 in one batch, 0106 pays 100 of
108.10 (8.10 due), 0107 pays 120.00 (11.90 to its org's credit), 42.00 with a reference not ours, a
debit and a pending entry. Day 2 (camt.054 .04): day 1's 0101 credit reversed, 0106's 8.10, and a
returned outgoing payment of 25.00.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, Invoice, Payment
from pieced_admin.payments import ledger
from pieced_admin.payments.bank_import import BankFileError, import_bank_file

from ..factories import make_org
from ..invoices.support import make_invoice

CAMT = Path(__file__).parent / "camt"
DAY1, DAY2, STATEMENT = "qr-day1-camt054-v08.xml", "qr-day2-camt054-v04.xml", "statement-day1-camt053-v08.xml"


@pytest.fixture
def invoices(session):
    made = {}
    for n in range(101, 109):
        number = f"PC-2026-{n:04d}"
        made[number] = make_invoice(make_org(f"org-bank-{n}"), number=number, issued=date(2026, 11, 3))
    session.commit()
    return made


def run(name: str, **kw):
    with clock.pinned("2026-11-18"):
        result = import_bank_file((CAMT / name).read_bytes(), name, **kw)
        db.session.commit()
    return result


def ledger_rows():
    return db.session.execute(sa.select(Payment.source_id, Payment.amount_chf, Payment.kind, Payment.invoice_id)
                              .order_by(Payment.id)).all()


def state(invoices):
    db.session.expire_all()
    out = {}
    for number, inv in invoices.items():
        inv = db.session.get(Invoice, inv.id)
        out[number] = (inv.status, ledger.balance_of(inv).balance)
    return out


def unmatched():
    return [(p.amount_chf, p.reference, p.kind) for p in db.session.execute(
        sa.select(Payment).where(Payment.invoice_id.is_(None), Payment.zitadel_org_id.is_(None))
        .order_by(Payment.id)).scalars()]


D = Decimal
PAID = ("paid", D("0.00"))
OPEN = ("issued", D("108.10"))


def test_day1_then_again_then_its_statement_then_day2(session, invoices):
    first = run(DAY1)
    assert first.as_json() == {
        "file": DAY1, "entries": 10, "matched": 5, "partial": 1, "overpaid": 1, "unmatched": 1, "reversed": 0,
        "duplicates": 0, "ignored": 2,
        "payments": [
            {"reference": f"2000000000025122026000010{tail}", "amount_chf": amount, "booked_on": "2026-11-16",
             "invoice": invoice, "result": result}
            for tail, amount, invoice, result in [
                ("16", "108.10", "PC-2026-0101", "matched")]
        ] + [{"reference": "RF65PC20260102", "amount_chf": "108.10", "booked_on": "2026-11-16",
              "invoice": "PC-2026-0102", "result": "matched"}] + [
            {"reference": f"2000000000025122026000010{tail}", "amount_chf": amount, "booked_on": "2026-11-16",
             "invoice": invoice, "result": result}
            for tail, amount, invoice, result in [
                ("32", "108.10", "PC-2026-0103", "matched"), ("48", "108.10", "PC-2026-0104", "matched"),
                ("53", "108.10", "PC-2026-0105", "matched"), ("69", "100.00", "PC-2026-0106", "partial"),
                ("77", "120.00", "PC-2026-0107", "overpaid")]
        ] + [{"reference": "210000000003139471430009017", "amount_chf": "42.00", "booked_on": "2026-11-16",
              "invoice": None, "result": "unmatched"}],
    }
    assert state(invoices) == {
        "PC-2026-0101": PAID, "PC-2026-0102": PAID, "PC-2026-0103": PAID, "PC-2026-0104": PAID,
        "PC-2026-0105": PAID, "PC-2026-0106": ("issued", D("8.10")),     # 108.10 - 100.00
        "PC-2026-0107": ("paid", D("-11.90")),                          # 108.10 - 120.00
        "PC-2026-0108": OPEN,                                           # its payment is still pending
    }
    paid_on = db.session.get(Invoice, invoices["PC-2026-0101"].id).paid_at.astimezone(ledger._zone()).date()
    assert paid_on == date(2026, 11, 16)  # the booking day, not the day of the import
    assert ledger.org_credits() == {"org-bank-107": D("11.90")}
    assert unmatched() == [(D("42.00"), "210000000003139471430009017", "payment")]
    recorded = ledger_rows()
    assert len(recorded) == 8

    again = run(DAY1)
    assert (again.count("duplicate"), again.count("ignored"), again.recorded) == (8, 2, 0)
    statement = run(STATEMENT)
    assert statement.as_json()["entries"] == 4
    assert (statement.count("duplicate"), statement.count("ignored"), statement.recorded) == (2, 2, 0)
    assert ledger_rows() == recorded  # nothing new

    second = run(DAY2)
    assert [(line.result, line.invoice, str(line.amount_chf)) for line in second.lines] == [
        ("reversed", "PC-2026-0101", "-108.10"), ("matched", "PC-2026-0106", "8.10"), ("unmatched", None, "25.00")]
    after = state(invoices)
    assert after["PC-2026-0101"] == OPEN           # reopened: the money went back
    assert after["PC-2026-0106"] == PAID
    inv106 = db.session.get(Invoice, invoices["PC-2026-0106"].id)
    assert inv106.paid_at.astimezone(ledger._zone()).date() == date(2026, 11, 17)  # the completing payment's day
    assert unmatched() == [(D("42.00"), "210000000003139471430009017", "payment"), (D("25.00"), None, "payment")]
    actions = db.session.execute(sa.select(AuditLog.action).where(AuditLog.object_id == "PC-2026-0101")
                                 .order_by(AuditLog.id)).scalars().all()
    assert actions == ["invoice.payment_recorded", "invoice.reopened", "invoice.payment_reversed"]
    assert run(DAY2).recorded == 0


def test_the_statement_first_then_the_notification_records_each_payment_once(session, invoices):
    run(STATEMENT)   # the QRR credit and the partial payment; the batch waits for its camt.054
    assert len(ledger_rows()) == 2
    result = run(DAY1)
    assert (result.count("duplicate"), result.recorded) == (2, 6)
    assert len(ledger_rows()) == 8


def test_a_dry_run_reports_the_import_and_records_nothing(session, invoices):
    dry = run(DAY1, dry_run=True)
    assert (dry.count("matched"), dry.count("partial"), dry.count("overpaid")) == (5, 1, 1)
    assert ledger_rows() == []
    assert state(invoices)["PC-2026-0101"] == OPEN
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditLog)).scalar_one() == 0


@pytest.mark.parametrize("name", ["truncated-camt054.xml", "pain001-not-a-statement.xml"])
def test_a_truncated_or_foreign_file_is_refused_and_nothing_recorded(session, invoices, name):
    with pytest.raises(BankFileError):
        run(name)
    assert ledger_rows() == []


def test_bank_import_cli_prints_the_spec_json_and_refuses_bad_files(session, invoices, runner):
    with clock.pinned("2026-11-18"):
        result = runner.invoke(args=["bank", "import", str(CAMT / DAY1), "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.output)
        assert list(body) == ["file", "entries", "matched", "partial", "overpaid", "unmatched", "reversed",
                              "duplicates", "ignored", "payments"]
        assert {k: v for k, v in body.items() if k != "payments"} == {
            "file": DAY1, "entries": 10, "matched": 5, "partial": 1, "overpaid": 1, "unmatched": 1, "reversed": 0,
            "duplicates": 0, "ignored": 2}
        assert all(list(p) == ["reference", "amount_chf", "booked_on", "invoice", "result"] for p in body["payments"])
        text = runner.invoke(args=["bank", "import", str(CAMT / DAY1), "--dry-run"])
        assert text.exit_code == 0 and text.output.strip().endswith("0 would be recorded — 8 already recorded, "
                                                                    "2 ignored (debits, not booked, or detailed in a camt.054)")
        bad = runner.invoke(args=["bank", "import", str(CAMT / "pain001-not-a-statement.xml")])
        assert bad.exit_code == 2
        assert bad.output.strip() == ("Error: pain001-not-a-statement.xml: this is a pain.001.001.09 file, not a "
                                      "camt.054 or camt.053 (versions .04 to .08); nothing was recorded")
        missing = runner.invoke(args=["bank", "import", "/nonexistent.xml"])
        assert missing.exit_code == 2 and "cannot read" in missing.output
    assert len(ledger_rows()) == 8
