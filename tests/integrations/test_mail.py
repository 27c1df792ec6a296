"""SMTP through the standard library's smtplib against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pieced_admin.integrations.mail import (
    Attachment,
    MailError,
    RecipientError,
    build_message,
    check_recipient,
    mail_settings,
    render_mail,
    send_mail,
    send_message,
)

from ..peers.smtp import SmtpSink, free_port

# The sink requires AUTH without TLS on purpose (a local test server); aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

CONTEXT = {
    "number": "PC-2026-0001", "customer_name": "Acme Treuhand AG", "month": "October 2026",
    "period_start": date(2026, 10, 1), "period_end": date(2026, 10, 31), "currency": "CHF",
    "total": Decimal("1234.50"), "due_date": date(2026, 12, 1), "card": False, "entity_name": "PieCed AG",
    "entity_email": "billing@pieced.ch",
}


def test_an_invoice_mail_arrives_with_text_html_and_the_pdf(app):
    with SmtpSink() as sink:
        settings = mail_settings(sink.config(MAIL_FROM="PieCed Billing <billing@pieced.ch>"))
        sent = send_mail(to="accounts@acme.ch", kind="invoice", language="en", context=CONTEXT,
                         attachments=[Attachment("PC-2026-0001.pdf", b"%PDF-1.4 test")], settings=settings)
        (message,) = sink.messages
    assert sent.to == "accounts@acme.ch"
    assert message["Message-ID"] == sent.message_id and sent.message_id.endswith("@pieced.ch>")
    assert message["From"] == "PieCed Billing <billing@pieced.ch>"
    assert message["Subject"] == "Invoice PC-2026-0001 for October 2026 – PieCed AG"
    assert sink.envelopes == [("billing@pieced.ch", ["accounts@acme.ch"])]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # Swiss amounts: 1’234.50; dates in the billing time zone as dd.mm.yyyy.
    assert "CHF 1’234.50" in text and "01.12.2026" in text and "QR-bill" in text
    assert "<strong>PC-2026-0001</strong>" in html and "CHF 1’234.50" in html
    (pdf,) = list(message.iter_attachments())
    assert (pdf.get_content_type(), pdf.get_filename(), pdf.get_content()) == (
        "application/pdf", "PC-2026-0001.pdf", b"%PDF-1.4 test")


def test_german_texts_and_html_escaping(app):
    subject, text, html = render_mail("invoice", "de", **{**CONTEXT, "customer_name": "Müller & <Söhne>",
                                                          "month": "Oktober 2026", "card": True})
    assert subject == "Rechnung PC-2026-0001 für Oktober 2026 – PieCed AG"
    assert "hinterlegten Zahlungskarte" in text and "Müller & <Söhne>" in text
    assert "Müller &amp; &lt;Söhne&gt;" in html
    subject, _text, _html = render_mail("reminder", "de", level=2, outstanding=Decimal("52.97"), **CONTEXT)
    assert subject == "2. Mahnung: Rechnung PC-2026-0001 – PieCed AG"
    # An unknown language falls back to English.
    assert render_mail("invoice", "fr", **CONTEXT)[0].startswith("Invoice ")


def test_login_is_used_when_configured(app):
    with SmtpSink(user="mailer", password="s3cret") as sink:
        ok = mail_settings(sink.config(MAIL_FROM="billing@pieced.ch"))
        send_message(build_message(to="a@acme.ch", subject="s", text="t", settings=ok), ok)
        assert len(sink.messages) == 1
        bad = mail_settings(sink.config(MAIL_FROM="billing@pieced.ch", SMTP_PASSWORD="wrong"))
        with pytest.raises(MailError, match=r"SMTP server 127\.0\.0\.1:\d+ rejected the login of 'mailer'"):
            send_message(build_message(to="a@acme.ch", subject="s", text="t", settings=bad), bad)


@pytest.mark.parametrize("problem, match", [
    ("recipient", r"SMTP server 127\.0\.0\.1:\d+ refused the recipient a@acme\.ch: 550"),
    ("data-451", r"SMTP server 127\.0\.0\.1:\d+ did not accept the message to a@acme\.ch: 451"),
    ("starttls", r"SMTP server 127\.0\.0\.1:\d+ does not support .*STARTTLS"),
])
def test_refusals_are_mail_errors_naming_smtp_and_the_server(app, problem, match):
    with SmtpSink() as sink:
        extra = {"SMTP_STARTTLS": True} if problem == "starttls" else {}
        settings = mail_settings(sink.config(MAIL_FROM="billing@pieced.ch", **extra))
        if problem == "recipient":
            sink.refuse("a@acme.ch")
        if problem == "data-451":
            sink.fail_data(451)
        with pytest.raises(MailError, match=match):
            send_message(build_message(to="a@acme.ch", subject="s", text="t", settings=settings), settings)
        assert sink.messages == []


def test_a_server_that_is_down_or_missing_settings_are_mail_errors(app):
    down = mail_settings({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(), "MAIL_FROM": "billing@pieced.ch",
                          "SMTP_TIMEOUT": 2})
    with pytest.raises(MailError, match=r"SMTP server 127\.0\.0\.1:\d+ could not be reached"):
        send_message(build_message(to="a@acme.ch", subject="s", text="t", settings=down), down)
    with pytest.raises(MailError, match="SMTP is not configured: set SMTP_HOST"):
        send_mail(to="a@acme.ch", kind="invoice", language="en", context=CONTEXT,
                  settings=mail_settings({"SMTP_HOST": "", "MAIL_FROM": "billing@pieced.ch"}))
    with pytest.raises(MailError, match="set MAIL_FROM"):
        send_mail(to="a@acme.ch", kind="invoice", language="en", context=CONTEXT,
                  settings=mail_settings({"SMTP_HOST": "127.0.0.1", "MAIL_FROM": ""}))


def test_recipients_are_checked_before_anything_is_sent():
    assert check_recipient(" Accounts@Acme.CH ", "org org-acme") == "Accounts@acme.ch"
    with pytest.raises(RecipientError, match="org org-acme has no billing e-mail address"):
        check_recipient(None, "org org-acme")
    with pytest.raises(RecipientError, match="'not-an-address' of org org-acme is not valid"):
        check_recipient("not-an-address", "org org-acme")
