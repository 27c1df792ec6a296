"""State changes of one invoice racing on PostgreSQL: they serialise on the invoice row.

- 8 processes mark the same invoice paid at once: one payment row, one audit row, 7 "already paid";
- finance marks paid while Stripe's signed `payment_intent.succeeded` arrives (20 times): either one
  payment (finance told "already paid"), or both recorded with the org's credit balance flagged;
- a void races a mark-paid: exactly one wins, the other is told, nobody gets an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pieced_admin.billing.issuing import BillingInputError, mark_paid, void_invoice
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, ChargeAttempt, Invoice, Payment
from pieced_admin.payments import ledger
from pieced_admin.payments.webhooks import handle_webhook

from ..factories import make_org
from ..invoices.support import make_invoice
from .conftest import WEBHOOK_SECRET, event, signed

PIECED = str(Path(sys.executable).parent / "pieced-admin")
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _count(model, *where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def _race(app, *jobs):
    """Run each job in its own thread, app context and session, released together; their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = job()
                db.session.commit()
            except BillingInputError as exc:
                db.session.rollback()
                results[i] = exc
            except Exception as exc:  # noqa: BLE001 - a crash is what the test is looking for
                db.session.rollback()
                results[i] = ("crash", repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_eight_processes_mark_one_invoice_paid_once(fresh_db):
    with fresh_db.app.app_context():
        invoice = make_invoice(make_org("org-race"), issued=date(2026, 11, 3))
        number = invoice.number
        db.session.commit()
    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "development", "PIECED_NOW": "2026-11-15"}
    procs = [subprocess.Popen([PIECED, "billing", "mark-paid", number, "--reference", f"R-{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0] + [2] * 7, outputs
    refusals = [err for p, (_out, err) in zip(procs, outputs) if p.returncode == 2]
    assert all("already paid" in err and err.count("\n") == 1 for err in refusals), refusals
    with fresh_db.app.app_context():
        inv = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
        rows = db.session.execute(sa.select(Payment).filter_by(invoice_id=inv.id)).scalars().all()
        audits = db.session.execute(sa.select(AuditLog).filter_by(action="invoice.mark_paid",
                                                                  object_id=number)).scalars().all()
        assert len(rows) == 1 and len(audits) == 1
        assert rows[0].amount_chf == Decimal("108.10")
        # The stored reference, the ledger and the audit row tell the same story.
        assert inv.payment_reference == rows[0].reference == audits[0].after["reference"]
        db.session.remove()


def _card_invoice(n: int) -> tuple[str, str]:
    org = make_org(f"org-card-race-{n}", pay_by_invoice=False)
    pi_id = f"pi_race_{n}"
    invoice = make_invoice(org, issued=date(2026, 11, 3), charge_status="processing", stripe_payment_intent_id=pi_id)
    db.session.add(ChargeAttempt(invoice_id=invoice.id, attempt=1, idempotency_key=f"pieced-invoice-{invoice.id}-attempt-1",
                                 stripe_payment_intent_id=pi_id, amount_minor=10810, status="processing"))
    db.session.commit()
    return invoice.number, pi_id


def test_mark_paid_racing_the_stripe_webhook_never_loses_money(fresh_db):
    app = fresh_db.app
    app.config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    outcomes = {"finance first": 0, "webhook first": 0}
    for n in range(20):
        with app.app_context():
            number, pi_id = _card_invoice(n)
            db.session.remove()
        body, header = signed(event("payment_intent.succeeded", {
            "id": pi_id, "object": "payment_intent", "amount": 10810, "amount_received": 10810,
            "currency": "chf", "status": "succeeded"}))

        def webhook():
            result = handle_webhook(body, header)
            assert result.status == 200, result.body
            return result.body["outcome"]

        finance, stripe_said = _race(app, lambda: mark_paid(number, reference="ZKB-77"), webhook)
        assert not isinstance(stripe_said, (tuple, BillingInputError)), stripe_said
        assert not isinstance(finance, tuple), finance
        with app.app_context():
            inv = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
            rows = db.session.execute(sa.select(Payment).filter_by(invoice_id=inv.id)
                                      .order_by(Payment.id)).scalars().all()
            assert inv.status == "paid"
            if isinstance(finance, BillingInputError):  # the card payment came first
                assert "already paid" in str(finance)
                assert [(r.method, r.amount_chf) for r in rows] == [("card", Decimal("108.10"))]
                assert ledger.org_credit_chf(inv.zitadel_org_id) == Decimal("0.00")
                outcomes["webhook first"] += 1
            else:  # both arrived: both recorded, the org has 108.10 to its credit and finance is told
                assert sorted((r.method, r.amount_chf) for r in rows) == [
                    ("bank_transfer", Decimal("108.10")), ("card", Decimal("108.10"))]
                assert ledger.org_credit_chf(inv.zitadel_org_id) == Decimal("108.10")
                assert _count(AuditLog, AuditLog.action == "invoice.charge_collected_twice",
                              AuditLog.object_id == number) == 1
                assert "credit balance" in stripe_said
                outcomes["finance first"] += 1
            db.session.remove()
    assert sum(outcomes.values()) == 20, outcomes


def test_void_racing_mark_paid_has_exactly_one_winner(fresh_db):
    app = fresh_db.app
    for n in range(10):
        with app.app_context():
            number = make_invoice(make_org(f"org-void-race-{n}"), issued=date(2026, 11, 3)).number
            db.session.commit()
            db.session.remove()
        paid, voided = _race(app, lambda: mark_paid(number), lambda: void_invoice(number, "issued in error"))
        assert not isinstance(paid, tuple) and not isinstance(voided, tuple), (paid, voided)
        assert isinstance(paid, BillingInputError) != isinstance(voided, BillingInputError), (paid, voided)
        with app.app_context():
            inv = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
            audits = db.session.execute(sa.select(AuditLog.action).filter_by(object_id=number)).scalars().all()
            payments = _count(Payment, Payment.invoice_id == inv.id)
            if isinstance(voided, BillingInputError):
                assert "is paid and cannot be voided" in str(voided)
                assert (inv.status, payments, audits) == ("paid", 1, ["invoice.mark_paid"])
            else:
                assert "already void" in str(paid)
                # A void is its cancellation credit note (SPEC §3): one audit row each, once.
                assert (inv.status, payments, sorted(audits)) == ("void", 0, ["credit_note.issue", "invoice.void"])
            db.session.remove()


def test_void_racing_mark_paid_through_the_pages_never_answers_500(fresh_db, oidc_provider):
    """The same race as above through HTTP: two people, two browsers; one 302, one 422 with the reason."""
    from ..conftest import login_as
    from ..orgs.support import Poster

    app = fresh_db.app
    finance, admin = app.test_client(), app.test_client()
    login_as(finance, "finance", oidc_provider)
    login_as(admin, "admin", oidc_provider)
    pay, void = Poster(finance), Poster(admin)
    for n in range(5):
        with app.app_context():
            number = make_invoice(make_org(f"org-http-race-{n}"), issued=date(2026, 11, 3)).number
            db.session.commit()
            db.session.remove()
        barrier = threading.Barrier(2)
        answers = {}

        def send(name, poster, url, data):
            barrier.wait()
            answers[name] = poster(url, data).status_code

        threads = [
            threading.Thread(target=send, args=("paid", pay, f"/invoices/{number}/mark-paid",
                                                {"paid_on": "2026-11-20", "method": "bank_transfer"})),
            threading.Thread(target=send, args=("void", void, f"/invoices/{number}/void", {"reason": "duplicate"})),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(answers.values()) == [302, 422], answers
        with app.app_context():
            inv = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
            audits = db.session.execute(sa.select(AuditLog.action).filter_by(object_id=number)).scalars().all()
            assert (inv.status, sorted(audits)) in (("paid", ["invoice.mark_paid"]),
                                                    ("void", ["credit_note.issue", "invoice.void"]))
            db.session.remove()
