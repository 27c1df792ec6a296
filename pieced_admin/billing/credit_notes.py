"""Credit notes: corrections of an issued invoice that the customer receives (SPEC §3, MWSTG Art. 27).

A credit note credits a net amount of one invoice (everything that remains, an
amount, or chosen lines) with VAT at the invoice's rate; crediting what remains
credits exactly the remaining net and VAT, so an invoice never ends a cent off.
Numbers are `<prefix>-CN-<YYYY>-<NNNN>`, gapless per entity and year in their
own sequence. Issuing locks the invoice row first and then the counter (one
order for everyone: no deadlock), re-reads what was credited inside the lock,
renders and stores the PDF, and flushes; the caller commits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from ..audit import current_actor, record_audit
from ..extensions import db
from ..models import CreditNote, CreditNoteDocument, CreditNoteEmail, CreditNoteLine, CreditNoteNumberCounter, Invoice
from ..models.dialect import dialect_name, insert_for
from ..models.types import utcnow
from .issuing import BillingInputError
from .money import ZERO, exact_product, fmt_amount, q2

log = logging.getLogger(__name__)

KINDS = ("full", "amount", "lines", "void")


@dataclass(frozen=True)
class Credited:
    """What the credit notes of one invoice credit together."""

    net_chf: Decimal = ZERO
    vat_chf: Decimal = ZERO
    total_chf: Decimal = ZERO
    count: int = 0


def credited_totals(invoice_ids: Iterable[int]) -> dict[int, Credited]:
    """Per invoice, the sums of its credit notes (one query). The payments ledger adds its own part to the balance."""
    ids = list(dict.fromkeys(invoice_ids))
    found: dict[int, Credited] = {}
    for i in range(0, len(ids), 500):
        for invoice_id, net, vat, total, count in db.session.execute(
            sa.select(CreditNote.invoice_id, sa.func.sum(CreditNote.net_chf), sa.func.sum(CreditNote.vat_chf),
                      sa.func.sum(CreditNote.total_chf), sa.func.count())
            .where(CreditNote.invoice_id.in_(ids[i:i + 500]))
            .group_by(CreditNote.invoice_id)
        ):
            found[invoice_id] = Credited(q2(net or 0), q2(vat or 0), q2(total or 0), int(count))
    return found


def credit_note_numbers_by_invoice() -> dict[int, tuple[Decimal, list[str]]]:
    """Every invoice with credit notes: (their total, their numbers), for exports (one query)."""
    found: dict[int, tuple[Decimal, list[str]]] = {}
    for invoice_id, number, total in db.session.execute(
        sa.select(CreditNote.invoice_id, CreditNote.number, CreditNote.total_chf).order_by(CreditNote.id)
    ):
        credited, numbers = found.get(invoice_id, (ZERO, []))
        found[invoice_id] = (q2(credited + total), [*numbers, number])
    return found


def balance_chf(invoice: Invoice, credited: Credited | None = None) -> Decimal:
    """What the customer still owes: the total less its credit notes and the payments of the ledger (§6).
    Negative: the customer has credit. A void invoice owes nothing."""
    from ..payments.ledger import balance_of

    if invoice.status == "void":
        return ZERO
    return q2(balance_of(invoice).balance)


class CreditNoteError(BillingInputError):
    """A credit note that cannot be issued as asked (CLI exit 2; a field error on the page)."""


def credit_note_number(prefix: str, year: int, sequence: int) -> str:
    """`<prefix>-CN-<YYYY>-<NNNN>`."""
    return f"{prefix}-CN-{year:04d}-{sequence:04d}"


# --------------------------------------------------------------------------- the arithmetic (pure)


@dataclass(frozen=True)
class CreditPlan:
    """What a credit note would credit: its lines (invoice line id or None, description, net), net, VAT, total."""

    lines: tuple[tuple[int | None, str, Decimal], ...]
    net_chf: Decimal
    vat_rate: Decimal
    vat_chf: Decimal
    total_chf: Decimal
    remaining_net_after: Decimal
    remaining_vat_after: Decimal
    closes: bool  # credits everything that remains


def plan_credit(*, invoice_net: Decimal, invoice_vat: Decimal, vat_rate: Decimal, credited_net: Decimal,
                credited_vat: Decimal, lines: Sequence[tuple[int | None, str, Decimal]], texts: dict) -> CreditPlan:
    """The credit of `lines` against what remains of an invoice: never more than the remaining net; VAT at the
    invoice's rate rounded half-up, capped at the remaining VAT, and exactly the remaining VAT when it closes."""
    remaining_net = q2(invoice_net - credited_net)
    remaining_vat = q2(invoice_vat - credited_vat)
    net = q2(sum((amount for _i, _d, amount in lines), ZERO))
    if net <= 0:
        raise CreditNoteError(texts.get("nothing", "the credit note must credit more than 0.00"))
    if net > remaining_net:
        raise CreditNoteError(
            f"the credit of {fmt_amount(net)} exceeds what remains to credit on the invoice ({fmt_amount(remaining_net)})")
    closes = net == remaining_net
    if closes:
        vat = remaining_vat
    else:
        vat = min(q2(exact_product(net, vat_rate) / 100), remaining_vat)
    return CreditPlan(lines=tuple(lines), net_chf=net, vat_rate=vat_rate, vat_chf=vat, total_chf=q2(net + vat),
                      remaining_net_after=q2(remaining_net - net), remaining_vat_after=q2(remaining_vat - vat),
                      closes=closes)


