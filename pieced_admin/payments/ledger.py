"""The payments ledger: balances due, credit balances, and every write to the ledger (SPEC §6).

One append-only row per movement of money (`models.payments.Payment`). What an
invoice still owes is computed, never stored:

    balance due = owed − payments allocated to it
    owed        = total_chf − its credit notes' totals     (0 for a void invoice)

`balance_expr()` is the one place that says so; every page, filter, reminder
and service reads balances through it (or `balance_of`, which runs it). A
negative balance is money the org has to its credit, and so is a ledger row
allocated to the org alone (an overpayment assigned to the org, a bank refund).

Credit notes (issue 11) plug in at `credited_expr()`: as soon as a
`credit_notes` table with `invoice_id` and `total_chf` is in the metadata, its
totals per invoice are subtracted. Until then the credited total is 0.

Every state change of an invoice locks its row first (`lock_invoice`) and
re-reads it inside the lock; writes flush, the caller commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..audit import current_actor, record_audit
from ..extensions import db
from ..models import Invoice, Payment
from ..models.dialect import dialect_name, insert_for

ZERO = Decimal("0.00")

__all__ = [
    "lock_invoice", "paid_expr", "credited_expr", "balance_expr", "balance_of", "balances_of", "record",
    "settle", "org_credit_chf", "org_credits", "ledger_for", "InvoiceBalance", "ZERO", "credit_total_expr",
]


# --------------------------------------------------------------------------- locking


def lock_invoice(invoice_id: int | None = None, *, number: str | None = None) -> Invoice | None:
    """Hold the invoice's row until the transaction ends and read it fresh (None when there is none).

    PostgreSQL: `SELECT … FOR UPDATE`, so a second writer waits and then reads
    what the first committed. SQLite: a no-op UPDATE takes the database write
    lock, which serialises every writer the same way.
    """
    where = Invoice.id == invoice_id if invoice_id is not None else Invoice.number == (number or "").strip()
    stmt = sa.select(Invoice).where(where).execution_options(populate_existing=True)
    if dialect_name() == "postgresql":
        return db.session.execute(stmt.with_for_update(of=Invoice.__table__)).scalar_one_or_none()
    table = Invoice.__table__
    db.session.execute(sa.update(table).where(where).values(status=table.c.status))
    return db.session.execute(stmt).scalar_one_or_none()


# --------------------------------------------------------------------------- the balance


def paid_expr(invoice=Invoice):
    """The sum of the ledger rows allocated to `invoice` (a correlated scalar subquery)."""
    return (sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_chf), 0))
            .where(Payment.invoice_id == invoice.id).correlate(invoice).scalar_subquery())


def credited_expr(invoice=Invoice):
    """The total of `invoice`'s credit notes: the hook for issue 11's `credit_notes` table (0 without it)."""
    table = db.metadata.tables.get("credit_notes")
    if table is None:
        return sa.literal(0, Payment.amount_chf.type)
    return (sa.select(sa.func.coalesce(sa.func.sum(table.c.total_chf), 0))
            .where(table.c.invoice_id == invoice.id).correlate(invoice).scalar_subquery())


def balance_expr(invoice=Invoice, *, paid=None, credited=None):
    """What `invoice` still owes: total − credit notes − payments (a void invoice owes nothing)."""
    paid = paid_expr(invoice) if paid is None else paid
    credited = credited_expr(invoice) if credited is None else credited
    owed = sa.case((invoice.status == "void", 0), else_=invoice.total_chf - credited)
    return owed - paid


def credit_total_expr(invoice=Invoice):
    """What an invoice holds to its org's credit: the negative part of its balance, as a positive amount."""
    balance = balance_expr(invoice)
    return sa.case((balance < 0, -balance), else_=0)


@dataclass(frozen=True)
class InvoiceBalance:
    """The money of one invoice as the ledger sees it."""

    total: Decimal
    credited: Decimal
    paid: Decimal
    balance: Decimal

    @property
    def partly_paid(self) -> bool:
        return self.paid > 0 and self.balance > 0

    @property
    def credit(self) -> Decimal:
        return -self.balance if self.balance < 0 else ZERO


