"""Reading invoices for the pages: the filtered list with its totals, the CSV export, one invoice in detail.

Every read here costs a fixed number of SQL statements whatever the number of
rows (the list joins what it shows; the detail loads each related table once).
"Overdue" is derived: issued and due before today in the billing time zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.orm import lazyload

from ..billing.days import Period, month_bounds
from ..billing.issuing import InvoiceNotFoundError
from ..billing.money import fmt_amount
from ..payments import ledger
from ..payments.charging import ATTENTION_STATUSES
from ..extensions import db
from ..models import (
    AuditLog,
    BillingEntity,
    ChargeAttempt,
    Invoice,
    InvoiceDocument,
    InvoiceEmail,
    InvoiceReminder,
    OrgBillingConfig,
)

PER_PAGE = 50

# status filter value -> label; "overdue" and "not_due" split "issued" by the due date.
STATUS_FILTERS = {
    "issued": "Issued (unpaid)",
    "not_due": "Issued, not yet due",
    "overdue": "Overdue",
    "partly_paid": "Partly paid",
    "credit": "Credit (paid more than owed)",
    "paid": "Paid",
    "void": "Void",
}
# days-overdue filter value -> (label, least days overdue, most days overdue or None)
AGING_FILTERS = {
    "1-30": ("1–30 days", 1, 30),
    "31-60": ("31–60 days", 31, 60),
    "61+": ("over 60 days", 61, None),
}
CHARGE_FILTERS = {"attention": "Card charge needs attention"}
CHARGE_ATTENTION = tuple(sorted(ATTENTION_STATUSES))  # the card payments' own idea of "needs a person"
SORTS = {"number": "Number", "issued": "Issued", "due": "Due date", "org": "Org", "total": "Total"}
DEFAULT_SORT = ("issued", "desc")


class NoStoredPdfError(LookupError):
    """The invoice exists but no PDF was stored for it."""


# --------------------------------------------------------------------------- the filter


@dataclass(frozen=True)
class InvoiceQuery:
    """What the invoice list shows: filters, sort and page (all optional; invalid values never get here)."""

    status: str = ""
    aging: str = ""
    entity: str = ""        # billing entity code
    org: str = ""           # zitadel org id, exact
    period: str = ""        # YYYY-MM of the billed month
    issued: str = ""        # YYYY-MM of the (local) issue date
    charge: str = ""
    q: str = ""             # part of the number or of the org's name or id
    sort: str = DEFAULT_SORT[0]
    dir: str = DEFAULT_SORT[1]
    page: int = 1

    FILTER_FIELDS = ("status", "aging", "entity", "org", "period", "issued", "charge", "q")

    @property
    def filtered(self) -> bool:
        return any(getattr(self, f) for f in self.FILTER_FIELDS)

    def args(self, **changes) -> dict:
        """The query-string arguments of this query (defaults left out), with `changes` applied."""
        query = replace(self, **changes)
        out = {f: getattr(query, f) for f in self.FILTER_FIELDS if getattr(query, f)}
        if (query.sort, query.dir) != DEFAULT_SORT:
            out["sort"], out["dir"] = query.sort, query.dir
        if query.page > 1:
            out["page"] = query.page
        return out

    def sort_args(self, key: str) -> dict:
        """Arguments that sort by `key`: flips the direction when already sorted by it, back to page 1."""
        if self.sort == key:
            direction = "asc" if self.dir == "desc" else "desc"
        else:
            direction = "asc" if key in ("number", "org") else "desc"
        return self.args(sort=key, dir=direction, page=1)

    def filename(self) -> str:
        """`invoices-<filter>.csv`: the filter in a file name (`all` without one)."""
        parts = [self.aging and f"overdue-{self.aging}" or self.status, self.entity, self.org, self.period,
                 self.issued and f"issued-{self.issued}", self.charge and f"charge-{self.charge}",
                 self.q and f"search-{self.q}"]
        slug = "-".join(p for p in parts if p)
        slug = re.sub(r"[^A-Za-z0-9._+-]+", "_", slug).strip("._-")[:120] or "all"
        return f"invoices-{slug}.csv"


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BILLING_TIMEZONE"])


def _conditions(query: InvoiceQuery, today: date) -> list:
    conds: list = []
    status = query.status
    if query.aging:
        _label, least, most = AGING_FILTERS[query.aging]
        # d days overdue <=> due_date = today - d; "overdue" starts at one day.
        conds += [Invoice.status == "issued", Invoice.due_date <= today - timedelta(days=least)]
        if most is not None:
            conds.append(Invoice.due_date >= today - timedelta(days=most))
    if status == "overdue":
        conds += [Invoice.status == "issued", Invoice.due_date < today]
    elif status == "not_due":
        conds += [Invoice.status == "issued", Invoice.due_date >= today]
    elif status == "partly_paid":
        conds += [Invoice.status == "issued", ledger.paid_expr() > 0]
    elif status == "credit":
        conds.append(Invoice.id.in_(sa.select(ledger.credit_invoices().subquery().c.id)))
    elif status:
        conds.append(Invoice.status == status)
    if query.entity:
        conds.append(Invoice.billing_entity_id == sa.select(BillingEntity.id)
                     .where(BillingEntity.code == query.entity).correlate(None).scalar_subquery())
    if query.org:
        conds.append(Invoice.zitadel_org_id == query.org)
    if query.period:
        conds.append(Invoice.period_start == Period.parse(query.period).first_day)
    if query.issued:
        start, end = month_bounds(Period.parse(query.issued), _zone())
        conds += [Invoice.issued_at >= start, Invoice.issued_at < end]
    if query.charge == "attention":
        conds += [Invoice.status == "issued", Invoice.charge_status.in_(CHARGE_ATTENTION)]
    if query.q:
        # The orgs are searched on their own (a few thousand rows) and their invoices found by the org
        # index, instead of matching three columns on every invoice joined with its org.
        matching_orgs = sa.select(OrgBillingConfig.zitadel_org_id).where(sa.or_(
            OrgBillingConfig.zitadel_org_id.icontains(query.q, autoescape=True),
            OrgBillingConfig.display_name.icontains(query.q, autoescape=True),
        )).correlate(None)
        # Numbers are matched as typed and in capitals (prefixes are capitals): a plain LIKE is several
        # times cheaper than ILIKE over every invoice.
        spellings = dict.fromkeys((query.q, query.q.upper()))
        conds.append(sa.or_(
            *(Invoice.number.contains(q, autoescape=True) for q in spellings),
            Invoice.zitadel_org_id.in_(matching_orgs),
        ))
    return conds


def _sort_key(stmt, query: InvoiceQuery):
    """(`stmt` with what sorting needs joined, the column to sort by)."""
    if query.sort == "org":
        # Each org's place in the alphabet, ranked among the orgs alone: sorting every invoice by a
        # number is far cheaper than by a text computed from the joined org.
        rank = sa.select(
            OrgBillingConfig.zitadel_org_id.label("org_id"),
            sa.func.row_number().over(order_by=(
                sa.func.lower(sa.func.coalesce(OrgBillingConfig.display_name, OrgBillingConfig.zitadel_org_id)),
                OrgBillingConfig.zitadel_org_id,
            )).label("place"),
        ).subquery("org_rank")
        return stmt.outerjoin(rank, rank.c.org_id == Invoice.zitadel_org_id), rank.c.place
    return stmt, {"number": Invoice.number, "issued": Invoice.issued_at, "due": Invoice.due_date,
                  "total": Invoice.total_chf}[query.sort]


def _ordered(stmt, column, query: InvoiceQuery):
    """Order by `column` in the query's direction, ties broken by id so pages never overlap."""
    if query.dir == "asc":
        return stmt.order_by(column.asc(), Invoice.id.asc())
    return stmt.order_by(column.desc(), Invoice.id.desc())


