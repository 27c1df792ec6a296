"""The finance pages of bank files: upload (the CLI's result as a table), unmatched payments assigned or not ours."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, Invoice, Payment
from pieced_admin.payments import ledger

from ..factories import make_org
from ..invoices.support import make_invoice
from ..orgs.support import Poster

CAMT = Path(__file__).parent / "camt"


def _setup(session):
    for n in range(101, 109):
        make_invoice(make_org(f"org-bank-{n}"), number=f"PC-2026-{n:04d}", issued=date(2026, 11, 3))
    session.commit()


def _upload(client, name: str, data: bytes | None = None, **form):
    poster = Poster(client)
    payload = {"file": (io.BytesIO(data if data is not None else (CAMT / name).read_bytes()), name), **form}
    return poster("/payments/import", payload, content_type="multipart/form-data")


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def test_finance_uploads_a_camt054_and_sees_the_same_counts_as_the_cli(finance_client, session):
    _setup(session)
    with clock.pinned("2026-11-18"):
        checked = _upload(finance_client, "qr-day1-camt054-v08.xml", dry_run="1")
        assert checked.status_code == 200
        assert "Checked (nothing recorded)" in _text(checked)
        assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar_one() == 0
        resp = _upload(finance_client, "qr-day1-camt054-v08.xml")
    page = _text(resp)
    assert resp.status_code == 200 and "Imported: qr-day1-camt054-v08.xml" in page
    counts = dict(re.findall(r'id="count-(\w+)"><div class="label">\w+</div><div class="value">(\d+)</div>', page))
    assert counts == {"entries": "10", "matched": "5", "partial": "1", "overpaid": "1", "unmatched": "1",
                      "reversed": "0", "duplicates": "0", "ignored": "2"}
    assert 'href="/invoices/PC-2026-0106"' in page and "partial" in page
    assert "1</strong> unmatched payment" in page
    audit = db.session.execute(sa.select(AuditLog).filter_by(action="bank.import")).scalar_one()
    assert audit.actor.startswith("finance") or "finance" in audit.actor


def test_a_foreign_or_truncated_upload_is_refused_in_one_line(finance_client, session):
    _setup(session)
    resp = _upload(finance_client, "pain001-not-a-statement.xml")
    assert resp.status_code == 422
    error = re.search(r'id="import-error">([^<]*)<', _text(resp)).group(1)
    assert error == ("pain001-not-a-statement.xml: this is a pain.001.001.09 file, not a camt.054 or camt.053 "
                     "(versions .04 to .08); nothing was recorded.")
    resp = _upload(finance_client, "cut.xml", data=(CAMT / "qr-day1-camt054-v08.xml").read_bytes()[:2500])
    assert resp.status_code == 422 and "cut short" in _text(resp)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar_one() == 0


def test_unmatched_payments_are_assigned_to_an_invoice_or_an_org_or_marked_not_ours(finance_client, session):
    _setup(session)
    with clock.pinned("2026-11-18"):
        _upload(finance_client, "qr-day1-camt054-v08.xml")   # 42.00 unmatched
        _upload(finance_client, "qr-day2-camt054-v04.xml")   # 25.00 unmatched (a return)
        page = _text(finance_client.get("/payments/unmatched"))
        ids = [int(i) for i in re.findall(r'id="payment-(\d+)"', page)]
        assert len(ids) == 2 and "Hotel Zum Stern" in page
        post = Poster(finance_client)
        # 42.00 on PC-2026-0108, which then owes 108.10 - 42.00 = 66.10; assigning it twice is refused
        done = post(f"/payments/unmatched/{ids[0]}/assign", {"invoice": "PC-2026-0108"})
        assert done.status_code == 303
        again = post(f"/payments/unmatched/{ids[0]}/assign", {"org": "org-bank-101"})
        assert again.status_code == 303
        refused = _text(finance_client.get("/payments/unmatched"))
        assert "not an unmatched payment" in refused or "already" in refused
        bad = post(f"/payments/unmatched/{ids[1]}/not-ours", {"note": ""})
        assert bad.status_code == 303
        assert "say why the payment is not ours" in _text(finance_client.get("/payments/unmatched")).lower()
        post(f"/payments/unmatched/{ids[1]}/not-ours", {"note": "returned by the bank: account closed"})
        assert "No unmatched payments" in _text(finance_client.get("/payments/unmatched"))
    inv = db.session.execute(sa.select(Invoice).filter_by(number="PC-2026-0108")).scalar_one()
    balance = ledger.balance_of(inv)
    assert (inv.status, balance.paid, balance.balance) == ("issued", Decimal("42.00"), Decimal("66.10"))
    actions = db.session.execute(sa.select(AuditLog.action).where(AuditLog.object_type == "payment")
                                 .order_by(AuditLog.id)).scalars().all()
    assert actions == ["payment.assigned", "payment.not_ours"]


def test_assigning_to_an_org_puts_it_on_the_org_credit(finance_client, session):
    _setup(session)
    with clock.pinned("2026-11-18"):
        _upload(finance_client, "qr-day1-camt054-v08.xml")
        pid = int(re.search(r'id="payment-(\d+)"', _text(finance_client.get("/payments/unmatched"))).group(1))
        Poster(finance_client)(f"/payments/unmatched/{pid}/assign", {"org": "org-bank-102", "note": "phoned"})
    assert ledger.org_credits() == {"org-bank-102": Decimal("42.00"), "org-bank-107": Decimal("11.90")}
    dash = _text(finance_client.get("/"))
    assert 'id="attention-credits"' in dash and "CHF 53.90 in all" in dash


def test_the_org_page_shows_the_credit_and_finance_records_a_bank_refund(finance_client, session):
    from pieced_admin.billing.issuing import mark_paid

    _setup(session)
    with clock.pinned("2026-11-18"):
        mark_paid("PC-2026-0101", amount=Decimal("150.00"))          # 41.90 to the org's credit
    session.commit()
    page = _text(finance_client.get("/orgs/org-bank-101"))
    assert re.search(r'id="org-credit"><div class="label">Credit balance</div><div class="value">CHF 41.90', page)
    assert 'id="org-refund"' in page
    resp = Poster(finance_client)("/orgs/org-bank-101/refund-credit",
                                  {"amount": "41.90", "method": "bank_transfer", "reference": "ZKB-OUT-1"})
    assert resp.status_code == 303
    assert ledger.org_credit_chf("org-bank-101") == Decimal("0.00")
    page = _text(finance_client.get("/orgs/org-bank-101"))
    assert "CHF 41.90 of the credit balance refunded" in page and 'id="org-refund"' not in page
    audit = db.session.execute(sa.select(AuditLog).filter_by(action="org.credit_refunded")).scalar_one()
    assert audit.after["method"] == "bank_transfer"


def test_the_invoice_page_shows_its_ledger_and_records_a_part_payment(finance_client, session):
    _setup(session)
    with clock.pinned("2026-11-18"):
        _upload(finance_client, "qr-day1-camt054-v08.xml")          # PC-2026-0106: 100.00 of 108.10
        page = _text(finance_client.get("/invoices/PC-2026-0106"))
        assert 'id="invoice-ledger"' in page and "261116CH0000PA04" not in page   # the bank's id stays internal
        assert re.search(r'id="invoice-balance">8.10<', page)
        assert "badge-partly-paid" in page and "Mark paid · CHF 8.10" in page
        resp = Poster(finance_client)("/invoices/PC-2026-0106/mark-paid",
                                      {"paid_on": "2026-11-18", "method": "bank_transfer", "amount": "5.00",
                                       "reference": "CASH"})
        assert resp.status_code == 302
        page = _text(finance_client.get("/invoices/PC-2026-0106"))
        assert "A part payment of PC-2026-0106 is recorded (18.11.2026, bank transfer); balance due CHF 3.10." in page
        assert re.search(r'id="invoice-balance">3.10<', page)
        overpaid = _text(finance_client.get("/invoices/PC-2026-0107"))
        assert 'id="invoice-credit"' in overpaid and "11.90" in overpaid