# --------------------------------------------------------------------------- service


def _lock_invoice(number: str) -> Invoice:
    """The invoice, its row locked until the transaction ends (the SQLite write lock), re-read inside the lock."""
    from .issuing import get_invoice

    invoice = get_invoice(number)
    if dialect_name() == "postgresql":
        db.session.execute(sa.select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    else:
        # An UPDATE that changes nothing takes SQLite's write lock before anything is read again.
        table = CreditNoteNumberCounter.__table__
        db.session.execute(sa.update(table).where(table.c.id == -1).values(last_number=table.c.last_number))
    db.session.refresh(invoice)
    return invoice


def _next_number(entity_id: int, year: int) -> int:
    table = CreditNoteNumberCounter.__table__
    db.session.execute(
        insert_for(table).values(billing_entity_id=entity_id, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["billing_entity_id", "year"])
    )
    return db.session.execute(
        sa.update(table).where(table.c.billing_entity_id == entity_id, table.c.year == year)
        .values(last_number=table.c.last_number + 1)
        .returning(table.c.last_number)
    ).scalar_one()


def parse_amount(text: str | Decimal | None) -> Decimal | None:
    """A net amount to credit (at most two decimals, more than 0), or None."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = Decimal(str(text).strip().replace("’", "").replace("'", ""))
    except InvalidOperation:
        raise CreditNoteError(f"the amount must be a number like 12.50, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise CreditNoteError(f"the amount must be more than 0.00, got {text!r}")
    if value != value.quantize(Decimal("0.01")):
        raise CreditNoteError(f"the amount takes at most two decimals, got {text!r}")
    return value


def _texts(lang: str) -> dict:
    if lang == "de":
        return {"remaining": "Gutschrift des offenen Betrags der Rechnung {number}",
                "amount": "Gutschrift auf Rechnung {number}", "void": "Storno der Rechnung {number}"}
    return {"remaining": "Credit of what remains of invoice {number}",
            "amount": "Credit on invoice {number}", "void": "Cancellation of invoice {number}"}


def build_plan(invoice: Invoice, *, amount: Decimal | None = None, line_ids: Sequence[int] | None = None,
               void: bool = False) -> CreditPlan:
    """What crediting `invoice` as asked would do (everything that remains when neither amount nor lines)."""
    if invoice.status == "void":
        raise CreditNoteError(f"invoice {invoice.number} is void: its cancellation credit note is issued already")
    if amount is not None and line_ids:
        raise CreditNoteError("credit either an amount or lines, not both")
    credited = credited_totals([invoice.id]).get(invoice.id, Credited())
    remaining = q2(invoice.net_chf - credited.net_chf)
    texts = _texts(invoice.language or "en")
    if line_ids:
        by_id = {line.id: line for line in invoice.lines}
        already = set(db.session.execute(
            sa.select(CreditNoteLine.invoice_line_id).join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
            .where(CreditNote.invoice_id == invoice.id, CreditNoteLine.invoice_line_id.is_not(None))
        ).scalars())
        chosen = []
        for line_id in dict.fromkeys(line_ids):
            line = by_id.get(line_id)
            if line is None:
                raise CreditNoteError(f"line {line_id} is not a line of invoice {invoice.number}")
            if line_id in already:
                raise CreditNoteError(f"line {line.position} ({line.description}) is credited already")
            chosen.append((line.id, line.description, line.amount_chf))
        lines = chosen
    elif amount is not None:
        lines = [(None, texts["amount"].format(number=invoice.number), amount)]
    else:
        if remaining <= 0:
            raise CreditNoteError(f"nothing remains to credit on invoice {invoice.number}")
        key = "void" if void else "remaining"
        lines = [(None, texts[key].format(number=invoice.number), remaining)]
    return plan_credit(invoice_net=invoice.net_chf, invoice_vat=invoice.vat_chf, vat_rate=invoice.vat_rate,
                       credited_net=credited.net_chf, credited_vat=credited.vat_chf, lines=lines,
                       texts={"nothing": "the credit note must credit more than 0.00"})


def issue_credit_note(number: str, reason: str, *, amount: Decimal | None = None,
                      line_ids: Sequence[int] | None = None, void: bool = False, now: datetime | None = None,
                      render_pdf: bool = True) -> CreditNote:
    """Issue a credit note on an invoice: lock, re-check what remains, number, render, store; flush, don't commit."""
    from .issuing import billing_zone

    reason = (reason or "").strip()
    if not reason:
        raise CreditNoteError("a reason is required for a credit note")
    invoice = _lock_invoice(number)
    plan = build_plan(invoice, amount=amount, line_ids=line_ids, void=void)
    issued_at = (now or utcnow()).astimezone(timezone.utc)
    year = issued_at.astimezone(billing_zone()).year
    entity = invoice.entity
    sequence = _next_number(entity.id, year)
    actor, _ = current_actor()
    kind = "void" if void else ("lines" if line_ids else ("amount" if amount is not None else "full"))
    note = CreditNote(
        number=credit_note_number(entity.invoice_prefix, year, sequence),
        invoice_id=invoice.id, billing_entity_id=entity.id, reason=reason, issued_at=issued_at,
        currency=invoice.currency, net_chf=plan.net_chf, vat_rate=plan.vat_rate, vat_chf=plan.vat_chf,
        total_chf=plan.total_chf, kind=kind, issued_by=actor, language=invoice.language or "en",
        customer_snapshot=invoice.customer_snapshot, entity_snapshot=invoice.entity_snapshot,
    )
    note.invoice = invoice
    note.lines = [CreditNoteLine(invoice_line_id=i, description=d[:500], amount_chf=a) for i, d, a in plan.lines]
    pdf = None
    if render_pdf:
        from .credit_note_pdf import render_credit_note_pdf

        pdf = render_credit_note_pdf(note)
        note.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    db.session.add(note)
    db.session.flush()
    if pdf is not None:
        db.session.add(CreditNoteDocument(credit_note_id=note.id, content=pdf, sha256=note.pdf_sha256))
    record_audit("credit_note.issue", "invoice", invoice.number,
                 after={"credit_note": note.number, "kind": kind, "reason": reason, "net_chf": note.net_chf,
                        "vat_chf": note.vat_chf, "total_chf": note.total_chf},
                 note=f"credit note {note.number}: {reason}")
    db.session.flush()
    return note


def credit_notes_of(invoice: Invoice) -> list[CreditNote]:
    """The invoice's credit notes, oldest first."""
    return list(db.session.execute(
        sa.select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.id)
    ).scalars())