def _sorted(stmt, query: InvoiceQuery):
    """`stmt` ordered as the query says."""
    stmt, column = _sort_key(stmt, query)
    return _ordered(stmt, column, query)


def _with_org(stmt):
    return stmt.outerjoin(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == Invoice.zitadel_org_id)


# --------------------------------------------------------------------------- the list


@dataclass
class InvoiceTotals:
    """Sums of the filtered set. Amounts leave void invoices out (they are shown apart)."""

    rows: int = 0            # every matching invoice, void included (what the pages page through)
    count: int = 0           # not void
    net: Decimal = Decimal("0.00")
    vat: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")
    outstanding: Decimal = Decimal("0.00")   # the balances due of the issued invoices
    overdue: Decimal = Decimal("0.00")
    void_count: int = 0
    void_total: Decimal = Decimal("0.00")


@dataclass
class InvoiceRow:
    invoice: Invoice
    org_name: str
    entity_code: str
    days_overdue: int
    credited_chf: Decimal = Decimal("0.00")  # its credit notes' totals
    balance_chf: Decimal = Decimal("0.00")   # billing.credit_notes.balance_chf
    balance: Decimal = Decimal("0.00")   # what it still owes (negative: to the org's credit)
    paid: Decimal = Decimal("0.00")      # payments allocated to it

    @property
    def partly_paid(self) -> bool:
        return self.invoice.status == "issued" and self.paid > 0
    last_reminder_level: int | None = None
    last_reminder_on: datetime | None = None

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0


