"""An org's credit balance used twice at once, on PostgreSQL: it is spent once.

Credit that sits on the org itself (a payment assigned to the org, not to an
invoice) has no invoice row to lock; every consumer takes the org's billing
lock first (`ledger.lock_org_credit`), the one billing runs hold per org.
- four bank refunds of the whole credit at once: one is recorded, three are told the credit is gone;
- a refund racing the invoice that applies the credit: whichever comes first takes it, never both.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.issuing import BillingInputError
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, Invoice, Payment
from pieced_admin.payments import ledger
from pieced_admin.payments.refunds import refund_credit

from ..factories import make_org
from .conftest import issue_last_month, make_card_org
from .test_races import _race

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
D = Decimal


def _org_credit(org_id: str, amount: str) -> None:
    """CHF `amount` to the org's own credit (a bank payment assigned to the org, no invoice)."""
    ledger.record(amount=D(amount), booked_on=date(2026, 11, 10), method="bank_transfer", source="manual",
                  source_id=ledger.new_source_id("test-credit"), org_id=org_id, kind="assignment",
                  note="payment without an invoice, kept as the org's credit")


def _refunds(org_id: str) -> list[Decimal]:
    return list(db.session.execute(
        sa.select(Payment.amount_chf).where(Payment.zitadel_org_id == org_id, Payment.kind == "refund")).scalars())


def test_four_refunds_of_the_whole_credit_at_once_refund_it_once(fresh_db):
    with fresh_db.app.app_context():
        make_org("org-pool")
        _org_credit("org-pool", "50.00")
        db.session.commit()

    results = _race(fresh_db.app, *[lambda: refund_credit("org-pool", D("50.00"), method="bank_transfer",
                                                          reference="ZKB-OUT")] * 4)

    refused = [r for r in results if isinstance(r, BillingInputError)]
    done = [r for r in results if isinstance(r, list)]
    assert (len(done), len(refused)) == (1, 3), results
    assert all("has CHF 0.00 to its credit" in str(r) for r in refused), refused
    with fresh_db.app.app_context():
        assert _refunds("org-pool") == [D("-50.00")]                     # 50.00 refunded once
        assert ledger.org_credit_chf("org-pool") == D("0.00")           # 50.00 - 50.00, never -150.00
        assert db.session.execute(sa.select(sa.func.count()).select_from(AuditLog)
                                  .filter_by(action="org.credit_refunded")).scalar_one() == 1


@pytest.mark.parametrize("attempt", range(4))
def test_a_refund_racing_the_invoice_that_applies_the_credit_never_spends_it_twice(fresh_db, attempt):
    org_id = f"org-credit-race-{attempt}"
    with fresh_db.app.app_context():
        make_card_org(org_id, pay_by_invoice=True)   # last month: 49.00 + 3.97 VAT = 52.97
        _org_credit(org_id, "50.00")
        db.session.commit()

    results = _race(fresh_db.app, lambda: issue_last_month(org_id),
                    lambda: refund_credit(org_id, D("50.00"), method="bank_transfer", reference="ZKB-OUT"))

    assert not any(isinstance(r, tuple) and r[0] == "crash" for r in results), results
    with fresh_db.app.app_context():
        invoice = db.session.execute(sa.select(Invoice).filter_by(zitadel_org_id=org_id)).scalar_one()
        refunded = -sum(_refunds(org_id), D("0.00"))
        if isinstance(results[1], BillingInputError):
            # The invoice came first: it took the 50.00 (52.97 - 50.00 = 2.97 to pay), nothing to refund.
            assert (invoice.credit_applied_chf, refunded) == (D("50.00"), D("0.00"))
            assert ledger.balance_of(invoice).balance == D("2.97")
        else:
            # The refund came first: the invoice found no credit and asks for all of 52.97.
            assert (invoice.credit_applied_chf, refunded) == (D("0.00"), D("50.00"))
            assert ledger.balance_of(invoice).balance == D("52.97")
        # Either way the 50.00 went exactly once, and what the invoice prints is what the ledger moved.
        assert invoice.credit_applied_chf + refunded == D("50.00")
        assert ledger.org_credit_chf(org_id) == D("0.00")
