"""The org list: every org (configured or only seen on tenants), search, filters, open balances, pages."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import BillingEntity

from .support import make_invoice, make_org, make_tenant, text

CREATED = datetime(2026, 9, 1, 8, tzinfo=timezone.utc)


def _names(page: str) -> list[str]:
    """The org names in the list, in order."""
    body = page.split('id="org-list"', 1)[1]
    return re.findall(r'<a href="/orgs/[^"]+">([^<]+)</a>', body)


@pytest.fixture
def orgs(session):
    other = BillingEntity(code="pieced-services", name="PieCed Services GmbH", invoice_prefix="PS")
    session.add(other)
    session.flush()
    make_org(session, "org-acme", display_name="Acme Treuhand AG", country="CH", auto_invoice_enabled=True,
             auto_reminders_enabled=True)
    make_org(session, "org-isar", display_name="Isar Robotics GmbH", country="DE", pay_by_invoice=False,
             billing_entity_id=other.id)
    make_org(session, "org-alpen", display_name="Alpenbank Vaduz AG", country="LI", auto_invoice_enabled=True)
    # an org known only from its tenant: no billing config yet
    make_tenant(session, "zeta-main", "org-zeta", CREATED)
    make_tenant(session, "acme-main", "org-acme", CREATED)
    make_tenant(session, "acme-old", "org-acme", CREATED, deleted_at=datetime(2026, 9, 20, tzinfo=timezone.utc))
    # Acme owes 100.00 + 23.45 = 123.45; its paid (500) and void (77) invoices owe nothing.
    make_invoice(session, "org-acme", "PC-2026-0001", "100.00")
    make_invoice(session, "org-acme", "PC-2026-0002", "23.45", month=9)
    make_invoice(session, "org-acme", "PC-2026-0003", "500.00", status="paid", month=8)
    make_invoice(session, "org-acme", "PC-2026-0004", "77.00", status="void", month=7)
    make_invoice(session, "org-isar", "PS-2026-0001", "1234.50", entity_id=other.id)
    return other


def test_lists_configured_orgs_and_orgs_only_seen_on_tenants(admin_client, orgs):
    page = text(admin_client.get("/orgs"))
    assert _names(page) == ["Acme Treuhand AG", "Alpenbank Vaduz AG", "Isar Robotics GmbH", "org-zeta"]
    assert "not configured" in page  # org-zeta has the defaults until someone edits it
    assert "4 orgs" in page


def test_open_balance_sums_issued_unpaid_invoices(admin_client, orgs):
    page = text(admin_client.get("/orgs"))
    row = lambda name: page.split(name, 1)[1].split("</tr>", 1)[0]  # noqa: E731
    assert "123.45" in row("Acme Treuhand AG")  # 100.00 + 23.45; paid 500 and void 77 left out
    assert "(2)" in row("Acme Treuhand AG")
    assert "1’234.50" in row("Isar Robotics GmbH")  # Swiss grouping
    assert "0.00" in row("Alpenbank Vaduz AG")
    assert ">1</td>" in row("Acme Treuhand AG")  # one live tenant (acme-old is deleted)


FILTERS = [
    ("q=acme", ["Acme Treuhand AG"]),
    ("q=ORG-ISAR", ["Isar Robotics GmbH"]),  # by id, any case
    ("q=zeta", ["org-zeta"]),
    ("q=%25", []),  # a literal percent sign matches nothing
    ("country=DE", ["Isar Robotics GmbH"]),
    ("country=CH", ["Acme Treuhand AG", "org-zeta"]),  # an unconfigured org defaults to CH
    ("payment=card", ["Isar Robotics GmbH"]),
    ("payment=invoice", ["Acme Treuhand AG", "Alpenbank Vaduz AG", "org-zeta"]),
    ("auto_invoice=yes", ["Acme Treuhand AG", "Alpenbank Vaduz AG"]),
    ("auto_invoice=no", ["Isar Robotics GmbH", "org-zeta"]),
    ("auto_reminders=yes", ["Acme Treuhand AG"]),
    ("auto_reminders=yes&country=DE", []),
]


def test_search_and_filters(admin_client, orgs):
    for query, expected in FILTERS:
        page = text(admin_client.get(f"/orgs?{query}"))
        assert _names(page) == expected, query
        if not expected:
            assert "No org matches these filters" in page


def test_entity_filter_counts_orgs_without_an_entity_as_the_default_entitys(admin_client, orgs, session):
    default_id = session.execute(sa.select(BillingEntity.id).filter_by(is_default=True)).scalar_one()
    assert _names(text(admin_client.get(f"/orgs?entity={default_id}"))) == [
        "Acme Treuhand AG", "Alpenbank Vaduz AG", "org-zeta"]
    assert _names(text(admin_client.get(f"/orgs?entity={orgs.id}"))) == ["Isar Robotics GmbH"]


def test_htmx_search_returns_only_the_list(admin_client, orgs):
    resp = admin_client.get("/orgs?q=isar", headers={"HX-Request": "true"})
    fragment = text(resp)
    assert fragment.lstrip().startswith('<section id="org-list"')
    assert "<html" not in fragment
    assert _names(fragment) == ["Isar Robotics GmbH"]


def test_bad_filter_values_are_ignored_not_an_error(admin_client, orgs):
    resp = admin_client.get("/orgs?page=abc&entity=x&payment=cash&auto_invoice=maybe")
    assert resp.status_code == 200
    assert len(_names(text(resp))) == 4


def test_pages_of_fifty(admin_client, session):
    for i in range(53):
        make_org(session, f"org-{i:03d}", display_name=f"Org {i:03d}")
    first = text(admin_client.get("/orgs"))
    assert len(_names(first)) == 50
    assert "page 1 of 2" in first
    second = text(admin_client.get("/orgs?page=2"))
    assert _names(second) == ["Org 050", "Org 051", "Org 052"]
    assert 'rel="prev"' in second
    assert _names(text(admin_client.get("/orgs?page=99"))) == ["Org 050", "Org 051", "Org 052"]


def test_empty_state_says_what_to_do(admin_client):
    page = text(admin_client.get("/orgs"))
    assert "No orgs yet" in page and "backfill" in page


def test_finance_reads_the_list(finance_client, orgs):
    resp = finance_client.get("/orgs")
    assert resp.status_code == 200
    assert len(_names(text(resp))) == 4


@contextmanager
def count_statements():
    """Count the SQL statements sent to the database inside the block."""
    statements: list[str] = []
    engine = db.engine

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def _orgs_with_invoices(session, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        org_id = f"org-n{i:03d}"
        make_org(session, org_id, display_name=f"Org n{i:03d}")
        make_tenant(session, f"tenant-n{i:03d}", org_id, CREATED)
        make_invoice(session, org_id, f"PC-2026-{i + 1:04d}", "10.00")
        make_invoice(session, org_id, f"PC-2026-{i + 1001:04d}", "5.00", month=9, status="paid")


def test_statement_count_does_not_grow_with_orgs(admin_client, session):
    _orgs_with_invoices(session, 5)
    admin_client.get("/orgs")  # warm up: the login's user row, caches
    with count_statements() as few:
        page = text(admin_client.get("/orgs"))
    assert len(_names(page)) == 5

    _orgs_with_invoices(session, 45, start=5)
    with count_statements() as many:
        page = text(admin_client.get("/orgs"))
    assert len(_names(page)) == 50
    assert "10.00" in page
    # 5 orgs or 50, each with two invoices: the same statements (entities, count, page, countries, user)
    assert len(many) == len(few), (len(few), len(many))
    assert len(many) <= 8