@dataclass
class InvoicePage:
    query: InvoiceQuery
    today: date
    rows: list[InvoiceRow]
    totals: InvoiceTotals
    page: int
    pages: int
    per_page: int
    entities: list[BillingEntity] = field(default_factory=list)
    any_invoices: bool = True

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def invoice_totals(query: InvoiceQuery, today: date) -> InvoiceTotals:
    """Count and sums of every invoice the filter matches (one statement: at most six groups)."""
    overdue = sa.and_(Invoice.status == "issued", Invoice.due_date < today).label("overdue")
    # The ledger's sums of the open invoices only (few rows), joined once: no lookup per invoice.
    paid = ledger.paid_per_invoice(of_status="issued")
    balance = ledger.balance_expr(paid=sa.func.coalesce(paid.c.paid, 0))
    stmt = (
        sa.select(Invoice.status, overdue, sa.func.count(), sa.func.sum(Invoice.net_chf),
                  sa.func.sum(Invoice.vat_chf), sa.func.sum(Invoice.total_chf),
                  sa.func.sum(sa.case((Invoice.status == "issued", balance), else_=0)))
        .select_from(Invoice).outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(*_conditions(query, today))
        .group_by(Invoice.status, overdue)
    )
    totals = InvoiceTotals()
    for status, is_overdue, count, net, vat, total, balance in db.session.execute(stmt):
        net, vat, total, balance = _money(net), _money(vat), _money(total), _money(balance)
        totals.rows += count
        if status == "void":
            totals.void_count += count
            totals.void_total += total
            continue
        totals.count += count
        totals.net += net
        totals.vat += vat
        totals.total += total
        if status == "issued":
            totals.outstanding += balance
            if is_overdue:
                totals.overdue += balance
    return totals


def list_entities() -> list[BillingEntity]:
    """Billing entities for the filter, by name."""
    return list(db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.name)).scalars())


def _add_last_reminders(rows: list[InvoiceRow]) -> None:
    """The highest reminder level sent for each row's invoice, and when (one query for the page)."""
    from ..models import InvoiceReminder

    if not rows:
        return
    found = db.session.execute(
        sa.select(InvoiceReminder.invoice_id, sa.func.max(InvoiceReminder.level), sa.func.max(InvoiceReminder.sent_at))
        .where(InvoiceReminder.invoice_id.in_([r.invoice.id for r in rows]), InvoiceReminder.sent_at.is_not(None))
        .group_by(InvoiceReminder.invoice_id)
    ).all()
    by_id = {i: (level, at) for i, level, at in found}
    for row in rows:
        row.last_reminder_level, row.last_reminder_on = by_id.get(row.invoice.id, (None, None))


