"""The dashboard and the invoice list cost the same number of SQL statements at 10× the rows."""

from __future__ import annotations

from datetime import timedelta

from decimal import Decimal

from pieced_admin.billing.days import Period
from pieced_admin.extensions import db
from pieced_admin.models import Payment
from pieced_admin.billing.issuing import local_today

from ..factories import make_entity, make_org
from ..invoices.support import make_invoice
from ..sqlcount import count_statements

PAGES = ("/", "/invoices", "/invoices?status=overdue&sort=org&dir=asc", "/invoices?q=org&page=2", "/invoices.csv",
         "/invoices?status=partly_paid", "/invoices?status=credit")


def _populate(first: int, count: int, entity) -> None:
    """`count` orgs, each with a paid, an overdue, an open and a void invoice; every third pays by card
    without a card (and its charge failed), every fifth has no billing e-mail."""
    today = local_today()
    for n in range(first, first + count):
        org = make_org(f"org-{n:03d}", pay_by_invoice=n % 3 != 0, billing_email=None if n % 5 == 0 else "a@b.example")
        make_invoice(org, period=Period(2026, 1), status="paid", issued=today - timedelta(days=200))
        overdue = make_invoice(org, period=Period(2026, 2), issued=today - timedelta(days=100),
                               due=today - timedelta(days=70), charge_status="failed" if n % 3 == 0 else None,
                               entity=entity if n % 2 else None)
        if n % 4 == 0:  # part paid, and every eighth org paid more than owed on top
            db.session.add(Payment(invoice_id=overdue.id, zitadel_org_id=org.zitadel_org_id, amount_chf=Decimal("50.00"),
                                   booked_on=today, source="manual", source_id=f"stmt-part-{n}"))
        if n % 8 == 0:
            db.session.add(Payment(invoice_id=overdue.id, zitadel_org_id=org.zitadel_org_id, amount_chf=Decimal("70.00"),
                                   booked_on=today, source="manual", source_id=f"stmt-over-{n}"))
        make_invoice(org, period=Period(2026, 3), issued=today - timedelta(days=3))
        make_invoice(org, period=Period(2026, 4), status="void", issued=today - timedelta(days=20))


def _statements(client) -> dict[str, int]:
    counts = {}
    for url in PAGES:
        assert client.get(url).status_code == 200  # warm: the first request of a session may read more
        with count_statements() as counter:
            resp = client.get(url)
            resp.get_data()  # the CSV is streamed: count its statements too
        counts[url] = counter.count
    return counts


def test_statement_counts_do_not_grow_with_rows(finance_client, session):
    other = make_entity("pieced-services", prefix="PS")
    _populate(0, 3, other)        # 3 orgs, 12 invoices
    small = _statements(finance_client)
    _populate(3, 27, other)       # 30 orgs, 120 invoices (more than one page of 50)
    big = _statements(finance_client)
    assert big == small, {url: (small[url], big[url]) for url in PAGES}
    # The dashboard: its figures and attention lists, including late usage (hardening), unmatched
    # payments and credit balances (the ledger): a fixed number, whatever the rows.
    assert small["/"] <= 18 and small["/invoices"] <= 6, small
