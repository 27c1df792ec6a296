"""The payments ledger: partial payments, paid when covered, credit balances, append-only, the carried data.

Invoice of the tests: net 100.00 at 8.10 % -> VAT 8.10, total 108.10, issued 03.11.2026.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import BillingInputError, mark_paid, void_invoice
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, Payment
from pieced_admin.models.guards import ImmutableError
from pieced_admin.payments import ledger

from ..factories import make_org
from ..invoices.support import make_invoice


def _audit(number):
    return db.session.execute(sa.select(AuditLog.action).where(AuditLog.object_id == number)
                              .order_by(AuditLog.id)).scalars().all()


@pytest.fixture
def invoice(session):
    with clock.pinned("2026-11-20"):
        yield make_invoice(make_org("org-ledger"), issued=date(2026, 11, 3))


def test_a_part_payment_leaves_the_balance_and_the_rest_pays_it(session, invoice):
    with clock.pinned("2026-11-20"):
        mark_paid(invoice.number, amount=Decimal("100.00"), paid_on=date(2026, 11, 10), reference="ZKB-1")
        part = ledger.balance_of(invoice)
        assert (invoice.status, part.paid, part.balance, part.partly_paid) == (
            "issued", Decimal("100.00"), Decimal("8.10"), True)   # 108.10 - 100.00
        mark_paid(invoice.number, paid_on=date(2026, 11, 12), reference="ZKB-2")  # the balance: 8.10
        assert invoice.status == "paid"
        assert invoice.paid_at.astimezone(ledger._zone()).date() == date(2026, 11, 12)
        assert invoice.payment_reference == "ZKB-2"
        rows = ledger.ledger_for(invoice)
        assert [(r.amount_chf, r.booked_on, r.source) for r in rows] == [
            (Decimal("100.00"), date(2026, 11, 10), "manual"), (Decimal("8.10"), date(2026, 11, 12), "manual")]
        assert ledger.balance_of(invoice).balance == Decimal("0.00")
        assert _audit(invoice.number) == ["invoice.mark_paid", "invoice.mark_paid"]
        with pytest.raises(BillingInputError, match="already paid"):
            mark_paid(invoice.number)


def test_an_overpayment_pays_the_invoice_and_leaves_a_credit_balance(session, invoice):
    with clock.pinned("2026-11-20"):
        mark_paid(invoice.number, amount=Decimal("120.00"))
        assert invoice.status == "paid"
        assert ledger.balance_of(invoice).credit == Decimal("11.90")   # 120.00 - 108.10
        assert ledger.org_credit_chf("org-ledger") == Decimal("11.90")
        assert ledger.org_credits() == {"org-ledger": Decimal("11.90")}


@pytest.mark.parametrize("amount, message", [("0", "must be positive"), ("-5", "must be positive"),
                                             ("1.005", "francs and Rappen")])
def test_impossible_amounts_are_refused(session, invoice, amount, message):
    with clock.pinned("2026-11-20"), pytest.raises(BillingInputError, match=message):
        mark_paid(invoice.number, amount=Decimal(amount))
    assert session.execute(sa.select(sa.func.count()).select_from(Payment)).scalar_one() == 0


def test_a_partly_paid_invoice_is_not_voided(session, invoice):
    with clock.pinned("2026-11-20"):
        mark_paid(invoice.number, amount=Decimal("50.00"))
        with pytest.raises(BillingInputError, match="partly paid"):
            void_invoice(invoice.number, "wrong org")
        assert invoice.status == "issued"


def test_ledger_rows_never_change(session, invoice, backend):
    with clock.pinned("2026-11-20"):
        mark_paid(invoice.number, amount=Decimal("50.00"))
    row = session.execute(sa.select(Payment)).scalar_one()
    row.amount_chf = Decimal("60.00")
    with pytest.raises(ImmutableError):
        session.flush()
    session.rollback()
    if backend == "postgresql":  # the database refuses plain SQL too
        with clock.pinned("2026-11-20"):
            inv = make_invoice(make_org("org-ledger-2"), issued=date(2026, 11, 3))
            mark_paid(inv.number, amount=Decimal("50.00"))
        with pytest.raises(sa.exc.DBAPIError, match="never changed or deleted"):
            with session.begin_nested():
                session.execute(sa.text("UPDATE payments SET amount_chf = 1"))
        with pytest.raises(sa.exc.DBAPIError, match="never changed or deleted"):
            with session.begin_nested():
                session.execute(sa.text("DELETE FROM payments"))


def test_mark_paid_amount_through_the_cli(session, runner, invoice):
    session.commit()
    with clock.pinned("2026-11-20"):
        part = runner.invoke(args=["billing", "mark-paid", invoice.number, "--amount", "100.00",
                                   "--paid-on", "2026-11-10"])
        assert part.exit_code == 0, part.output
        assert part.output.strip() == f"Recorded CHF 100.00 on {invoice.number}: partly paid, balance due CHF 8.10"
        rest = runner.invoke(args=["billing", "mark-paid", invoice.number])
        assert rest.exit_code == 0, rest.output
        assert rest.output.strip() == f"Marked {invoice.number} paid (CHF 108.10)"
        bad = runner.invoke(args=["billing", "mark-paid", invoice.number, "--amount", "lots"])
        assert bad.exit_code == 2 and "--amount must be an amount" in bad.output
        again = runner.invoke(args=["billing", "mark-paid", invoice.number, "--amount", "1"])
        assert again.exit_code == 2 and "already paid" in again.output
    session.expire_all()
    assert session.execute(sa.select(sa.func.sum(Payment.amount_chf))).scalar_one() == Decimal("108.10")


def test_the_migration_carries_paid_invoices_into_the_ledger(fresh_db):
    """Downgrade below the ledger, pay an invoice the old way, upgrade: the ledger says what the invoice said."""
    from flask_migrate import downgrade, upgrade

    with fresh_db.app.app_context():
        with clock.pinned("2026-11-20"):
            paid = make_invoice(make_org("org-old"), issued=date(2026, 11, 3), status="paid",
                                paid_on=date(2026, 11, 9), payment_reference="OLD-1")
            open_ = make_invoice("org-old", issued=date(2026, 10, 3), period=Period(2026, 9))
        paid_id, open_id = paid.id, open_.id
        db.session.commit()
        db.session.remove()
        downgrade(revision="0001")   # the ledger (and the test's own row for the paid invoice) is gone
        upgrade()
        db.session.remove()
        rows = db.session.execute(sa.select(Payment)).scalars().all()
        assert [(r.invoice_id, r.amount_chf, r.booked_on, r.reference, r.source, r.method) for r in rows] == [
            (paid_id, Decimal("108.10"), date(2026, 11, 9), "OLD-1", "manual", "bank_transfer")]
        balances = ledger.balances_of([paid_id, open_id])
        assert (balances[paid_id].balance, balances[open_id].balance) == (Decimal("0.00"), Decimal("108.10"))
        db.session.remove()