def list_invoices(query: InvoiceQuery, today: date, per_page: int = PER_PAGE) -> InvoicePage:
    """One page of the filtered, sorted invoices with the totals of the whole filtered set."""
    totals = invoice_totals(query, today)
    pages = max(1, math.ceil(totals.rows / per_page))
    page = min(max(1, query.page), pages)
    # The page's ids first, from the invoices alone (narrow rows, the indexes): a deep page or a
    # sort by org then never joins the orgs and entities of the rows it skips.
    ids, key = _sort_key(sa.select(Invoice.id).where(*_conditions(query, today)), query)
    ids = _ordered(ids.add_columns(key.label("sort_key")), key, query)
    page_ids = ids.limit(per_page).offset((page - 1) * per_page).subquery("page_ids")
    paid = ledger.paid_expr()
    stmt = _ordered(
        _with_org(sa.select(Invoice, OrgBillingConfig.display_name, paid.label("paid"),
                            ledger.balance_expr(paid=paid).label("balance"))
                  .join(page_ids, page_ids.c.id == Invoice.id)),
        page_ids.c.sort_key, query,
    ).options(lazyload(Invoice.lines))  # the list shows no lines: never load them
    rows = [
        InvoiceRow(invoice=inv, org_name=name or inv.zitadel_org_id, entity_code=inv.entity.code,
                   days_overdue=(today - inv.due_date).days if inv.is_overdue(today) else 0,
                   balance=_money(balance), paid=_money(paid_sum))
        for inv, name, paid_sum, balance in db.session.execute(stmt)
    ]
    from ..billing.credit_notes import Credited, credited_totals

    credited = credited_totals([r.invoice.id for r in rows])
    for row in rows:
        c = credited.get(row.invoice.id, Credited())
        # The ledger's balance already counts the credit notes (payments.ledger.credited_expr).
        row.credited_chf, row.balance_chf = c.total_chf, row.balance
    _add_last_reminders(rows)
    any_invoices = bool(totals.rows) or (
        query.filtered and db.session.execute(sa.select(Invoice.id).limit(1)).first() is not None)
    return InvoicePage(query=replace(query, page=page), today=today, rows=rows, totals=totals, page=page,
                       pages=pages, per_page=per_page, entities=list_entities(), any_invoices=any_invoices)


# --------------------------------------------------------------------------- CSV export

def derived_status(status: str, due_date: date, today: date) -> str:
    """issued, overdue, paid or void: overdue is an issued invoice due before today."""
    return "overdue" if status == "issued" and due_date < today else status


def csv_rows(query: InvoiceQuery, today: date, batch: int = 1000, flavour: str = "rfc4180") -> Iterator[str]:
    """The filtered invoices as CSV text (header first; `rfc4180` or `excel-ch`), in chunks of `batch` rows."""
    from ..exports.invoices import invoices_table
    from ..exports.tables import to_csv

    yield from to_csv(invoices_table(query, today, batch), flavour, batch)


# --------------------------------------------------------------------------- one invoice


@dataclass
class TimelineEvent:
    at: datetime | None
    kind: str            # issued, paid, void, reminder, charge, email, note
    title: str
    detail: str = ""
    actor: str = ""
    failed: bool = False


@dataclass
class StoredPdfInfo:
    sha256: str
    size: int


@dataclass
class InvoiceDetail:
    invoice: Invoice
    org: OrgBillingConfig | None
    today: date
    pdf: StoredPdfInfo | None
    timeline: list[TimelineEvent]
    balance: ledger.InvoiceBalance | None = None
    ledger: list = field(default_factory=list)     # its payments ledger rows, in booking order
    org_credit: Decimal = Decimal("0.00")

    @property
    def overdue(self) -> bool:
        return self.invoice.is_overdue(self.today)

    @property
    def days_overdue(self) -> int:
        return (self.today - self.invoice.due_date).days if self.overdue else 0

    @property
    def customer(self) -> dict:
        """The customer as the invoice was issued to it (the snapshot), else the org as it is now."""
        snap = self.invoice.customer_snapshot or {}
        if snap:
            return snap
        org = self.org
        return {"name": org.name if org else self.invoice.zitadel_org_id}

    @property
    def open(self) -> bool:
        return self.invoice.status == "issued"


METHOD_LABELS = {"bank_transfer": "Bank transfer", "card": "Card", "other": "Other"}
# Audit actions the timeline already tells from the invoice itself or from its own tables.
_TOLD_ELSEWHERE = ("invoice.issue", "invoice.mark_paid", "invoice.void", "credit_note.issue")


