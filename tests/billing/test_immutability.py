"""An issued invoice never changes: the application refuses on both databases, PostgreSQL's triggers too."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices, mark_paid
from pieced_admin.models import Invoice, InvoiceLine, TenantSkillEvent
from pieced_admin.models.guards import ImmutableError

from ..factories import spec_example, zurich


@pytest.fixture
def invoice(session):
    spec_example()
    (inv,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=None).issued
    session.flush()
    return inv


@pytest.mark.parametrize("field,value", [
    ("number", "PC-2026-0099"),
    ("zitadel_org_id", "org-other"),
    ("period_start", date(2026, 9, 1)),
    ("period_end", date(2026, 9, 30)),
    ("net_chf", Decimal("1.00")),
    ("vat_rate", Decimal("7.70")),
    ("vat_chf", Decimal("0.00")),
    ("total_chf", Decimal("1.00")),
    ("currency", "EUR"),
    ("issued_at", zurich(2026, 11, 1)),
    ("due_date", date(2027, 1, 1)),
    ("customer_snapshot", {"name": "someone else"}),
])
def test_the_application_refuses_changes_to_an_issued_invoice(session, invoice, field, value):
    setattr(invoice, field, value)
    with pytest.raises(ImmutableError, match=f"its {field} cannot change"):
        session.flush()
    session.rollback()


def test_the_pdf_hash_is_set_once_and_never_changed(session, invoice):
    invoice.pdf_sha256 = "a" * 64  # an invoice issued without a PDF may get one, once
    session.flush()
    invoice.pdf_sha256 = "b" * 64
    with pytest.raises(ImmutableError, match="pdf_sha256"):
        session.flush()
    session.rollback()


def test_lines_are_never_changed(session, invoice):
    invoice.lines[0].amount_chf = Decimal("0.01")
    with pytest.raises(ImmutableError, match="invoice_lines rows are never changed"):
        session.flush()
    session.rollback()


def test_lines_are_never_deleted(session, invoice):
    line = session.execute(sa.select(InvoiceLine)).scalars().first()
    session.delete(line)
    with pytest.raises(ImmutableError, match="never deleted"):
        session.flush()
    session.rollback()


def test_invoices_are_never_deleted(session, invoice):
    session.delete(invoice)
    with pytest.raises(ImmutableError, match="cannot be deleted"):
        session.flush()
    session.rollback()


def test_bulk_statements_are_refused_too(session, invoice):
    with pytest.raises(ImmutableError, match="cannot change net_chf"):
        session.execute(sa.update(Invoice).where(Invoice.id == invoice.id).values(net_chf=Decimal("1")))
    with pytest.raises(ImmutableError):
        session.execute(sa.delete(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    with pytest.raises(ImmutableError):
        session.execute(sa.update(TenantSkillEvent).values(skill_id="x"))


def test_status_changes_only_forward(session, invoice):
    mark_paid(invoice.number, now=zurich(2026, 11, 20))
    invoice.status = "issued"
    with pytest.raises(ImmutableError, match="from paid to issued: its payments cover it"):
        session.flush()
    session.rollback()


def test_payment_fields_and_stripe_id_may_change(session, invoice):
    invoice.stripe_payment_intent_id = "pi_123"
    invoice.charge_status = "pending"
    session.flush()
    mark_paid(invoice.number, reference="R", now=zurich(2026, 11, 20))
    session.flush()
    assert invoice.status == "paid"


# --------------------------------------------------------------------------- PostgreSQL triggers


def _refused(session, sql: str, **params) -> str:
    """Run raw SQL (bypassing the application) inside a savepoint; return the database's refusal."""
    with pytest.raises(sa.exc.DBAPIError) as info:
        with session.begin_nested():
            session.execute(sa.text(sql), params)
    return str(info.value.orig)


@pytest.mark.postgres
@pytest.mark.parametrize("assignment", [
    "number = 'X-1'", "zitadel_org_id = 'org-x'", "billing_entity_id = billing_entity_id + 1",
    "period_start = DATE '2026-09-01'", "period_end = DATE '2026-09-30'", "net_chf = 1", "vat_rate = 0",
    "vat_chf = 0", "total_chf = 1", "currency = 'EUR'", "issued_at = now()", "due_date = DATE '2030-01-01'",
])
def test_postgres_refuses_changes_to_issued_fields(session, invoice, assignment):
    message = _refused(session, f"UPDATE invoices SET {assignment} WHERE id = :id", id=invoice.id)
    assert "is issued" in message


@pytest.mark.postgres
def test_postgres_refuses_line_and_invoice_deletes_and_line_updates(session, invoice):
    assert "never changed or deleted" in _refused(session, "UPDATE invoice_lines SET amount_chf = 0")
    assert "never changed or deleted" in _refused(session, "DELETE FROM invoice_lines")
    assert "cannot be deleted" in _refused(session, "DELETE FROM invoices WHERE id = :id", id=invoice.id)


@pytest.mark.postgres
def test_postgres_allows_payment_and_refuses_going_back(session, invoice):
    with session.begin_nested():
        session.execute(sa.text(
            "UPDATE invoices SET status = 'paid', paid_at = now(), payment_reference = 'R', "
            "stripe_payment_intent_id = 'pi_1' WHERE id = :id"), {"id": invoice.id})
    assert "cannot go from paid to void" in _refused(
        session, "UPDATE invoices SET status = 'void' WHERE id = :id", id=invoice.id)


@pytest.mark.postgres
def test_postgres_keeps_the_pdf_hash_once_set(session, invoice):
    with session.begin_nested():
        session.execute(sa.text("UPDATE invoices SET pdf_sha256 = :h WHERE id = :id"), {"h": "a" * 64, "id": invoice.id})
    assert "is issued" in _refused(session, "UPDATE invoices SET pdf_sha256 = :h WHERE id = :id", h="b" * 64,
                                   id=invoice.id)


@pytest.mark.postgres
def test_postgres_keeps_the_event_log_append_only(session, invoice):
    for table in ("tenant_skill_events", "tenant_suspension_events", "tenant_usage"):
        assert "never changed or deleted" in _refused(session, f"DELETE FROM {table}")
        assert "never changed or deleted" in _refused(session, f"UPDATE {table} SET tenant_name = tenant_name")
