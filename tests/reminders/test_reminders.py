"""`pieced-admin reminders send`: the right level on the right day, two PDFs, never twice, retried after SMTP fails.

The invoice of these tests: October 2026, 49.00 + VAT 3.97 = CHF 52.97, issued
1 November 2026 with 30 days' terms, so due 1 December 2026. Levels (default
REMINDER_LEVEL_DAYS 7, 21, 35): level 1 from 8 December, level 2 from
22 December, level 3 from 5 January 2027.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
import sqlalchemy as sa

from pieced_admin.billing.issuing import mark_paid, void_invoice
from pieced_admin.models import InvoiceDocument, InvoiceReminder
from pieced_admin.reminders.services import due_level

from ..peers.smtp import SmtpSink
from .data import issued_invoice

DUE = date(2026, 12, 1)


def send(runner, day: str):
    return runner.invoke(args=["reminders", "send", "--today", day])


def reminders_of(session, invoice) -> list[InvoiceReminder]:
    session.expire_all()
    return list(session.execute(
        sa.select(InvoiceReminder).where(InvoiceReminder.invoice_id == invoice.id).order_by(InvoiceReminder.level)
    ).scalars())


@pytest.fixture
def sink(app):
    with SmtpSink() as server:
        app.config.update(server.config())
        yield server


@pytest.mark.parametrize("today, days, level", [
    (date(2026, 12, 7), (7, 21, 35), None),   # due + 6
    (date(2026, 12, 8), (7, 21, 35), 1),      # due + 7
    (date(2026, 12, 21), (7, 21, 35), 1),     # due + 20
    (date(2026, 12, 22), (7, 21, 35), 2),     # due + 21
    (date(2027, 1, 5), (7, 21, 35), 3),       # due + 35
    (date(2027, 3, 1), (7, 21, 35), 3),
    (date(2026, 12, 4), (3, 10, 20), 1),      # other settings
    (date(2026, 12, 21), (3, 10, 20), 3),
])
def test_the_level_due_is_the_highest_the_dates_call_for(today, days, level):
    assert due_level(DUE, today, days) == level


def test_levels_go_out_on_their_days_with_both_pdfs_and_never_twice(app, session, runner, sink):
    invoice = issued_invoice("org-acme")
    stored = session.get(InvoiceDocument, invoice.id).content

    assert "0 sent, 0 failed (none due)" in send(runner, "2026-12-07").output  # due + 6
    first = send(runner, "2026-12-08")  # due + 7
    assert first.exit_code == 0, first.output
    assert "PC-2026-0001: payment reminder (level 1) sent to billing@org-acme.example" in first.output
    assert len(sink.messages) == 1
    assert send(runner, "2026-12-08").output.count("none due") == 1  # the same day again: nothing
    assert send(runner, "2026-12-21").exit_code == 0 and len(sink.messages) == 1
    assert "level 2" in send(runner, "2026-12-22").output
    assert "level 3" in send(runner, "2027-01-05").output
    assert "none due" in send(runner, "2027-02-01").output
    assert len(sink.messages) == 3

    rows = reminders_of(session, invoice)
    assert [(r.level, r.status, r.sent_at is not None, r.attempts) for r in rows] == [
        (1, "sent", True, 1), (2, "sent", True, 1), (3, "sent", True, 1)]
    subjects = [m["Subject"] for m in sink.messages]
    assert subjects == ["Payment reminder: invoice PC-2026-0001 – PieCed AG",
                        "Second reminder: invoice PC-2026-0001 – PieCed AG",
                        "Final reminder: invoice PC-2026-0001 – PieCed AG"]
    for row, message in zip(rows, sink.messages):
        assert row.message_id == message["Message-ID"] and row.sent_to == message["To"]
        pdfs = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert [p.get_filename() for p in pdfs] == [f"PC-2026-0001-reminder-{row.level}.pdf", "PC-2026-0001.pdf"]
        reminder_pdf, invoice_pdf = (p.get_content() for p in pdfs)
        assert invoice_pdf == stored  # the invoice as issued, byte for byte
        assert reminder_pdf == row.pdf and hashlib.sha256(reminder_pdf).hexdigest() == row.pdf_sha256
        assert reminder_pdf.startswith(b"%PDF")
        body = message.get_body(("plain",)).get_content()
        assert "52.97" in body and "01.12.2026" in body


def test_a_long_overdue_invoice_gets_the_final_reminder_only(app, session, runner, sink):
    invoice = issued_invoice("org-acme", language="de")
    result = send(runner, "2027-01-10")  # due + 40, nothing sent before
    assert result.exit_code == 0, result.output
    assert [(r.level, r.status) for r in reminders_of(session, invoice)] == [(3, "sent")]
    (message,) = sink.messages
    assert message["Subject"] == "Letzte Mahnung: Rechnung PC-2026-0001 – PieCed AG"


def test_nothing_for_paid_or_void_invoices_or_orgs_without_auto_reminders(app, session, runner, sink):
    paid = issued_invoice("org-paid")
    void = issued_invoice("org-void")
    issued_invoice("org-manual", auto_reminders=False)
    mark_paid(paid.number, paid_on=date(2026, 11, 20), now=None)
    void_invoice(void.number, "issued twice")
    session.commit()
    result = send(runner, "2027-01-10")
    assert result.exit_code == 0 and "none due" in result.output
    assert sink.messages == []
    assert session.execute(sa.select(sa.func.count()).select_from(InvoiceReminder)).scalar_one() == 0


def test_a_failed_send_stays_unsent_and_the_next_run_sends_it(app, session, runner, sink):
    invoice = issued_invoice("org-acme")
    sink.fail_data(451)
    first = send(runner, "2026-12-08")
    assert first.exit_code == 1
    assert "NOT sent" in first.output and "451" in first.output
    (row,) = reminders_of(session, invoice)
    assert (row.status, row.sent_at, row.attempts) == ("failed", None, 1)
    assert f"SMTP server 127.0.0.1:{sink.port}" in row.error

    sink.stop()  # the server is down the next day
    second = send(runner, "2026-12-09")
    assert second.exit_code == 1 and "could not be reached" in second.output
    (row,) = reminders_of(session, invoice)
    assert (row.status, row.sent_at, row.attempts) == ("failed", None, 2)

    with SmtpSink() as back:
        app.config.update(back.config())
        third = send(runner, "2026-12-10")
        assert third.exit_code == 0, third.output
        (row,) = reminders_of(session, invoice)
        assert (row.status, row.sent_at is not None, row.attempts, row.error) == ("sent", True, 3, None)
        assert len(back.messages) == 1
        assert "none due" in send(runner, "2026-12-10").output


def test_no_billing_address_is_a_failure_naming_the_org(app, session, runner, sink):
    issued_invoice("org-acme", billing_email=None)
    result = send(runner, "2026-12-08")
    assert result.exit_code == 1
    assert "org org-acme has no billing e-mail address" in result.output
    assert sink.messages == []


def test_a_bad_date_is_exit_2(runner):
    result = runner.invoke(args=["reminders", "send", "--today", "8.12.2026"])
    assert result.exit_code == 2 and "--today must be a date" in result.output


@pytest.mark.postgres
def test_two_reminder_jobs_at_once_send_each_reminder_once(fresh_db):
    import threading

    from pieced_admin.extensions import db
    from pieced_admin.reminders.services import send_due_reminders

    app = fresh_db.app
    with app.app_context():
        for org in ("org-a", "org-b"):
            issued_invoice(org)
        db.session.remove()
    with SmtpSink() as sink:
        app.config.update(sink.config())
        outcomes = []

        def job():
            with app.app_context():
                outcomes.extend(send_due_reminders(date(2026, 12, 8)).outcomes)
                db.session.remove()

        threads = [threading.Thread(target=job) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # Each (invoice, level) row is locked while its e-mail goes out: the second job finds it sent.
        assert sorted(m["To"] for m in sink.messages) == ["billing@org-a.example", "billing@org-b.example"]
        assert sorted(o.status for o in outcomes) in (["sent", "sent"], ["sent", "sent", "skipped", "skipped"],
                                                      ["sent", "sent", "skipped"])


def test_a_partly_paid_invoice_is_reminded_of_its_balance_and_its_qr_bill_asks_for_it(app, session, runner, sink):
    """52.97 issued, 30.00 received: the reminder asks for 52.97 - 30.00 = 22.97, and its QR-bill is for 22.97."""
    from decimal import Decimal

    from ..pdf_tools import decode_qr, pdf_text

    from pieced_admin import clock

    invoice = issued_invoice("org-acme")
    with clock.pinned("2026-11-25"):
        mark_paid(invoice.number, amount=Decimal("30.00"), paid_on=date(2026, 11, 20))
    session.commit()
    result = send(runner, "2026-12-08")
    assert result.exit_code == 0 and "level 1" in result.output, result.output
    (row,) = reminders_of(session, invoice)
    qr = decode_qr(row.pdf)
    assert qr["amount"] == "22.97" and qr["currency"] == "CHF"
    assert "22.97" in pdf_text(row.pdf)
    body = sink.messages[0].get_body(("plain",)).get_content()
    assert "22.97" in body