def _audit_title(action: str) -> str:
    words = action.split(".", 1)[-1].replace("_", " ")
    return words[:1].upper() + words[1:]


def load_invoice(number: str) -> Invoice:
    """The invoice with this number (its entity joined), or InvoiceNotFoundError."""
    invoice = db.session.execute(
        sa.select(Invoice).where(Invoice.number == number.strip())
    ).scalar_one_or_none()
    if invoice is None:
        raise InvoiceNotFoundError(f"No invoice has the number {number!r}.")
    return invoice


def invoice_timeline(invoice: Invoice) -> list[TimelineEvent]:
    """What happened to the invoice, oldest first: issue, e-mails, reminders, charges, payment, void, notes."""
    tz = _zone()
    events: list[TimelineEvent] = []
    audit = list(db.session.execute(
        sa.select(AuditLog).where(AuditLog.object_type == "invoice", AuditLog.object_id == invoice.number)
        .order_by(AuditLog.occurred_at, AuditLog.id)
    ).scalars())
    by_action = {a.action: a for a in audit}

    issue = by_action.get("invoice.issue")
    events.append(TimelineEvent(
        at=invoice.issued_at, kind="issued", title="Issued",
        detail=f"due {invoice.due_date:%d.%m.%Y} ({invoice.payment_terms_days} days)"
        if invoice.payment_terms_days is not None else f"due {invoice.due_date:%d.%m.%Y}",
        actor=invoice.issued_by or (issue.actor if issue else ""),
    ))
    for mail in db.session.execute(sa.select(InvoiceEmail).where(InvoiceEmail.invoice_id == invoice.id)).scalars():
        if mail.sent_at:
            events.append(TimelineEvent(at=mail.sent_at, kind="email", title="Invoice e-mailed",
                                        detail=f"to {mail.sent_to}" if mail.sent_to else ""))
        elif mail.error:
            events.append(TimelineEvent(at=mail.created_at, kind="email", title="Invoice e-mail not sent",
                                        detail=mail.error, failed=True))
    for reminder in db.session.execute(
        sa.select(InvoiceReminder).where(InvoiceReminder.invoice_id == invoice.id).order_by(InvoiceReminder.level)
    ).scalars():
        label = "Final reminder" if reminder.level >= 3 else f"Reminder {reminder.level}"
        if reminder.sent_at:
            events.append(TimelineEvent(at=reminder.sent_at, kind="reminder", title=f"{label} sent",
                                        detail=f"to {reminder.sent_to}" if reminder.sent_to else "",
                                        actor=reminder.created_by or ""))
        else:
            events.append(TimelineEvent(at=reminder.created_at, kind="reminder",
                                        title=f"{label} {'not sent' if reminder.error else reminder.status}",
                                        detail=reminder.error or "", actor=reminder.created_by or "",
                                        failed=bool(reminder.error)))
    for attempt in db.session.execute(
        sa.select(ChargeAttempt).where(ChargeAttempt.invoice_id == invoice.id).order_by(ChargeAttempt.attempt)
    ).scalars():
        amount = Decimal(attempt.amount_minor).scaleb(-2)
        events.append(TimelineEvent(
            at=attempt.created_at, kind="charge",
            title=f"Card charge {attempt.attempt}: {attempt.status.replace('_', ' ')}",
            detail="; ".join(x for x in (f"{attempt.currency} {fmt_amount(amount)}", attempt.error,
                                         attempt.stripe_payment_intent_id) if x),
            actor=attempt.requested_by or "", failed=attempt.status in ("failed", "requires_payment_method"),
        ))
    if invoice.paid_at:
        paid = by_action.get("invoice.mark_paid")
        method = METHOD_LABELS.get(invoice.payment_method or "", invoice.payment_method or "")
        detail = ", ".join(x for x in (method, invoice.payment_reference and f"reference {invoice.payment_reference}") if x)
        if paid and paid.occurred_at.astimezone(tz).date() != invoice.paid_at.astimezone(tz).date():
            detail += f" (recorded {paid.occurred_at.astimezone(tz):%d.%m.%Y %H:%M})"
        events.append(TimelineEvent(at=invoice.paid_at, kind="paid", title="Paid", detail=detail,
                                    actor=invoice.paid_by or (paid.actor if paid else "")))
    from ..models import CreditNote

    for note in db.session.execute(
        sa.select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.id)
    ).scalars():
        events.append(TimelineEvent(at=note.issued_at, kind="credit", title=f"Credit note {note.number}",
                                    detail=f"{note.currency} {fmt_amount(note.total_chf)}: {note.reason}",
                                    actor=note.issued_by or ""))
    if invoice.voided_at:
        void = by_action.get("invoice.void")
        events.append(TimelineEvent(at=invoice.voided_at, kind="void", title="Voided",
                                    detail=invoice.void_reason or "",
                                    actor=invoice.voided_by or (void.actor if void else "")))
    for entry in audit:
        if entry.action in _TOLD_ELSEWHERE or "remind" in entry.action or "charge" in entry.action:
            continue
        events.append(TimelineEvent(at=entry.occurred_at, kind="note", title=_audit_title(entry.action),
                                    detail=entry.note or "", actor=entry.actor))
    return sorted(events, key=lambda e: (e.at is None, e.at or invoice.issued_at))


