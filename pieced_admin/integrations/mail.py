"""Outgoing e-mail over SMTP (settings SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, MAIL_FROM).

A message is an `email.message.EmailMessage` with a plain-text and an HTML
body rendered from `templates/mail/<kind>.<language>.txt|html` and any PDFs
attached. Its `Message-ID` is generated here, so the caller can record it
before and after the server accepted the message. Every failure, including
"SMTP is not configured", is raised as `MailError` naming SMTP and the server:
the callers record it as a failed send and retry on their next run.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

__all__ = [
    "Attachment", "MailError", "MailSettings", "RecipientError", "SentMail",
    "build_message", "check_recipient", "mail_settings", "render_mail", "require_smtp", "send_mail", "send_message",
]

LANGUAGES = ("en", "de")


class MailError(RuntimeError):
    """SMTP could not take the message (or is not configured); the text names SMTP and the server."""


class RecipientError(MailError):
    """The recipient address is missing or not an e-mail address: fix it on the org page, then retry."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    user: str
    password: str
    starttls: bool
    mail_from: str
    timeout: float = 30

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}" if self.host else "(no SMTP_HOST)"

    @property
    def domain(self) -> str:
        """The domain of the sender address: the right-hand side of every Message-ID we generate."""
        address = parseaddr(self.mail_from)[1]
        return address.rpartition("@")[2] or "localhost"

    def __repr__(self) -> str:  # never shows the password
        return f"MailSettings(host={self.host!r}, port={self.port}, user={self.user!r}, starttls={self.starttls})"


@dataclass(frozen=True)
class SentMail:
    """What the server accepted: the Message-ID and the recipient."""

    message_id: str
    to: str


def mail_settings(config: Mapping | None = None) -> MailSettings:
    """The SMTP settings of the app (or of `config`)."""
    cfg = current_app.config if config is None else config
    return MailSettings(
        host=(cfg.get("SMTP_HOST") or "").strip(),
        port=int(cfg.get("SMTP_PORT") or 25),
        user=cfg.get("SMTP_USER") or "",
        password=cfg.get("SMTP_PASSWORD") or "",
        starttls=bool(cfg.get("SMTP_STARTTLS")),
        mail_from=(cfg.get("MAIL_FROM") or "").strip(),
        timeout=float(cfg.get("SMTP_TIMEOUT") or 30),
    )


def check_recipient(address: str | None, whose: str) -> str:
    """The address, normalised; RecipientError when there is none or it is not an e-mail address."""
    from email_validator import EmailNotValidError, validate_email

    address = (address or "").strip()
    if not address:
        raise RecipientError(f"{whose} has no billing e-mail address: set one on the org page, then re-run")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise RecipientError(f"the billing e-mail address {address!r} of {whose} is not valid ({exc}): "
                             "correct it on the org page, then re-run") from None


def render_mail(kind: str, language: str, **context) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of `templates/mail/<kind>.<language>.*` in the org's language."""
    lang = language if language in LANGUAGES else "en"
    env = current_app.jinja_env
    text_template = env.get_template(f"mail/{kind}.{lang}.txt")
    html_template = env.get_template(f"mail/{kind}.{lang}.html")
    ctx = {"language": lang, **context}
    subject = "".join(text_template.blocks["subject"](text_template.new_context(ctx))).strip()
    text = "".join(text_template.blocks["body"](text_template.new_context(ctx))).strip() + "\n"
    html = html_template.render(subject=subject, **ctx)
    return " ".join(subject.split()), text, html


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    settings: MailSettings | None = None,
) -> EmailMessage:
    """A ready-to-send message with a fresh Message-ID (plain text first, HTML as the alternative)."""
    settings = settings or mail_settings()
    if not settings.mail_from:
        raise MailError("SMTP sender is not configured: set MAIL_FROM (e.g. billing@pieced.ch)")
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.domain)
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.mimetype.partition("/")
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg


def require_smtp(settings: MailSettings | None = None) -> MailSettings:
    """The settings, or MailError when SMTP is not configured (no SMTP_HOST or no MAIL_FROM)."""
    settings = settings or mail_settings()
    if not settings.host:
        raise MailError("SMTP is not configured: set SMTP_HOST (and SMTP_PORT, MAIL_FROM) to send e-mail; "
                        "nothing was sent, the next run retries")
    if not settings.mail_from:
        raise MailError("SMTP sender is not configured: set MAIL_FROM (e.g. billing@pieced.ch); "
                        "nothing was sent, the next run retries")
    return settings


def _reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(error.split())}"


def send_message(msg: EmailMessage, settings: MailSettings | None = None) -> SentMail:
    """Hand the message to the SMTP server; returns its Message-ID once the server accepted it."""
    settings = settings or mail_settings()
    require_smtp(settings)
    server = settings.server
    to = msg["To"]
    smtp_class = smtplib.SMTP_SSL if settings.port == 465 else smtplib.SMTP
    try:
        with smtp_class(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls and smtp_class is smtplib.SMTP:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{code} {detail.decode('utf-8', 'replace') if isinstance(detail, bytes) else detail}"
                            for code, detail in exc.recipients.values())
        raise MailError(f"SMTP server {server} refused the recipient {to}: {reasons}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"SMTP server {server} rejected the login of {settings.user!r} ({_reply(exc)}): "
                        "check SMTP_USER and SMTP_PASSWORD") from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP server {server} did not accept the message to {to}: {_reply(exc)}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"SMTP server {server} does not support what we asked ({exc}): check SMTP_STARTTLS") from exc
    except (smtplib.SMTPException, ssl.SSLError, socket.timeout, OSError) as exc:
        raise MailError(f"SMTP server {server} could not be reached or broke off ({type(exc).__name__}: {exc}): "
                        "check SMTP_HOST and SMTP_PORT") from exc
    return SentMail(message_id=msg["Message-ID"], to=to)


def send_mail(
    *,
    to: str,
    kind: str,
    language: str,
    context: Mapping,
    attachments: Sequence[Attachment] = (),
    settings: MailSettings | None = None,
) -> SentMail:
    """Render `mail/<kind>` in the language, attach the files and send it; MailError on any failure."""
    settings = settings or mail_settings()
    require_smtp(settings)
    subject, text, html = render_mail(kind, language, **context)
    msg = build_message(to=to, subject=subject, text=text, html=html, attachments=attachments, settings=settings)
    return send_message(msg, settings)