def _q(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def balances_of(invoice_ids) -> dict[int, InvoiceBalance]:
    """Balances of these invoices, by id (one statement)."""
    ids = list(dict.fromkeys(invoice_ids))
    if not ids:
        return {}
    paid, credited = paid_expr(), credited_expr()
    rows = db.session.execute(
        sa.select(Invoice.id, Invoice.total_chf, Invoice.status, credited, paid).where(Invoice.id.in_(ids))
    )
    out = {}
    for invoice_id, total, status, credited_v, paid_v in rows:
        owed = ZERO if status == "void" else _q(total) - _q(credited_v)
        out[invoice_id] = InvoiceBalance(_q(total), _q(credited_v), _q(paid_v), owed - _q(paid_v))
    return out


def balance_of(invoice: Invoice) -> InvoiceBalance:
    """The balance of one invoice (one statement)."""
    return balances_of([invoice.id])[invoice.id]


def paid_per_invoice(*, of_status: str | None = None):
    """(invoice_id, paid): the ledger summed per invoice, optionally only for invoices of one status."""
    stmt = sa.select(Payment.invoice_id.label("invoice_id"), sa.func.sum(Payment.amount_chf).label("paid")) \
        .where(Payment.invoice_id.is_not(None))
    if of_status is not None:
        stmt = stmt.where(Payment.invoice_id.in_(sa.select(Invoice.id).where(Invoice.status == of_status)))
    return stmt.group_by(Payment.invoice_id).subquery("paid_per_invoice")


def credit_invoices(org_ids=None):
    """(id, org, amount) of the invoices holding credit (balance below 0), from one grouped pass.

    Cheaper than `credit_total_expr()` row by row when every invoice is looked
    at (the dashboard, the list's "credit" filter): the ledger is summed once
    and joined, instead of a lookup per invoice.
    """
    stmt = sa.select(Payment.invoice_id.label("invoice_id"), sa.func.sum(Payment.amount_chf).label("paid")) \
        .where(Payment.invoice_id.is_not(None))
    if org_ids is not None:
        stmt = stmt.where(Payment.zitadel_org_id.in_(list(org_ids)))
    paid = stmt.group_by(Payment.invoice_id).subquery("paid_per_invoice")
    balance = balance_expr(Invoice, paid=paid.c.paid)
    return (sa.select(Invoice.id.label("id"), Invoice.zitadel_org_id.label("org"), (-balance).label("amount"))
            .join(paid, paid.c.invoice_id == Invoice.id).where(balance < 0))


def org_credits(org_ids=None) -> dict[str, Decimal]:
    """Credit balances by org (only orgs that have one): negative invoice balances plus org-level rows."""
    per_invoice = credit_invoices(org_ids).subquery("per_invoice")
    per_org = (sa.select(Payment.zitadel_org_id.label("org"), Payment.amount_chf.label("amount"))
               .where(Payment.invoice_id.is_(None), Payment.zitadel_org_id.is_not(None)))
    if org_ids is not None:
        per_org = per_org.where(Payment.zitadel_org_id.in_(list(org_ids)))
    both = sa.union_all(sa.select(per_invoice.c.org, per_invoice.c.amount), per_org).subquery("credits")
    rows = db.session.execute(sa.select(both.c.org, sa.func.sum(both.c.amount)).group_by(both.c.org))
    return {org: _q(amount) for org, amount in rows if _q(amount) > 0}


def org_credit_chf(org_id: str) -> Decimal:
    """The org's credit balance (0.00 when it has none)."""
    return org_credits([org_id]).get(org_id, ZERO)


def ledger_for(invoice: Invoice) -> list[Payment]:
    """The ledger rows of an invoice, in booking order."""
    return list(db.session.execute(
        sa.select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.booked_on, Payment.id)
    ).scalars())


# --------------------------------------------------------------------------- writing


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BILLING_TIMEZONE"])