def invoice_detail(number: str, today: date) -> InvoiceDetail:
    """Everything the invoice page shows (a fixed number of statements)."""
    invoice = load_invoice(number)
    org = db.session.execute(
        sa.select(OrgBillingConfig).where(OrgBillingConfig.zitadel_org_id == invoice.zitadel_org_id)
    ).scalar_one_or_none()
    doc = db.session.execute(
        sa.select(InvoiceDocument.sha256, sa.func.length(InvoiceDocument.content))
        .where(InvoiceDocument.invoice_id == invoice.id)
    ).first()
    return InvoiceDetail(
        invoice=invoice, org=org, today=today,
        pdf=StoredPdfInfo(sha256=doc[0], size=int(doc[1] or 0)) if doc else None,
        timeline=invoice_timeline(invoice),
        balance=ledger.balance_of(invoice), ledger=ledger.ledger_for(invoice),
        org_credit=ledger.org_credit_chf(invoice.zitadel_org_id),
    )


def balance_line(invoice: Invoice) -> str:
    """"balance due CHF 8.10" / "CHF 11.90 to the org's credit" / "settled": the invoice's balance in words."""
    from ..billing.money import format_chf

    balance = ledger.balance_of(invoice).balance
    if balance > 0:
        return f"balance due {invoice.currency} {format_chf(balance)}"
    if balance < 0:
        return f"{invoice.currency} {format_chf(-balance)} to the org's credit"
    return "settled"


@dataclass
class StoredPdf:
    number: str
    content: bytes
    sha256: str


def stored_pdf(number: str) -> StoredPdf:
    """The PDF bytes stored at issue, exactly; InvoiceNotFoundError or NoStoredPdfError when there are none."""
    row = db.session.execute(
        sa.select(Invoice.number, InvoiceDocument.content, InvoiceDocument.sha256)
        .select_from(Invoice)
        .outerjoin(InvoiceDocument, InvoiceDocument.invoice_id == Invoice.id)
        .where(Invoice.number == number.strip())
    ).first()
    if row is None:
        raise InvoiceNotFoundError(f"No invoice has the number {number!r}.")
    if row.content is None:
        raise NoStoredPdfError(
            f"No PDF is stored for invoice {row.number} yet: the billing run renders it after numbering "
            f"(run `pieced-admin billing run-monthly` again if it stopped). The invoice data is complete.")
    return StoredPdf(number=row.number, content=bytes(row.content), sha256=row.sha256)


def org_page_url(org_id: str) -> str | None:
    """The org's page when the orgs pages exist (endpoint `orgs.detail`), else None."""
    for rule in current_app.url_map.iter_rules("orgs.detail") if "orgs.detail" in current_app.view_functions else ():
        if len(rule.arguments) == 1:
            return url_for("orgs.detail", **{next(iter(rule.arguments)): org_id})
    return None
