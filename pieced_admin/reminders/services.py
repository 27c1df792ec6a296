"""Payment reminders (SPEC §6): levels at due + 7, + 21 and + 35 days (setting REMINDER_LEVEL_DAYS).

Who gets one: issued (unpaid, not void) invoices of orgs with
`auto_reminders_enabled`, by the daily job; any issued, overdue invoice when a
person sends one from the invoice page.

Which level: the highest level that is due, only. An invoice found 40 days
overdue without any reminder gets the final reminder (level 3) alone, not
levels 1, 2 and 3 at once: the customer receives one letter, and the letter
they receive is the one the dates call for. Lower levels left unsent are
marked `superseded`.

Never twice: one `invoice_reminders` row per (invoice, level), locked while
its e-mail is sent; `sent_at` is set only once the mail server accepted the
message. A failed send stays `failed` with its error and is tried again by
the next run. Each e-mail carries the reminder PDF (stored in the row with
its SHA-256) and the invoice's stored PDF, byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..audit import current_actor, record_audit
from ..billing.issuing import InvoiceNotFoundError, get_invoice, local_today, outstanding_chf
from ..extensions import db
from ..models.dialect import insert_for
from ..models import Invoice, InvoiceDocument, InvoiceReminder, OrgBillingConfig
from ..models.types import utcnow

log = logging.getLogger(__name__)

LEVELS = (1, 2, 3)
LEVEL_TITLES = {1: "Payment reminder", 2: "Second reminder", 3: "Final reminder"}

__all__ = [
    "LEVELS", "LEVEL_TITLES", "ReminderError", "ReminderOutcome", "ReminderReport", "ReminderPanel",
    "level_days", "due_level", "due_reminders", "send_due_reminders", "send_reminder", "send_next_reminder", "send_next_reminders",
    "reminder_panel",
]


class ReminderError(ValueError):
    """A reminder cannot be sent for a reason a person can act on (not overdue, paid, all levels sent)."""


@dataclass(frozen=True)
class ReminderOutcome:
    number: str
    level: int
    status: str          # sent | failed | skipped
    to: str | None = None
    error: str | None = None
    message_id: str | None = None

    def line(self) -> str:
        title = LEVEL_TITLES.get(self.level, f"Reminder {self.level}")
        if self.status == "sent":
            return f"{self.number}: {title.lower()} (level {self.level}) sent to {self.to}"
        if self.status == "failed":
            return f"{self.number}: {title.lower()} (level {self.level}) NOT sent: {self.error}"
        return f"{self.number}: level {self.level} skipped ({self.error})"


@dataclass
class ReminderReport:
    today: date
    outcomes: list[ReminderOutcome] = field(default_factory=list)

    @property
    def sent(self) -> list[ReminderOutcome]:
        return [o for o in self.outcomes if o.status == "sent"]

    @property
    def failed(self) -> list[ReminderOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def level_days() -> tuple[int, int, int]:
    """Days after the due date of levels 1, 2 and 3 (REMINDER_LEVEL_DAYS, default 7, 21, 35)."""
    days = tuple(int(d) for d in current_app.config.get("REMINDER_LEVEL_DAYS") or (7, 21, 35))
    if len(days) != 3 or any(d < 1 for d in days) or list(days) != sorted(set(days)):
        raise ReminderError(f"REMINDER_LEVEL_DAYS must be three increasing whole numbers of days, e.g. 7,21,35; "
                            f"got {','.join(map(str, days))}")
    return days  # type: ignore[return-value]


def due_level(due_date: date, today: date, days: Sequence[int] | None = None) -> int | None:
    """The highest reminder level due on `today` for an invoice due on `due_date` (None: none yet)."""
    days = days or level_days()
    level = None
    for lvl, offset in zip(LEVELS, days):
        if today >= due_date + timedelta(days=offset):
            level = lvl
    return level


def _sent_levels(invoice_ids: Sequence[int]) -> dict[int, int]:
    """Highest level sent per invoice."""
    out: dict[int, int] = {}
    ids = list(invoice_ids)
    for i in range(0, len(ids), 500):
        for invoice_id, level in db.session.execute(
            sa.select(InvoiceReminder.invoice_id, sa.func.max(InvoiceReminder.level))
            .where(InvoiceReminder.invoice_id.in_(ids[i:i + 500]), InvoiceReminder.sent_at.is_not(None))
            .group_by(InvoiceReminder.invoice_id)
        ):
            out[invoice_id] = level
    return out


def due_reminders(today: date) -> list[tuple[int, str, int]]:
    """(invoice id, number, level) of every reminder the daily job should send today."""
    days = level_days()
    cutoff = today - timedelta(days=days[0])
    rows = db.session.execute(
        sa.select(Invoice.id, Invoice.number, Invoice.due_date)
        .join(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == Invoice.zitadel_org_id)
        .where(Invoice.status == "issued", Invoice.due_date <= cutoff,
               OrgBillingConfig.auto_reminders_enabled.is_(True))
        .order_by(Invoice.due_date, Invoice.number)
    ).all()
    sent = _sent_levels([r.id for r in rows])
    due = []
    for invoice_id, number, due_date in rows:
        level = due_level(due_date, today, days)
        if level is not None and sent.get(invoice_id, 0) < level:
            due.append((invoice_id, number, level))
    return due


def _lock_row(invoice_id: int, level: int) -> InvoiceReminder:
    """The (invoice, level) row, created if missing and locked until the transaction ends."""
    table = InvoiceReminder.__table__
    insert = insert_for(table)
    db.session.execute(insert.values(invoice_id=invoice_id, level=level, status="pending", attempts=0)
                       .on_conflict_do_nothing(index_elements=["invoice_id", "level"]))
    return db.session.execute(
        sa.select(InvoiceReminder).where(InvoiceReminder.invoice_id == invoice_id, InvoiceReminder.level == level)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def send_reminder(invoice_id: int, level: int, today: date, *, now: datetime | None = None) -> ReminderOutcome:
    """Send one reminder level of an invoice, at most once; commits. Failures are recorded and returned."""
    from ..billing.pdf import PdfRenderError, render_reminder_pdf
    from ..integrations.mail import Attachment, MailError, check_recipient, send_mail

    if level not in LEVELS:
        raise ReminderError(f"reminder level must be 1, 2 or 3, not {level}")
    row = _lock_row(invoice_id, level)
    invoice = db.session.execute(
        sa.select(Invoice).where(Invoice.id == invoice_id).execution_options(populate_existing=True)
    ).scalar_one()
    number = invoice.number
    higher = _sent_levels([invoice_id]).get(invoice_id, 0)
    if row.status == "sent" or invoice.status != "issued" or higher >= level:
        why = ("sent before" if row.status == "sent" else f"invoice is {invoice.status}"
               if invoice.status != "issued" else f"level {higher} was sent already")
        if row.status != "sent" and row.sent_at is None and row.attempts == 0:
            db.session.delete(row)  # created just now for nothing
        db.session.commit()
        return ReminderOutcome(number, level, "skipped", error=why)

    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=invoice.zitadel_org_id)).scalar_one()
    actor, _ = current_actor()
    row.attempts = (row.attempts or 0) + 1
    row.created_by = actor
    to = None
    try:
        to = check_recipient(config.billing_email, f"org {config.zitadel_org_id}")
        row.sent_to = to
        document = db.session.get(InvoiceDocument, invoice.id)
        if document is None:
            raise MailError(f"invoice {number} has no stored PDF to attach: nothing was sent")
        outstanding = outstanding_chf(invoice)
        pdf = render_reminder_pdf(invoice, level=level, reminder_date=today, outstanding_chf=outstanding)
        row.pdf = pdf
        row.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        entity = invoice.entity_snapshot or {}
        sent = send_mail(
            to=to, kind="reminder", language=config.language or invoice.language or "en",
            context={
                "level": level, "number": number, "customer_name": config.name, "due_date": invoice.due_date,
                "currency": invoice.currency, "outstanding": outstanding, "total": invoice.total_chf,
                "entity_name": entity.get("name") or "PieCed", "entity_email": entity.get("email"),
            },
            attachments=[
                Attachment(f"{number}-reminder-{level}.pdf", pdf),
                Attachment(f"{number}.pdf", document.content),
            ],
        )
    except (MailError, PdfRenderError) as exc:
        row.status = "failed"
        row.error = str(exc)
        outcome = ReminderOutcome(number, level, "failed", to=to, error=str(exc))
        record_audit("invoice.reminder_failed", "invoice", number,
                     after={"level": level, "to": to, "attempt": row.attempts}, note=str(exc))
        log.warning("reminder %s level %d not sent: %s", number, level, exc)
    else:
        row.status = "sent"
        row.sent_at = now or utcnow()
        row.message_id = sent.message_id
        row.error = None
        outcome = ReminderOutcome(number, level, "sent", to=sent.to, message_id=sent.message_id)
        # Lower levels never sent are overtaken by this one: the customer gets one letter.
        for lower in db.session.execute(
            sa.select(InvoiceReminder).where(InvoiceReminder.invoice_id == invoice_id, InvoiceReminder.level < level,
                                             InvoiceReminder.sent_at.is_(None))
        ).scalars():
            lower.status = "superseded"
        record_audit("invoice.reminder", "invoice", number,
                     after={"level": level, "to": sent.to, "message_id": sent.message_id,
                            "outstanding_chf": outstanding, "pdf_sha256": row.pdf_sha256})
    db.session.commit()
    return outcome


def send_due_reminders(today: date | None = None) -> ReminderReport:
    """Send every reminder due today (the daily job); each in its own transaction. Nothing twice."""
    today = today or local_today()
    report = ReminderReport(today=today)
    due = due_reminders(today)
    db.session.commit()
    for invoice_id, number, level in due:
        try:
            outcome = send_reminder(invoice_id, level, today)
        except Exception as exc:  # one invoice's problem: reported, the others go on
            db.session.rollback()
            log.exception("reminder %s level %d", number, level)
            outcome = ReminderOutcome(number, level, "failed", error=f"{type(exc).__name__}: {exc}")
        report.outcomes.append(outcome)
    return report


def send_next_reminder(number: str, today: date | None = None) -> ReminderOutcome:
    """Send the next level not yet sent of an overdue invoice now (a person's decision: auto-reminders not needed)."""
    today = today or local_today()
    invoice = get_invoice(number)
    if invoice.status != "issued":
        raise ReminderError(f"invoice {invoice.number} is {invoice.status}: reminders are only sent for unpaid invoices")
    if invoice.due_date >= today:
        raise ReminderError(f"invoice {invoice.number} is not overdue yet (due {invoice.due_date:%d.%m.%Y})")
    level = _sent_levels([invoice.id]).get(invoice.id, 0) + 1
    if level > LEVELS[-1]:
        raise ReminderError(f"the final reminder of {invoice.number} was sent already")
    return send_reminder(invoice.id, level, today)


@dataclass(frozen=True)
class BulkLine:
    text: str
    category: str  # success | error


@dataclass
class BulkReminderReport:
    """What sending reminders for several invoices at once did, invoice by invoice."""

    sent: list[ReminderOutcome] = field(default_factory=list)
    failed: list[ReminderOutcome] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (number, why)

    def lines(self) -> list[BulkLine]:
        out = []
        if self.sent:
            out.append(BulkLine("Sent: " + "; ".join(
                f"{o.number} level {o.level} ({LEVEL_TITLES[o.level].lower()}) to {o.to}" for o in self.sent) + ".",
                "success"))
        for o in self.failed:
            out.append(BulkLine(f"{o.number}: level {o.level} not sent: {o.error}", "error"))
        for number, why in self.refused:
            out.append(BulkLine(f"{number}: nothing sent: {why}.", "error"))
        return out


def send_next_reminders(numbers: Sequence[str], today: date | None = None) -> BulkReminderReport:
    """Send the next reminder level of each of these invoices (each in its own transaction)."""
    report = BulkReminderReport()
    for number in dict.fromkeys(numbers):
        try:
            outcome = send_next_reminder(number, today)
        except (ReminderError, InvoiceNotFoundError) as exc:
            db.session.rollback()
            report.refused.append((number, str(exc)))
            continue
        (report.sent if outcome.status == "sent" else report.failed).append(outcome)
    return report


@dataclass
class ReminderPanel:
    """What the invoice page shows about reminders."""

    reminders: list[InvoiceReminder]
    next_level: int | None       # the level "Send reminder now" would send
    can_send: bool
    why_not: str | None
    due_level: int | None        # the level the dates call for today
    today: date

    @property
    def next_title(self) -> str:
        return LEVEL_TITLES.get(self.next_level or 0, "")


def reminder_panel(invoice: Invoice, today: date | None = None) -> ReminderPanel:
    """Reminders of an invoice and whether one can be sent now (one query)."""
    today = today or local_today()
    reminders = list(db.session.execute(
        sa.select(InvoiceReminder).where(InvoiceReminder.invoice_id == invoice.id).order_by(InvoiceReminder.level)
    ).scalars())
    sent = max((r.level for r in reminders if r.sent_at is not None), default=0)
    next_level = sent + 1 if sent < LEVELS[-1] else None
    why = None
    if invoice.status != "issued":
        why = f"The invoice is {invoice.status}."
    elif next_level is None:
        why = "The final reminder was sent."
    elif invoice.due_date >= today:
        why = f"Not overdue yet (due {invoice.due_date:%d.%m.%Y})."
    try:
        level = due_level(invoice.due_date, today) if invoice.status == "issued" else None
    except ReminderError:
        level = None
    return ReminderPanel(reminders=reminders, next_level=next_level if why is None else None,
                         can_send=why is None, why_not=why, due_level=level, today=today)
