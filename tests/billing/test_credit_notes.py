"""Credit notes (SPEC §3): full, by amount, by lines; never more than the invoice; exact remaining VAT;
numbering; immutability; the PDF read back; `billing credit --json` exactly as SPEC §5; void issues one."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pieced_admin.billing.credit_notes import (
    CreditNoteError,
    balance_chf,
    credit_notes_of,
    credited_totals,
    issue_credit_note,
    plan_credit,
)
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import BillingInputError, issue_invoices, mark_paid, void_invoice
from pieced_admin.models import AuditLog, CreditNote, CreditNoteDocument
from pieced_admin.models.guards import ImmutableError

from ..factories import make_org, make_tenant, spec_example, zurich
from ..pdf_tools import pdf_text

OCT = Period(2026, 10)
NOV_3 = zurich(2026, 11, 3, 9, 30)
NOV_10 = zurich(2026, 11, 10, 14, 0)


def fake_pdf(invoices):
    return [f"%PDF-1.4 {inv.number} {inv.total_chf}".encode() for inv in invoices]


@pytest.fixture
def invoice(session):
    # The worked example without LiteLLM: 99.00 + 28.45 + 1.80 + 6.17 = 135.42 net,
    # VAT round(135.42 × 8.1 / 100 = 10.96902) = 10.97, total 146.39.
    spec_example()
    (inv,) = issue_invoices("org-acme", OCT, now=NOV_3, render_pdfs=fake_pdf).issued
    session.commit()
    assert (inv.net_chf, inv.vat_chf, inv.total_chf) == (D("135.42"), D("10.97"), D("146.39"))
    return inv


def test_full_credit_credits_exactly_what_remains(session, invoice):
    note = issue_credit_note(invoice.number, "Service not delivered", now=NOV_10, render_pdf=False)
    session.commit()
    assert note.number == "PC-CN-2026-0001"
    assert (note.net_chf, note.vat_rate, note.vat_chf, note.total_chf) == (D("135.42"), D("8.10"), D("10.97"),
                                                                           D("146.39"))
    assert balance_chf(invoice) == D("0.00")
    assert session.execute(sa.select(AuditLog.object_id).where(AuditLog.action == "credit_note.issue")
                           ).scalars().all() == [invoice.number]


def test_partial_by_amount_then_the_rest_leaves_exactly_zero(session, invoice):
    # 10.00 net: VAT round(10 × 8.1 / 100 = 0.81) = 0.81, total 10.81.
    first = issue_credit_note(invoice.number, "Goodwill", amount=D("10.00"), now=NOV_10, render_pdf=False)
    assert (first.net_chf, first.vat_chf, first.total_chf) == (D("10.00"), D("0.81"), D("10.81"))
    # 0.05 net: VAT round(0.00405) = 0.00.
    second = issue_credit_note(invoice.number, "Rounding", amount=D("0.05"), now=NOV_10, render_pdf=False)
    assert (second.vat_chf, second.total_chf) == (D("0.00"), D("0.05"))
    # What remains: net 135.42 − 10.05 = 125.37, VAT 10.97 − 0.81 = 10.16 (not round(125.37 × 0.081) = 10.15).
    rest = issue_credit_note(invoice.number, "Cancel the rest", now=NOV_10, render_pdf=False)
    assert (rest.net_chf, rest.vat_chf, rest.total_chf) == (D("125.37"), D("10.16"), D("135.53"))
    totals = credited_totals([invoice.id])[invoice.id]
    assert (totals.net_chf, totals.vat_chf, totals.total_chf, totals.count) == (D("135.42"), D("10.97"),
                                                                                D("146.39"), 3)
    assert [n.number for n in credit_notes_of(invoice)] == ["PC-CN-2026-0001", "PC-CN-2026-0002", "PC-CN-2026-0003"]


def test_partial_by_lines(session, invoice):
    # The Threema line (6.17) and the skill line (1.80): 7.97 net, VAT round(0.64557) = 0.65.
    lines = {l.kind: l for l in invoice.lines}
    note = issue_credit_note(invoice.number, "Threema and skill billed by mistake",
                             line_ids=[lines["threema"].id, lines["skill"].id], now=NOV_10, render_pdf=False)
    assert [(l.invoice_line_id, l.amount_chf) for l in note.lines] == [(lines["threema"].id, D("6.17")),
                                                                      (lines["skill"].id, D("1.80"))]
    assert (note.net_chf, note.vat_chf, note.total_chf) == (D("7.97"), D("0.65"), D("8.62"))
    assert balance_chf(invoice) == D("137.77")  # 146.39 − 8.62
    with pytest.raises(CreditNoteError, match="credited already"):
        issue_credit_note(invoice.number, "again", line_ids=[lines["threema"].id], render_pdf=False)


def test_credits_never_exceed_the_invoice(session, invoice):
    issue_credit_note(invoice.number, "Most of it", amount=D("135.00"), render_pdf=False)
    with pytest.raises(CreditNoteError, match="exceeds what remains to credit on the invoice \\(0.42\\)"):
        issue_credit_note(invoice.number, "Too much", amount=D("0.43"), render_pdf=False)
    issue_credit_note(invoice.number, "The rest", render_pdf=False)
    with pytest.raises(CreditNoteError, match="nothing remains"):
        issue_credit_note(invoice.number, "More", render_pdf=False)
    assert credited_totals([invoice.id])[invoice.id].net_chf == invoice.net_chf


def test_a_reason_is_required_and_bad_amounts_are_refused(session, invoice):
    with pytest.raises(CreditNoteError, match="reason"):
        issue_credit_note(invoice.number, "  ", render_pdf=False)
    with pytest.raises(CreditNoteError, match="more than 0.00"):
        plan_credit(invoice_net=D("10"), invoice_vat=D("0.81"), vat_rate=D("8.1"), credited_net=D("0"),
                    credited_vat=D("0"), lines=[(None, "x", D("0"))], texts={})


def test_a_credit_note_on_a_paid_invoice_is_recorded(session, invoice):
    mark_paid(invoice.number, paid_on=NOV_10.date(), now=NOV_10)
    note = issue_credit_note(invoice.number, "Refund goodwill", amount=D("20.00"), now=NOV_10, render_pdf=False)
    session.commit()
    assert invoice.status == "paid"
    assert balance_chf(invoice) == D("-21.62")  # the org has credit: 20.00 + VAT 1.62
    assert note.total_chf == D("21.62")


def test_an_issued_credit_note_cannot_change(session, invoice):
    note = issue_credit_note(invoice.number, "Goodwill", amount=D("5.00"), render_pdf=False)
    session.commit()
    note.net_chf = D("1.00")
    with pytest.raises(ImmutableError):
        session.flush()
    session.rollback()


@pytest.mark.postgres
def test_the_database_refuses_to_update_or_delete_an_issued_credit_note(session, invoice):
    # The PostgreSQL triggers (SQLite is guarded by the application: the test above).
    note = issue_credit_note(invoice.number, "Goodwill", amount=D("5.00"), render_pdf=False)
    session.commit()
    for sql in ("UPDATE credit_notes SET net_chf = 1 WHERE id = :id", "DELETE FROM credit_notes WHERE id = :id",
                "UPDATE credit_note_lines SET amount_chf = 1 WHERE credit_note_id = :id"):
        with pytest.raises(sa.exc.DBAPIError, match="never changed or deleted"):
            with session.begin_nested():
                session.execute(sa.text(sql), {"id": note.id})


def test_void_issues_the_cancellation_credit_note_in_the_same_transaction(session, invoice):
    issue_credit_note(invoice.number, "Goodwill", amount=D("10.00"), render_pdf=False)
    void_invoice(invoice.number, "Wrong address", now=NOV_10, render_pdf=False)
    session.commit()
    notes = credit_notes_of(invoice)
    assert [(n.kind, n.net_chf, n.vat_chf) for n in notes] == [("amount", D("10.00"), D("0.81")),
                                                               ("void", D("125.42"), D("10.16"))]
    assert invoice.status == "void" and balance_chf(invoice) == D("0.00")
    with pytest.raises(BillingInputError, match="already void"):
        void_invoice(invoice.number, "again", render_pdf=False)


def test_a_paid_invoice_is_credited_not_voided(session, invoice):
    mark_paid(invoice.number, paid_on=NOV_10.date(), now=NOV_10)
    with pytest.raises(BillingInputError, match="credit it instead"):
        void_invoice(invoice.number, "Wrong", render_pdf=False)
    assert session.execute(sa.select(sa.func.count()).select_from(CreditNote)).scalar_one() == 0


def test_pdf_in_english_and_german_carries_the_original_the_reason_and_the_amounts(session, invoice):
    note = issue_credit_note(invoice.number, "Threema billed twice", amount=D("6.17"), now=NOV_10)
    session.commit()
    doc = session.get(CreditNoteDocument, note.id)
    import hashlib

    assert hashlib.sha256(doc.content).hexdigest() == note.pdf_sha256
    text = pdf_text(doc.content)
    # 6.17 net, VAT round(0.49977) = 0.50, total 6.67; the original's number and date.
    for expected in ("Credit note PC-CN-2026-0001", "PC-2026-0001", "03.11.2026", "Threema billed twice",
                     "-6.17", "-0.50", "-6.67", "VAT 8.1 %", "Acme AG"):
        assert expected in text, (expected, text)

    # A German org's credit note (the language is the invoice's).
    make_org("org-de", language="de")
    make_tenant("de-main", "org-de", zurich(2026, 9, 1))
    (de_invoice,) = issue_invoices("org-de", OCT, now=NOV_3, render_pdfs=fake_pdf).issued
    de_note = issue_credit_note(de_invoice.number, "Kulanz", now=NOV_10)
    de_text = pdf_text(session.get(CreditNoteDocument, de_note.id).content)
    assert "Gutschrift PC-CN-2026-0002" in de_text and "Kulanz" in de_text and de_invoice.number in de_text
    assert "MWST 8.1 %" in de_text


def test_billing_credit_json_is_exactly_the_spec_shape(runner, session, invoice):
    result = runner.invoke(args=["billing", "credit", invoice.number, "--reason", "Goodwill", "--amount", "10.00",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "credit_note": {
            "number": "PC-CN-2026-0001", "invoice": "PC-2026-0001", "reason": "Goodwill",
            "net_chf": "10.00", "vat_rate": "8.10", "vat_chf": "0.81", "total_chf": "10.81",
            "lines": [{"invoice_line_id": None, "description": "Credit on invoice PC-2026-0001",
                       "amount_chf": "10.00"}],
        },
        # 146.39 − 10.81 = 135.58
        "invoice": {"number": "PC-2026-0001", "status": "issued", "balance_chf": "135.58"},
    }


@pytest.mark.parametrize("args, message", [
    (["PC-2026-9999", "--reason", "x"], "unknown invoice number 'PC-2026-9999'"),
    (["PC-2026-0001", "--reason", "x", "--amount", "ten"], "the amount must be a number"),
    (["PC-2026-0001", "--reason", "x", "--amount", "1.234"], "at most two decimals"),
    (["PC-2026-0001", "--reason", "x", "--amount", "999.00"], "exceeds what remains"),
    (["PC-2026-0001", "--reason", " "], "a reason is required"),
])
def test_bad_credit_input_is_one_line_exit_2_and_writes_nothing(runner, session, invoice, args, message):
    result = runner.invoke(args=["billing", "credit", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert session.execute(sa.select(sa.func.count()).select_from(CreditNote)).scalar_one() == 0


# --------------------------------------------------------------------------- properties

cents = st.integers(min_value=1, max_value=2_000_000).map(lambda c: D(c).scaleb(-2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(net=cents, rate=st.sampled_from([D("8.10"), D("2.60"), D("3.80"), D("0")]),
       parts=st.lists(st.integers(min_value=1, max_value=10_000), max_size=8))
def test_odd_partial_credits_then_the_rest_leave_exactly_zero(net, rate, parts):
    # Invoice VAT as issuing computes it; then partial credits (each at most what remains), then the rest.
    from pieced_admin.billing.money import q2

    vat = q2(net * rate / 100)
    credited_net, credited_vat = D("0.00"), D("0.00")
    for part in parts:
        amount = min(D(part).scaleb(-2), net - credited_net)
        if amount <= 0 or amount == net - credited_net:
            break
        plan = plan_credit(invoice_net=net, invoice_vat=vat, vat_rate=rate, credited_net=credited_net,
                           credited_vat=credited_vat, lines=[(None, "part", amount)], texts={})
        assert D("0") <= plan.vat_chf <= vat - credited_vat  # never more VAT than the invoice has left
        credited_net += plan.net_chf
        credited_vat += plan.vat_chf
        assert credited_net < net
    rest = plan_credit(invoice_net=net, invoice_vat=vat, vat_rate=rate, credited_net=credited_net,
                       credited_vat=credited_vat, lines=[(None, "rest", net - credited_net)], texts={})
    assert rest.closes
    assert (rest.remaining_net_after, rest.remaining_vat_after) == (D("0.00"), D("0.00"))
    assert credited_net + rest.net_chf == net and credited_vat + rest.vat_chf == vat


@settings(max_examples=200, deadline=None)
@given(net=cents, credited=st.integers(min_value=0, max_value=2_000_000), extra=st.integers(min_value=1, max_value=500))
def test_a_credit_beyond_what_remains_is_always_refused(net, credited, extra):
    credited_net = min(D(credited).scaleb(-2), net)
    too_much = net - credited_net + D(extra).scaleb(-2)
    with pytest.raises(CreditNoteError, match="exceeds"):
        plan_credit(invoice_net=net, invoice_vat=D("0"), vat_rate=D("0"), credited_net=credited_net,
                    credited_vat=D("0"), lines=[(None, "x", too_much)], texts={})