def new_source_id(prefix: str) -> str:
    """A unique source id for a row a person records (a manual payment has no outside id)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def record(*, amount: Decimal, booked_on: date, method: str, source: str, source_id: str,
           invoice: Invoice | None = None, org_id: str | None = None, reference: str | None = None,
           currency: str = "CHF", kind: str = "payment", debtor_name: str | None = None,
           note: str | None = None, file_name: str | None = None, settles: int | None = None) -> Payment | None:
    """Append one ledger row; None when the source already delivered this id (nothing written)."""
    actor, _ = current_actor()
    table = Payment.__table__
    values = dict(
        invoice_id=invoice.id if invoice is not None else None,
        zitadel_org_id=invoice.zitadel_org_id if invoice is not None else org_id,
        amount_chf=Decimal(amount).quantize(Decimal("0.01")), currency=currency, booked_on=booked_on,
        method=method, reference=(reference or "").strip()[:200] or None, source=source,
        source_id=source_id[:300], created_by=actor, created_at=clock.now(), kind=kind,
        debtor_name=(debtor_name or "")[:200] or None, note=note, file_name=(file_name or "")[:300] or None,
        settles_payment_id=settles,
    )
    new_id = db.session.execute(
        insert_for(table).values(**values)
        .on_conflict_do_nothing(index_elements=["source", "source_id"]).returning(table.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        return None
    return db.session.get(Payment, new_id)


def _paid_at(booked_on: date, now: datetime | None = None) -> datetime:
    now = now or clock.now()
    if booked_on == now.astimezone(_zone()).date():
        return now.astimezone(timezone.utc)
    # A past day is recorded at local noon, so its date reads the same in every time zone nearby.
    return datetime.combine(booked_on, time(12), tzinfo=_zone()).astimezone(timezone.utc)


def settle(invoice: Invoice, payment: Payment | None = None, *, now: datetime | None = None) -> str | None:
    """Bring the invoice's status in line with its balance, inside its lock: "paid", "reopened" or None.

    Covered (balance ≤ 0) → paid, `paid_at` the booking day of the payment that
    completed it; a reversal or refund that uncovers a paid invoice reopens it.
    """
    balance = balance_of(invoice).balance
    if invoice.status == "issued" and balance <= 0 and payment is not None and payment.amount_chf > 0:
        actor, _ = current_actor()
        invoice.status = "paid"
        invoice.paid_at = _paid_at(payment.booked_on, now)
        invoice.payment_reference = payment.reference
        invoice.payment_method = payment.method if payment.method in ("bank_transfer", "card") else "other"
        invoice.paid_by = actor
        if invoice.charge_status in ("pending", "no_payment_method", "failed", "requires_action"):
            invoice.charge_status = "settled_otherwise" if payment.method != "card" else invoice.charge_status
        db.session.flush()
        return "paid"
    if invoice.status == "paid" and balance > 0:
        before = {"status": "paid", "paid_at": invoice.paid_at, "payment_reference": invoice.payment_reference}
        invoice.status = "issued"
        invoice.paid_at = None
        invoice.payment_reference = None
        invoice.payment_method = None
        invoice.paid_by = None
        record_audit("invoice.reopened", "invoice", invoice.number, before=before,
                     after={"status": "issued", "balance_chf": balance},
                     note=f"balance due again after ledger row {payment.id if payment else '?'}")
        db.session.flush()
        return "reopened"
    return None


# --------------------------------------------------------------------------- credit balances


def lock_org_credit(org_id: str) -> None:
    """Hold the org's credit balance until the transaction ends: whoever uses or refunds it waits its turn.

    The credit that sits on the org itself (rows without an invoice) has no
    row to lock, so every consumer (a new invoice applying it, a refund) takes
    the org's billing lock first: PostgreSQL's transaction advisory lock, the
    one billing runs hold per org (re-entrant within a transaction). SQLite
    needs nothing more: its transactions begin with the write lock
    (BEGIN IMMEDIATE, `models/sqlite.py`), which serialises every writer.
    """
    from ..billing.monthly import org_lock_key

    if dialect_name() == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(org_lock_key(org_id))))


def credit_sources(org_id: str) -> list[tuple[Invoice | None, Decimal]]:
    """Where the org's credit sits, oldest first: its invoices paid more than owed, then the org's own rows.

    Takes the org's credit lock first, so what is returned stays the org's until the transaction ends.
    """
    lock_org_credit(org_id)
    credit = credit_total_expr()
    rows = db.session.execute(
        sa.select(Invoice.id, credit).where(Invoice.zitadel_org_id == org_id, credit > 0)
        .order_by(Invoice.issued_at, Invoice.id)
    ).all()
    sources: list[tuple[Invoice | None, Decimal]] = []
    for invoice_id, _amount in rows:
        invoice = lock_invoice(invoice_id)   # re-read inside the lock: what is left is what counts
        left = balance_of(invoice).credit
        if left > 0:
            sources.append((invoice, left))
    pool = _q(db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_chf), 0))
        .where(Payment.invoice_id.is_(None), Payment.zitadel_org_id == org_id)
    ).scalar_one())
    if pool > 0:
        sources.append((None, pool))
    return sources


def apply_credit(invoice: Invoice, amount: Decimal) -> Decimal:
    """Move up to `amount` of the org's credit balance onto `invoice` (just issued); returns what was moved.

    Each move is two rows that net to zero in the ledger: the credit taken
    off where it sat (an overpaid invoice or the org) and put on the invoice.
    """
    amount = Decimal(amount).quantize(Decimal("0.01"))
    moved = ZERO
    booked = clock.now().astimezone(_zone()).date()
    for source, available in credit_sources(invoice.zitadel_org_id):
        take = min(available, amount - moved)
        if take <= 0:
            break
        where = f"invoice {source.number}" if source is not None else "the org's credit"
        key = f"credit-{invoice.id}-from-{('invoice-' + str(source.id)) if source is not None else 'org'}"
        out = record(amount=-take, booked_on=booked, method="credit", source="manual", source_id=f"{key}-out",
                     invoice=source, org_id=invoice.zitadel_org_id, currency=invoice.currency, kind="credit_applied",
                     note=f"credit used on invoice {invoice.number}")
        into = record(amount=take, booked_on=booked, method="credit", source="manual", source_id=f"{key}-in",
                      invoice=invoice, currency=invoice.currency, kind="credit_applied",
                      reference=f"credit from {where}", note=f"credit from {where}", settles=out.id if out else None)
        if out is None or into is None:
            continue
        moved += take
    if moved:
        record_audit("invoice.credit_applied", "invoice", invoice.number,
                     after={"credit_applied_chf": moved, "balance_chf": balance_of(invoice).balance})
        settle(invoice, _last_row(invoice))
    return moved


def _last_row(invoice: Invoice) -> Payment | None:
    return db.session.execute(sa.select(Payment).where(Payment.invoice_id == invoice.id)
                              .order_by(Payment.id.desc()).limit(1)).scalar_one_or_none()
