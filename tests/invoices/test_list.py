"""The invoice list: each filter, overdue derived from the due date, sorting, pages, totals of the filtered set."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import local_today
from pieced_admin.invoices.services import InvoiceQuery, invoice_totals, list_invoices

from ..factories import make_entity, make_org, zurich
from .support import make_invoice

TODAY = date(2026, 11, 21)
HTMX = {"HX-Request": "true"}


def numbers(query: InvoiceQuery, today: date = TODAY, per_page: int = 50) -> list[str]:
    return [row.invoice.number for row in list_invoices(query, today, per_page=per_page).rows]


@pytest.fixture
def book(session):
    """Six invoices around 21.11.2026, one of each state the list tells apart."""
    acme, berg = make_org("org-acme", display_name="Acme AG"), make_org("org-berg", display_name="Bergbahn AG")
    other = make_entity("pieced-services", prefix="PS", name="PieCed Services GmbH")
    return {
        # due yesterday: 1 day overdue
        "overdue1": make_invoice(acme, number="PC-2026-0001", due=date(2026, 11, 20), net="100.00"),
        # due today: not overdue yet
        "due_today": make_invoice(berg, number="PC-2026-0002", due=date(2026, 11, 21), net="200.00"),
        "not_due": make_invoice(acme, number="PS-2026-0001", entity=other, period=Period(2026, 9),
                                issued=date(2026, 11, 1), due=date(2026, 12, 1), net="300.00"),
        "paid": make_invoice(berg, number="PC-2026-0003", period=Period(2026, 9), issued=date(2026, 10, 2),
                             due=date(2026, 11, 1), status="paid", paid_on=date(2026, 10, 20), net="400.00"),
        "void": make_invoice(acme, number="PC-2026-0004", period=Period(2026, 8), issued=date(2026, 9, 2),
                             status="void", net="500.00"),
        # due 1.9.2026: 30 (Sep) + 31 (Oct) + 20 (Nov) = 81 days overdue
        "overdue81": make_invoice(berg, number="PC-2026-0005", period=Period(2026, 7), issued=date(2026, 8, 2),
                                  due=date(2026, 9, 1), net="50.00", vat_rate="0.00"),
    }


def test_status_filters_derive_overdue_from_the_due_date(book):
    assert numbers(InvoiceQuery(status="overdue", sort="number", dir="asc")) == ["PC-2026-0001", "PC-2026-0005"]
    assert numbers(InvoiceQuery(status="not_due", sort="number", dir="asc")) == ["PC-2026-0002", "PS-2026-0001"]
    assert numbers(InvoiceQuery(status="issued", sort="number", dir="asc")) == [
        "PC-2026-0001", "PC-2026-0002", "PC-2026-0005", "PS-2026-0001"]
    assert numbers(InvoiceQuery(status="paid")) == ["PC-2026-0003"]
    assert numbers(InvoiceQuery(status="void")) == ["PC-2026-0004"]
    # The day after, the invoice due "today" is overdue too.
    assert "PC-2026-0002" in numbers(InvoiceQuery(status="overdue"), today=TODAY + timedelta(days=1))


def test_days_overdue_filters(book):
    assert numbers(InvoiceQuery(aging="1-30")) == ["PC-2026-0001"]
    assert numbers(InvoiceQuery(aging="31-60")) == []
    assert numbers(InvoiceQuery(aging="61+")) == ["PC-2026-0005"]
    rows = {r.invoice.number: r.days_overdue for r in list_invoices(InvoiceQuery(status="overdue"), TODAY).rows}
    assert rows == {"PC-2026-0001": 1, "PC-2026-0005": 81}


def test_entity_org_period_issued_month_and_search_filters(book):
    assert numbers(InvoiceQuery(entity="pieced-services")) == ["PS-2026-0001"]
    assert numbers(InvoiceQuery(entity="no-such-entity")) == []
    assert numbers(InvoiceQuery(org="org-berg", sort="number", dir="asc")) == ["PC-2026-0002", "PC-2026-0003",
                                                                               "PC-2026-0005"]
    assert numbers(InvoiceQuery(period="2026-09", sort="number", dir="asc")) == ["PC-2026-0003", "PS-2026-0001"]
    # issued in November (local): the two October invoices (issued 3.11.) and PS-2026-0001 (1.11.)
    assert numbers(InvoiceQuery(issued="2026-11", sort="number", dir="asc")) == [
        "PC-2026-0001", "PC-2026-0002", "PS-2026-0001"]
    assert numbers(InvoiceQuery(q="0003")) == ["PC-2026-0003"]
    assert numbers(InvoiceQuery(q="ps-2026")) == ["PS-2026-0001"]          # case does not matter
    assert numbers(InvoiceQuery(q="bergbahn", status="overdue")) == ["PC-2026-0005"]  # org name, with a status
    assert numbers(InvoiceQuery(q="100%")) == []                             # % is a character, not a wildcard


def test_issued_month_is_the_local_month(session):
    org = make_org("org-acme")
    # 31.10.2026 23:30 in Zurich is 22:30 UTC on the 31st; 1.11. 00:30 local is 23:30 UTC on 31.10.
    make_invoice(org, number="PC-2026-0010", period=Period(2026, 9), issued=zurich(2026, 10, 31, 23, 30))
    make_invoice(org, number="PC-2026-0011", issued=zurich(2026, 11, 1, 0, 30))
    assert numbers(InvoiceQuery(issued="2026-10")) == ["PC-2026-0010"]
    assert numbers(InvoiceQuery(issued="2026-11")) == ["PC-2026-0011"]


@pytest.mark.parametrize("sort,direction,expected", [
    ("number", "asc", ["PC-2026-0001", "PC-2026-0002", "PC-2026-0003", "PC-2026-0004", "PC-2026-0005", "PS-2026-0001"]),
    ("number", "desc", ["PS-2026-0001", "PC-2026-0005", "PC-2026-0004", "PC-2026-0003", "PC-2026-0002", "PC-2026-0001"]),
    # issued 2.8., 2.9., 2.10., 1.11., 3.11. (two: the later id first when descending)
    ("issued", "desc", ["PC-2026-0002", "PC-2026-0001", "PS-2026-0001", "PC-2026-0003", "PC-2026-0004", "PC-2026-0005"]),
    ("due", "asc", ["PC-2026-0005", "PC-2026-0004", "PC-2026-0003", "PC-2026-0001", "PC-2026-0002", "PS-2026-0001"]),
    # Acme AG before Bergbahn AG; ties by id
    ("org", "asc", ["PC-2026-0001", "PS-2026-0001", "PC-2026-0004", "PC-2026-0002", "PC-2026-0003", "PC-2026-0005"]),
    # totals 54.05 (50 + 8.10 % of 0), 108.10, 216.20, 324.30, 432.40, 540.50
    ("total", "desc", ["PC-2026-0004", "PC-2026-0003", "PS-2026-0001", "PC-2026-0002", "PC-2026-0001", "PC-2026-0005"]),
])
def test_sorting(book, sort, direction, expected):
    assert numbers(InvoiceQuery(sort=sort, dir=direction)) == expected


def test_pages_of_two(book):
    query = InvoiceQuery(sort="number", dir="asc")
    page = list_invoices(InvoiceQuery(sort="number", dir="asc", page=2), TODAY, per_page=2)
    assert (page.page, page.pages, page.first_index, page.last_index) == (2, 3, 3, 4)
    assert [r.invoice.number for r in page.rows] == ["PC-2026-0003", "PC-2026-0004"]
    # a page past the end shows the last one
    assert list_invoices(InvoiceQuery(sort="number", dir="asc", page=99), TODAY, per_page=2).page == 3
    # the totals are those of every page, not of the one shown
    assert page.totals == invoice_totals(query, TODAY)
    assert page.totals.rows == 6


def test_totals_of_the_filtered_set(book):
    totals = invoice_totals(InvoiceQuery(), TODAY)
    # Not void: nets 100 + 200 + 300 + 400 + 50 = 1050.00
    # VAT 8.10 %: 8.10 + 16.20 + 24.30 + 32.40, and 0 on the 50 = 81.00; total 1131.00
    # Outstanding (issued): 108.10 + 216.20 + 324.30 + 50.00 = 698.60; overdue: 108.10 + 50.00 = 158.10
    # Void, apart: 500 + 40.50 = 540.50
    assert (totals.rows, totals.count, totals.void_count) == (6, 5, 1)
    assert (totals.net, totals.vat, totals.total) == (Decimal("1050.00"), Decimal("81.00"), Decimal("1131.00"))
    assert (totals.outstanding, totals.overdue) == (Decimal("698.60"), Decimal("158.10"))
    assert totals.void_total == Decimal("540.50")

    berg = invoice_totals(InvoiceQuery(org="org-berg"), TODAY)
    # 216.20 + 432.40 + 50.00 = 698.60 total; outstanding 216.20 + 50.00
    assert (berg.count, berg.total, berg.outstanding) == (3, Decimal("698.60"), Decimal("266.20"))


# --------------------------------------------------------------------------- through the page


def test_the_page_lists_filters_and_sums(finance_client, session):
    today = local_today()
    org = make_org("org-acme", display_name="Acme Treuhand AG")
    make_invoice(org, number="PC-2026-0101", issued=today - timedelta(days=40), due=today - timedelta(days=10),
                 net="1000.00")
    make_invoice(org, number="PC-2026-0102", period=Period(2026, 9), issued=today - timedelta(days=5),
                 due=today + timedelta(days=25), net="10.00")
    html = finance_client.get("/invoices?status=overdue").get_data(as_text=True)
    assert "PC-2026-0101" in html and "PC-2026-0102" not in html
    assert "10 days overdue" in html
    assert "1’081.00" in html  # 1000 + 8.10 % VAT, with the Swiss apostrophe
    assert 'id="invoice-filter"' in html and "<html" in html


def test_htmx_gets_only_the_table_and_history_restore_the_page(finance_client, session):
    make_invoice(make_org("org-acme"), number="PC-2026-0201")
    part = finance_client.get("/invoices?q=0201", headers=HTMX).get_data(as_text=True)
    assert part.lstrip().startswith("<section id=\"invoice-table\"") and "<html" not in part
    assert "PC-2026-0201" in part
    restore = finance_client.get("/invoices?q=0201", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_a_bad_filter_is_named_and_ignored(finance_client, session):
    make_invoice(make_org("org-acme"), number="PC-2026-0301")
    resp = finance_client.get("/invoices?period=October&sort=nonsense&page=x")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Use a month like 2026-10." in html
    assert "PC-2026-0301" in html


def test_empty_states_say_what_to_do(finance_client, session):
    html = finance_client.get("/invoices").get_data(as_text=True)
    assert "No invoices yet — issue one from an org" in html
    make_invoice(make_org("org-acme"), number="PC-2026-0401")
    html = finance_client.get("/invoices?status=void").get_data(as_text=True)
    assert "No invoices match these filters." in html


def test_sort_links_flip_direction_and_pages_keep_the_filter(finance_client, session):
    org = make_org("org-acme")
    for n in range(3):
        make_invoice(org, number=f"PC-2026-05{n:02d}", period=Period(2026, 6 + n))
    html = finance_client.get("/invoices?status=issued&sort=number&dir=asc").get_data(as_text=True)
    assert "/invoices?status=issued&amp;sort=number&amp;dir=desc" in html
    assert 'href="/invoices.csv?status=issued&amp;sort=number&amp;dir=asc"' in html


def _pay(invoice, amount: str, n: int) -> None:
    from pieced_admin.extensions import db
    from pieced_admin.models import Payment

    db.session.add(Payment(invoice_id=invoice.id, zitadel_org_id=invoice.zitadel_org_id, amount_chf=Decimal(amount),
                           booked_on=date(2026, 11, 10), source="manual", source_id=f"list-test-{n}"))
    db.session.flush()


def test_balances_partly_paid_and_credit_filters(book):
    _pay(book["overdue1"], "50.00", 1)          # 108.10 - 50.00 = 58.10 still due
    _pay(book["paid"], "10.00", 2)               # paid 432.40 + 10.00: 10.00 to the org's credit
    assert numbers(InvoiceQuery(status="partly_paid")) == ["PC-2026-0001"]
    assert numbers(InvoiceQuery(status="credit")) == ["PC-2026-0003"]
    rows = {r.invoice.number: r for r in list_invoices(InvoiceQuery(), TODAY).rows}
    assert (rows["PC-2026-0001"].balance, rows["PC-2026-0001"].partly_paid) == (Decimal("58.10"), True)
    assert rows["PC-2026-0003"].balance == Decimal("-10.00")
    assert rows["PC-2026-0002"].balance == Decimal("216.20")
    # Outstanding sums the balances due: 58.10 + 216.20 + 324.30 + 50.00
    assert invoice_totals(InvoiceQuery(), TODAY).outstanding == Decimal("648.60")
    assert invoice_totals(InvoiceQuery(status="overdue"), TODAY).overdue == Decimal("108.10")  # 58.10 + 50.00


def test_the_page_shows_the_balance_column_and_badges(finance_client, session, book):
    _pay(book["overdue1"], "50.00", 3)
    session.commit()
    page = finance_client.get("/invoices?status=partly_paid").get_data(as_text=True)
    assert '<th scope="col" class="num">Balance</th>' in page
    assert "PC-2026-0001" in page and "PC-2026-0002" not in page
    assert "badge-partly-paid" in page and "58.10" in page
