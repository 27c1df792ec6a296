"""`pieced-admin billing verify`: issued invoices recomputed from the log; stored PDFs checked."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices

from ..factories import make_entity, set_pricing, spec_example, threema_messages, zurich


def fake_pdf(invoices):
    """A stand-in PDF renderer passed to issuing (speeds these tests; the PDF itself is tested elsewhere)."""
    return [f"%PDF-1.4 {inv.number} {inv.total_chf}".encode() for inv in invoices]


@pytest.fixture
def issued(session):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    session.commit()
    return invoice


def verify(runner, *args):
    result = runner.invoke(args=["billing", "verify", *args])
    return result.exit_code, result.output.strip().splitlines()


def test_an_untouched_invoice_matches(runner, issued):
    code, lines = verify(runner, "--month", "2026-10")
    assert code == 0
    assert lines[-1] == "Checked 1 invoice(s): 1 match, 0 differ."


def test_a_late_event_is_reported(runner, session, issued):
    # Six more October messages arrive after the invoice was issued:
    # 1,240 × 0.005 = 6.20 instead of 1,234 × 0.005 = 6.17.
    threema_messages("acme-main", 6, zurich(2026, 10, 30, 12), prefix="late")
    session.commit()
    code, lines = verify(runner)
    assert code == 1
    assert "PC-2026-0001 (org-acme 2026-10): acme-main threema: quantity 1234 → 1240" in lines
    assert "PC-2026-0001 (org-acme 2026-10): acme-main threema: amount 6.17 → 6.20" in lines
    assert lines[-1] == "Checked 1 invoice(s): 0 match, 1 differ."


def test_a_price_version_for_a_later_month_is_not_a_difference(runner, session, issued):
    from pieced_admin.billing.prices import schedule_version

    schedule_version(Period(2026, 12), {"tenant_monthly_fee_chf": D("59.00"), "threema_message_chf": D("0.01")},
                     {"searxng-local-search": D("0.20")})
    session.commit()
    code, lines = verify(runner)
    assert code == 0, lines


def test_a_change_of_the_base_rows_is_a_difference(runner, session, issued):
    # An operator's explicit act (SPEC §3): October has no version, so it now costs
    # 59 × 18 / 31 = 34.258… → 34.26 instead of 28.45.
    set_pricing(tenant_monthly_fee_chf="59.00")
    session.commit()
    code, lines = verify(runner)
    assert code == 1
    assert "PC-2026-0001 (org-acme 2026-10): acme-main monthly_fee: amount 28.45 → 34.26" in lines


def test_a_tenant_moved_after_issue_is_still_billed_where_it_was(runner, session, issued):
    # Its October is on PC-2026-0001 (SPEC §3, billed once): the move changes nothing already issued.
    from pieced_admin.models import TenantLifecycle

    other = make_entity("other", prefix="OT")
    session.execute(sa.update(TenantLifecycle).values(billing_entity_id=other.id))
    session.commit()
    code, lines = verify(runner)
    assert code == 0, lines


def test_a_changed_stored_pdf_is_caught(runner, session, issued, backend):
    if backend == "postgresql":
        # Only someone who switches the guard off can change a stored PDF.
        session.execute(sa.text("ALTER TABLE invoice_documents DISABLE TRIGGER invoice_documents_immutable"))
    session.execute(sa.text("UPDATE invoice_documents SET content = :c"), {"c": b"%PDF-1.4 tampered"})
    session.commit()
    code, lines = verify(runner)
    assert code == 1
    assert "PC-2026-0001 (org-acme 2026-10): stored PDF does not match its recorded SHA-256" in lines


def test_void_invoices_are_not_checked_but_their_cancellation_is(runner, session, issued):
    from pieced_admin.billing.issuing import void_invoice

    void_invoice(issued.number, "test")
    session.commit()
    code, lines = verify(runner)
    assert (code, lines) == (0, ["Checked 1 credit note(s): 1 match, 0 differ.",
                                 "Checked 0 invoice(s): 0 match, 0 differ."])


def test_credit_notes_are_checked_like_invoices(runner, session, issued, backend):
    from pieced_admin.billing.credit_notes import issue_credit_note

    note = issue_credit_note(issued.number, "Goodwill", amount=D("10.00"), now=zurich(2026, 11, 10))
    session.commit()
    code, lines = verify(runner)
    assert code == 0, lines
    assert "Checked 1 credit note(s): 1 match, 0 differ." in lines
    if backend == "postgresql":
        session.execute(sa.text("ALTER TABLE credit_note_documents DISABLE TRIGGER credit_note_documents_immutable"))
    session.execute(sa.text("UPDATE credit_note_documents SET content = :c"), {"c": b"%PDF-1.4 tampered"})
    session.commit()
    code, lines = verify(runner)
    assert code == 1
    assert f"{note.number} (org-acme 2026-10): stored PDF does not match its recorded SHA-256" in lines