def get_credit_note(number: str) -> CreditNote:
    note = db.session.execute(sa.select(CreditNote).where(CreditNote.number == number.strip())).scalar_one_or_none()
    if note is None:
        from .issuing import InvoiceNotFoundError

        raise InvoiceNotFoundError(f"unknown credit note number {number!r}")
    return note


def credit_note_json(note: CreditNote, invoice: Invoice) -> dict:
    """SPEC §5 `billing credit --json`."""
    return {
        "credit_note": {
            "number": note.number,
            "invoice": invoice.number,
            "reason": note.reason,
            "net_chf": fmt_amount(note.net_chf),
            "vat_rate": fmt_amount(note.vat_rate),
            "vat_chf": fmt_amount(note.vat_chf),
            "total_chf": fmt_amount(note.total_chf),
            "lines": [{"invoice_line_id": l.invoice_line_id, "description": l.description,
                       "amount_chf": fmt_amount(l.amount_chf)} for l in note.lines],
        },
        "invoice": {"number": invoice.number, "status": invoice.status, "balance_chf": fmt_amount(balance_chf(invoice))},
    }


# --------------------------------------------------------------------------- e-mail


@dataclass
class MailOutcome:
    sent_to: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def send_credit_note_email(note_id: int) -> MailOutcome:
    """E-mail the stored PDF to the org's billing address (once); records the outcome and commits it."""
    from ..integrations.mail import Attachment, MailError, check_recipient, mail_settings, send_mail

    outcome = MailOutcome()
    note = db.session.get(CreditNote, note_id)
    settings = mail_settings()
    if not settings.host:
        outcome.notes.append(f"{note.number} not e-mailed: SMTP is not configured (SMTP_HOST)")
        return outcome
    mail = db.session.execute(sa.select(CreditNoteEmail).where(CreditNoteEmail.credit_note_id == note.id)
                              ).scalar_one_or_none()
    if mail is not None and mail.status == "sent":
        return outcome
    if mail is None:
        mail = CreditNoteEmail(credit_note_id=note.id)
        db.session.add(mail)
    doc = db.session.get(CreditNoteDocument, note.id)
    customer = note.customer_snapshot or {}
    mail.attempts = (mail.attempts or 0) + 1
    try:
        to = check_recipient(customer.get("billing_email"), note.invoice.zitadel_org_id)
        sent = send_mail(to=to, kind="credit_note", language=note.language, settings=settings, context={
            "number": note.number, "invoice_number": note.invoice.number, "reason": note.reason,
            "currency": note.currency, "total": note.total_chf,
            "customer_name": customer.get("name") or note.invoice.zitadel_org_id,
            "entity_name": (note.entity_snapshot or {}).get("name") or note.invoice.entity.name,
        }, attachments=[Attachment(f"{note.number}.pdf", bytes(doc.content))] if doc else [])
    except MailError as exc:
        mail.status, mail.error = "failed", str(exc)
        outcome.error = str(exc)
        outcome.notes.append(f"{note.number} not e-mailed: {exc}")
    else:
        mail.status, mail.sent_to, mail.sent_at, mail.message_id, mail.error = "sent", sent.to, utcnow(), sent.message_id, None
        outcome.sent_to = sent.to
        outcome.notes.append(f"E-mailed {note.number} to {sent.to}")
    db.session.commit()
    return outcome
