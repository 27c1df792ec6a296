"""The reminders panel of the invoice page and "Send reminder now" (platform-admin and finance)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import local_today, mark_paid
from pieced_admin.models import InvoiceReminder

from ..factories import zurich
from ..peers.smtp import SmtpSink
from .data import issued_invoice

HTMX = {"HX-Request": "true"}


def csrf(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


@pytest.fixture
def sink(app):
    with SmtpSink() as server:
        app.config.update(server.config())
        yield server


def overdue_invoice():
    """September's invoice, issued 1 October 2026 and due 31 October 2026: overdue ever since."""
    invoice = issued_invoice("org-acme", period=Period(2026, 9), issued=zurich(2026, 10, 1, 6),
                             auto_reminders=False)  # by hand, a person decides: auto-reminders are not needed
    assert invoice.due_date < local_today()
    return invoice


def test_finance_sends_the_next_level_now_and_sees_it_in_the_panel(app, session, client, login, sink):
    invoice = overdue_invoice()
    login("finance")
    panel = client.get(f"/invoices/{invoice.number}/reminders").get_data(as_text=True)
    assert 'id="invoice-reminders"' in panel and "No reminder sent yet." in panel
    assert 'id="send-reminder"' in panel
    # 49.00 + 8.1 % VAT 3.97 = 52.97: the question states the amount
    assert f'hx-confirm="Send the payment reminder (level 1) for {invoice.number} of CHF 52.97 by e-mail now?"' in panel

    token = csrf(client)
    resp = client.post(f"/invoices/{invoice.number}/reminders", headers={**HTMX, "X-CSRFToken": token})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.lstrip().startswith("<section id=\"invoice-reminders\"")
    assert "Payment reminder sent to billing@org-acme.example." in html
    assert "1 · Payment reminder" in html and "billing@org-acme.example" in html and ">sent<" in html
    assert "the second reminder (level 2)" in html.lower()  # the button now offers the next level

    resp = client.post(f"/invoices/{invoice.number}/reminders", headers={**HTMX, "X-CSRFToken": token})
    assert "Second reminder sent" in resp.get_data(as_text=True)
    assert [m["Subject"].split(":")[0] for m in sink.messages] == ["Payment reminder", "Second reminder"]
    levels = session.execute(sa.select(InvoiceReminder.level, InvoiceReminder.created_by)
                             .order_by(InvoiceReminder.level)).all()
    assert [lvl for lvl, _by in levels] == [1, 2] and all(by for _l, by in levels)


def test_without_javascript_the_form_posts_and_comes_back_with_a_message(app, session, client, login, sink):
    invoice = overdue_invoice()
    login("admin")
    resp = client.post(f"/invoices/{invoice.number}/reminders", data={"csrf_token": csrf(client)})
    assert resp.status_code == 303
    assert len(sink.messages) == 1


def test_an_invoice_not_yet_overdue_or_paid_offers_no_button_and_refuses(app, session, client, login, sink):
    fresh = issued_invoice("org-fresh", issued=None)  # issued 1 November 2026, due 1 December
    if fresh.due_date < local_today():
        pytest.skip("the test clock is past December 2026")
    login("finance")
    panel = client.get(f"/invoices/{fresh.number}/reminders").get_data(as_text=True)
    assert 'id="send-reminder"' not in panel and "Not overdue yet (due 01.12.2026)." in panel
    resp = client.post(f"/invoices/{fresh.number}/reminders", headers={**HTMX, "X-CSRFToken": csrf(client)})
    assert "is not overdue yet" in resp.get_data(as_text=True)
    assert sink.messages == []

    paid = overdue_invoice()
    mark_paid(paid.number, paid_on=local_today())
    session.commit()
    panel = client.get(f"/invoices/{paid.number}/reminders").get_data(as_text=True)
    assert 'id="send-reminder"' not in panel


def test_smtp_failure_is_shown_and_left_for_the_next_try(app, session, client, login, sink):
    invoice = overdue_invoice()
    sink.fail_data(550)
    login("finance")
    html = client.post(f"/invoices/{invoice.number}/reminders",
                       headers={**HTMX, "X-CSRFToken": csrf(client)}).get_data(as_text=True)
    assert "Payment reminder not sent: SMTP server 127.0.0.1" in html and "550" in html
    assert "not sent" in html and 'id="send-reminder"' in html  # level 1 can be tried again
    row = session.execute(sa.select(InvoiceReminder)).scalar_one()
    assert (row.level, row.status, row.sent_at) == (1, "failed", None)


def test_no_role_is_refused(app, session, client, login):
    invoice = overdue_invoice()
    login("nobody")
    assert client.get(f"/invoices/{invoice.number}/reminders").status_code == 403
    assert client.post(f"/invoices/{invoice.number}/reminders").status_code == 403


def test_several_at_once_from_the_overdue_list_each_its_next_level(app, session, client, login, sink):
    first = overdue_invoice()
    second = issued_invoice("org-bern", period=Period(2026, 9), issued=zurich(2026, 10, 1, 6), auto_reminders=False)
    login("finance")
    token = csrf(client)
    resp = client.post("/reminders/send", data={"csrf_token": token, "number": [first.number, second.number, "PC-NOPE"],
                                                "next": "/invoices?status=overdue"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/invoices?status=overdue"
    page = client.get("/invoices?status=overdue").get_data(as_text=True)
    assert f"{first.number} level 1 (payment reminder) to billing@org-acme.example" in page
    assert f"{second.number} level 1 (payment reminder)" in page
    assert "PC-NOPE: nothing sent" in page
    assert len(sink.messages) == 2
    assert session.execute(sa.select(sa.func.count()).select_from(InvoiceReminder)).scalar_one() == 2


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_the_bulk_send_only_returns_to_our_own_pages(app, session, client, login, back):
    login("finance")
    resp = client.post("/reminders/send", data={"csrf_token": csrf(client), "next": back})
    assert resp.status_code == 303 and resp.headers["Location"] == "/invoices?status=overdue"
