"""Preview, issue, void and mark paid: numbering, immutability and audit around the engine.

Services flush; the caller commits once. Issuing is safe to repeat and to run
concurrently: one invoice per (org, month, entity), numbers without gaps per
entity and year. The counter row is locked (an UPDATE, which PostgreSQL turns
into a row lock and SQLite into the database write lock) before the existing
invoices are looked at, so every issuer of an entity waits its turn and then
sees what the one before it committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..audit import current_actor, record_audit
from ..extensions import db
from ..models import (
    BillingEntity,
    Invoice,
    InvoiceDocument,
    InvoiceLine,
    InvoiceNumberCounter,
    OrgBillingConfig,
    PlatformPricing,
)
from ..models.dialect import dialect_name, insert_for
from ..models.types import utcnow
from .days import Period
from .engine import InvoiceDraft, compute_invoices
from .facts import OrgContext, UnknownOrgError, load_facts, load_facts_for_orgs

log = logging.getLogger(__name__)

PAYMENT_METHODS = ("bank_transfer", "card", "other")


class BillingInputError(ValueError):
    """Bad input or a state that forbids the action: a person can act on the message (CLI exit 2)."""


class InvoiceNotFoundError(BillingInputError, LookupError):
    """No invoice has this number."""


__all__ = [
    "BillingInputError", "InvoiceNotFoundError", "UnknownOrgError", "PreviewItem", "IssueResult",
    "preview_invoices", "issue_invoices", "issue_for_orgs", "void_invoice", "mark_paid", "get_invoice",
    "local_today", "invoice_number", "BatchIssueResult", "issue_batch", "existing_invoices_for_orgs",
]


# --------------------------------------------------------------------------- helpers


def billing_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BILLING_TIMEZONE"])


def local_today(now: datetime | None = None) -> date:
    """Today's date in the billing time zone."""
    return (now or clock.now()).astimezone(billing_zone()).date()


def invoice_number(prefix: str, year: int, sequence: int) -> str:
    """`<prefix>-<YYYY>-<NNNN>`: at least four digits, zero-padded."""
    return f"{prefix}-{year:04d}-{sequence:04d}"


def platform_payment_terms() -> int:
    """The platform's default payment terms in days."""
    pricing = db.session.get(PlatformPricing, 1)
    return pricing.payment_terms_days if pricing is not None else 30


def get_invoice(number: str) -> Invoice:
    """The invoice with this number, or InvoiceNotFoundError."""
    invoice = db.session.execute(sa.select(Invoice).filter_by(number=number.strip())).scalar_one_or_none()
    if invoice is None:
        raise InvoiceNotFoundError(f"unknown invoice number {number!r}")
    return invoice


def _existing_invoices(org_id: str, period: Period) -> dict[int, Invoice]:
    """Non-void invoices of an org-month, by entity id."""
    rows = db.session.execute(
        sa.select(Invoice).where(
            Invoice.zitadel_org_id == org_id,
            Invoice.period_start == period.first_day,
            Invoice.status != "void",
        )
    ).scalars()
    return {inv.billing_entity_id: inv for inv in rows}


def customer_snapshot(config: OrgBillingConfig) -> dict:
    """What the invoice says about the customer, frozen at issue."""
    return {
        "org_id": config.zitadel_org_id,
        "name": config.display_name or config.zitadel_org_id,
        "street": config.street,
        "building_number": config.building_number,
        "postal_code": config.postal_code,
        "city": config.city,
        "country": config.country,
        "vat_number": config.vat_number,
        "billing_email": config.billing_email,
        "language": config.language,
    }


def entity_snapshot(entity: BillingEntity) -> dict:
    """What the invoice says about the seller, frozen at issue."""
    return {
        "code": entity.code,
        "name": entity.name,
        "street": entity.street,
        "building_number": entity.building_number,
        "postal_code": entity.postal_code,
        "city": entity.city,
        "country": entity.country,
        "vat_number": entity.vat_number,
        "iban": entity.iban,
        "currency": entity.currency,
        "email": entity.email,
        "website": entity.website,
    }


def entity_problems(entity: BillingEntity, *, needs_iban: bool = True) -> list[str]:
    """What keeps an entity from issuing a valid Swiss invoice (its address; its IBAN for a QR-bill)."""
    problems = []
    if not (entity.street and entity.postal_code and entity.city and entity.country):
        problems.append(f"billing entity {entity.name} ({entity.code}) has no complete address")
    if needs_iban and not entity.iban:
        problems.append(f"billing entity {entity.name} ({entity.code}) has no IBAN for the QR-bill")
    return problems


# --------------------------------------------------------------------------- preview


@dataclass
class PreviewItem:
    """One draft of a preview, with the invoice already issued for it, if any."""

    draft: InvoiceDraft
    entity: BillingEntity
    existing: Invoice | None

    @property
    def issuable(self) -> bool:
        return self.existing is None and self.draft.net_chf > 0


def _entities_by_id() -> dict[int, BillingEntity]:
    return {e.id: e for e in db.session.execute(sa.select(BillingEntity)).scalars()}


def preview_invoices(org_id: str, period: Period, *, on_usage_error: str = "warn",
                     until: datetime | None = None) -> list[PreviewItem]:
    """Compute the org's invoices for a month without saving anything.

    `until` (a month not over yet): bill the tenants to that moment, as the tenant page does, not to
    the month's end.
    """
    facts, ctx = load_facts(org_id, period, on_usage_error=on_usage_error)
    if until is not None:
        facts = replace(facts, tenants=tuple(
            replace(t, deleted_at=max(t.created_at, until if t.deleted_at is None else min(t.deleted_at, until)))
            for t in facts.tenants))
    drafts = compute_invoices(facts)
    entities = _entities_by_id()
    existing = _existing_invoices(org_id, period)
    items = []
    for d in drafts:
        entity = entities[d.billing_entity_id]
        problems = entity_problems(entity, needs_iban=ctx.config.pay_by_invoice)
        if problems and not existing.get(d.billing_entity_id):
            d = replace(d, warnings=d.warnings + tuple(f"{p}: set it on the Entities page before issuing"
                                                       for p in problems))
        items.append(PreviewItem(d, entity, existing.get(d.billing_entity_id)))
    return items


# --------------------------------------------------------------------------- issue


@dataclass
class IssueResult:
    """What issuing an org-month did."""

    org_id: str
    period: Period
    issued: list[Invoice] = field(default_factory=list)     # created now
    existing: list[Invoice] = field(default_factory=list)   # issued before: nothing created
    skipped: list[InvoiceDraft] = field(default_factory=list)  # net 0: not issued
    warnings: list[str] = field(default_factory=list)

    @property
    def invoices(self) -> list[Invoice]:
        return sorted(self.issued + self.existing, key=lambda i: i.billing_entity_id)


# Renders the PDF of each new invoice (number set, lines attached, not yet flushed).
PdfRenderer = Callable[[Sequence[Invoice]], Sequence[bytes]]


def render_pdfs_in_process(invoices: Sequence[Invoice]) -> list[bytes]:
    """The default renderer: one invoice after the other, in this process."""
    from .pdf import render_invoice_pdf

    return [render_invoice_pdf(inv) for inv in invoices]


def _lock_counter(entity_id: int, year: int) -> None:
    """Make sure the (entity, year) counter exists and hold its lock until the transaction ends."""
    table = InvoiceNumberCounter.__table__
    insert = insert_for(table)
    db.session.execute(
        insert.values(billing_entity_id=entity_id, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["billing_entity_id", "year"])
    )
    db.session.execute(
        sa.update(table).where(table.c.billing_entity_id == entity_id, table.c.year == year)
        .values(last_number=table.c.last_number)
    )


def _next_numbers(entity_id: int, year: int, count: int) -> list[int]:
    table = InvoiceNumberCounter.__table__
    last = db.session.execute(
        sa.update(table).where(table.c.billing_entity_id == entity_id, table.c.year == year)
        .values(last_number=table.c.last_number + count)
        .returning(table.c.last_number)
    ).scalar_one()
    return list(range(last - count + 1, last + 1))


def _build_invoice(draft: InvoiceDraft, number: str, config: OrgBillingConfig, entity: BillingEntity,
                   issued_at: datetime, issued_by: str, default_terms: int) -> Invoice:
    terms = config.payment_terms_days if config.payment_terms_days is not None else default_terms
    issue_day = issued_at.astimezone(billing_zone()).date()
    invoice = Invoice(
        number=number,
        zitadel_org_id=config.zitadel_org_id,
        billing_entity_id=entity.id,
        period_start=draft.period_start,
        period_end=draft.period_end,
        status="issued",
        issued_at=issued_at,
        due_date=issue_day + timedelta(days=terms),
        currency=draft.currency,
        net_chf=draft.net_chf,
        vat_rate=draft.vat_rate,
        vat_chf=draft.vat_chf,
        total_chf=draft.total_chf,
        vat_note=draft.vat_note,
        payment_terms_days=terms,
        language=config.language,
        issued_by=issued_by,
        customer_snapshot=customer_snapshot(config),
        entity_snapshot=entity_snapshot(entity),
        charge_status=None if config.pay_by_invoice else "pending",
    )
    invoice.entity = entity
    invoice.lines = [
        InvoiceLine(
            tenant_name=line.tenant_name, kind=line.kind, skill_id=line.skill_id, description=line.description,
            quantity=line.quantity, unit_price_chf=line.unit_price_chf, amount_chf=line.amount_chf,
            position=line.position,
        )
        for line in draft.lines
    ]
    return invoice


def _issue_one(draft: InvoiceDraft, config: OrgBillingConfig, entity: BillingEntity, year: int,
               issued_at: datetime, actor: str, render_pdfs: PdfRenderer | None) -> tuple[Invoice, bool]:
    """Number, build, render and store one invoice inside a savepoint (undone whole on failure).

    Returns the invoice and whether it was created now (False: issued before).
    """
    with db.session.begin_nested():
        _lock_counter(entity.id, year)
        existing = _existing_invoices(draft.org_id, draft.period).get(entity.id)
        if existing is not None:
            return existing, False
        (sequence,) = _next_numbers(entity.id, year, 1)
        invoice = _build_invoice(draft, invoice_number(entity.invoice_prefix, year, sequence), config,
                                 entity, issued_at, actor, platform_payment_terms())
        pdf = None
        if render_pdfs is not None:
            (pdf,) = render_pdfs([invoice])
            invoice.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        db.session.add(invoice)
        db.session.flush()
        if pdf is not None:
            db.session.add(InvoiceDocument(invoice_id=invoice.id, content=pdf, sha256=invoice.pdf_sha256))
        record_audit(
            "invoice.issue", "invoice", invoice.number,
            after={"org": draft.org_id, "period": draft.period.key, "entity": entity.code,
                   "net_chf": invoice.net_chf, "vat_chf": invoice.vat_chf, "total_chf": invoice.total_chf,
                   "due_date": invoice.due_date, "lines": len(invoice.lines)},
        )
        db.session.flush()
    return invoice, True


def issue_drafts(
    drafts: Sequence[InvoiceDraft],
    config: OrgBillingConfig,
    *,
    now: datetime | None = None,
    render_pdfs: PdfRenderer | None = render_pdfs_in_process,
) -> IssueResult:
    """Issue the drafts of one org-month: number, store, render and keep the PDF; flush, don't commit."""
    if not drafts:
        raise ValueError("nothing to issue")
    org_id, period = drafts[0].org_id, drafts[0].period
    result = IssueResult(org_id=org_id, period=period)
    issued_at = (now or utcnow()).astimezone(timezone.utc)
    year = issued_at.astimezone(billing_zone()).year
    actor, _user_id = current_actor()
    entities = _entities_by_id()

    for draft in sorted(drafts, key=lambda d: d.billing_entity_id):
        result.warnings.extend(w for w in draft.warnings if w not in result.warnings)
        if draft.net_chf <= 0:
            result.skipped.append(draft)
            continue
        entity = entities[draft.billing_entity_id]
        problems = entity_problems(entity, needs_iban=config.pay_by_invoice)
        if problems and not _existing_invoices(org_id, period).get(entity.id):
            raise BillingInputError("; ".join(problems) + ": set it on the Entities page before issuing")
        try:
            invoice, created = _issue_one(draft, config, entity, year, issued_at, actor, render_pdfs)
        except sa.exc.IntegrityError:
            # Another issuer won a race the counter lock did not cover (e.g. across a
            # new year): our savepoint, counter increment included, is gone; use theirs.
            invoice = _existing_invoices(org_id, period).get(entity.id)
            if invoice is None:
                raise
            result.existing.append(invoice)
            continue
        (result.issued if created else result.existing).append(invoice)
    return result


def issue_invoices(
    org_id: str,
    period: Period,
    *,
    now: datetime | None = None,
    render_pdfs: PdfRenderer | None = render_pdfs_in_process,
) -> IssueResult:
    """Issue an org's invoices for a month (idempotent). LiteLLM failures propagate: no invoice misses usage."""
    existing = _existing_invoices(org_id, period)
    facts, ctx = load_facts(org_id, period, on_usage_error="raise")
    drafts = compute_invoices(facts)
    if existing and all(d.billing_entity_id in existing or d.net_chf <= 0 for d in drafts):
        # Everything is issued already: nothing to lock, nothing to render.
        result = IssueResult(org_id=org_id, period=period)
        for d in drafts:
            (result.existing.append(existing[d.billing_entity_id]) if d.billing_entity_id in existing
             else result.skipped.append(d))
        return result
    return issue_drafts(drafts, ctx.config, now=now, render_pdfs=render_pdfs)


def issue_for_orgs(org_ids: Sequence[str], period: Period, **kwargs) -> dict[str, tuple[list[InvoiceDraft], OrgContext]]:
    """Drafts for many orgs at once (the monthly run), loaded in a constant number of queries."""
    loaded = load_facts_for_orgs(org_ids, period, on_usage_error="raise")
    return {org_id: (compute_invoices(facts), ctx) for org_id, (facts, ctx) in loaded.items()}


# --------------------------------------------------------------------------- batch issue (the monthly run)

# Renders the PDFs of many new invoices at once; one result per invoice, in order:
# the PDF bytes, or the exception that stopped that one invoice (the others go on).
BatchPdfRenderer = Callable[[Sequence[Invoice]], Sequence["bytes | BaseException"]]


@dataclass
class BatchIssueResult:
    """What issuing a batch of org-months did: per org as `issue_invoices` says it, plus the orgs refused.

    The invoices issued now are the objects as built, with their ids, lines and
    PDF hash set but not attached to the session (they were inserted in bulk);
    `db.session.get(Invoice, invoice.id)` loads one when the ORM is needed.
    """

    period: Period
    results: dict[str, IssueResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # org -> why none of its invoices was issued

    @property
    def issued(self) -> list[Invoice]:
        return [inv for r in self.results.values() for inv in r.issued]


def existing_invoices_for_orgs(org_ids: Sequence[str], period: Period) -> dict[tuple[str, int], Invoice]:
    """Non-void invoices of these orgs for a month, by (org, entity id): one query per 500 orgs."""
    found: dict[tuple[str, int], Invoice] = {}
    ids = list(dict.fromkeys(org_ids))
    for i in range(0, len(ids), 500):
        for inv in db.session.execute(
            sa.select(Invoice).where(
                Invoice.zitadel_org_id.in_(ids[i:i + 500]),
                Invoice.period_start == period.first_day,
                Invoice.status != "void",
            )
        ).scalars():
            found[(inv.zitadel_org_id, inv.billing_entity_id)] = inv
    return found


def _lock_counters(entity_ids: Sequence[int], year: int) -> dict[int, int]:
    """Lock the (entity, year) counters in entity order (no deadlock between batches); their last numbers."""
    table = InvoiceNumberCounter.__table__
    insert = insert_for(table)
    entity_ids = sorted(set(entity_ids))
    db.session.execute(
        insert.values([{"billing_entity_id": e, "year": year, "last_number": 0} for e in entity_ids])
        .on_conflict_do_nothing(index_elements=["billing_entity_id", "year"])
    )
    last: dict[int, int] = {}
    for entity_id in entity_ids:
        last[entity_id] = db.session.execute(
            sa.update(table).where(table.c.billing_entity_id == entity_id, table.c.year == year)
            .values(last_number=table.c.last_number)
            .returning(table.c.last_number)
        ).scalar_one()
    return last


def issue_batch(
    orgs: Sequence[tuple[Sequence[InvoiceDraft], OrgBillingConfig]],
    period: Period,
    *,
    now: datetime | None = None,
    render_pdfs: BatchPdfRenderer | None = None,
) -> BatchIssueResult:
    """Issue the drafts of many orgs for one month in the caller's transaction; flush, don't commit.

    The counters of the entities involved are locked (in entity order) before the
    existing invoices are looked at, exactly as `issue_drafts` does for one org,
    then each entity gets a block of consecutive numbers, all PDFs are rendered
    at once and everything is inserted in a constant number of statements
    (`_insert_issued`: COPY on PostgreSQL). An org
    whose PDF cannot be rendered is left out whole (reported in `failed`) and
    the numbers are handed out again without it, so the block has no gap; a
    failure of the batch itself (rolled back by the caller) takes its numbers
    with it, since the counters move in the same transaction.
    """
    result = BatchIssueResult(period=period)
    issued_at = (now or utcnow()).astimezone(timezone.utc)
    year = issued_at.astimezone(billing_zone()).year
    actor, _user_id = current_actor()

    wanted: list[tuple[InvoiceDraft, OrgBillingConfig]] = []
    for drafts, config in orgs:
        org_result = result.results.setdefault(config.zitadel_org_id, IssueResult(config.zitadel_org_id, period))
        for draft in sorted(drafts, key=lambda d: d.billing_entity_id):
            if draft.org_id != config.zitadel_org_id or draft.period != period:
                raise ValueError(f"draft of {draft.org_id} {draft.period.key} handed in for "
                                 f"{config.zitadel_org_id} {period.key}")
            org_result.warnings.extend(w for w in draft.warnings if w not in org_result.warnings)
            if draft.net_chf <= 0:
                org_result.skipped.append(draft)
            else:
                wanted.append((draft, config))
    if not wanted:
        return result

    entities = _entities_by_id()
    default_terms = platform_payment_terms()
    last = _lock_counters([d.billing_entity_id for d, _ in wanted], year)
    existing = existing_invoices_for_orgs(list(result.results), period)
    todo: list[tuple[InvoiceDraft, OrgBillingConfig]] = []
    for draft, config in wanted:
        invoice = existing.get((draft.org_id, draft.billing_entity_id))
        if invoice is not None:
            result.results[draft.org_id].existing.append(invoice)
            continue
        problems = entity_problems(entities[draft.billing_entity_id], needs_iban=config.pay_by_invoice)
        if problems:  # as `issue_drafts` refuses it: the org is left out whole
            result.failed.setdefault(draft.org_id, "; ".join(problems) + ": set it on the Entities page before issuing")
        todo.append((draft, config))
    # Numbers follow the order of the orgs in the batch, per entity.
    todo.sort(key=lambda item: item[0].billing_entity_id)

    rendered: dict[tuple[str, int, str], bytes] = {}  # (org, entity, number) -> PDF: kept across re-numbering
    while True:
        sequence = dict(last)
        built: list[tuple[Invoice, InvoiceDraft]] = []
        for draft, config in todo:
            if draft.org_id in result.failed:
                continue
            entity = entities[draft.billing_entity_id]
            sequence[entity.id] += 1
            number = invoice_number(entity.invoice_prefix, year, sequence[entity.id])
            built.append((_build_invoice(draft, number, config, entity, issued_at, actor, default_terms), draft))
        if render_pdfs is None or not built:
            break
        missing = [inv for inv, _d in built if (inv.zitadel_org_id, inv.billing_entity_id, inv.number) not in rendered]
        newly_failed = False
        for invoice, outcome in zip(missing, render_pdfs(missing), strict=True):
            if isinstance(outcome, BaseException):
                # The number was only provisional: it goes to the next org, so it is not named.
                result.failed.setdefault(
                    invoice.zitadel_org_id,
                    f"the PDF of its {invoice.entity.code} invoice could not be rendered, so nothing was issued: "
                    f"{outcome}")
                newly_failed = True
            else:
                rendered[(invoice.zitadel_org_id, invoice.billing_entity_id, invoice.number)] = outcome
        if not newly_failed:
            break
        # An org dropped out: number the rest again (only the invoices whose number moved are rendered again).

    if not built:
        return result
    invoices = [invoice for invoice, _draft in built]
    documents: list[tuple[Invoice, bytes]] = []
    if render_pdfs is not None:
        for invoice in invoices:
            pdf = rendered[(invoice.zitadel_org_id, invoice.billing_entity_id, invoice.number)]
            invoice.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
            documents.append((invoice, pdf))
    _insert_issued(invoices, documents)
    for invoice, draft in built:
        result.results[draft.org_id].issued.append(invoice)
        record_audit(
            "invoice.issue", "invoice", invoice.number,
            after={"org": draft.org_id, "period": period.key, "entity": invoice.entity.code,
                   "net_chf": invoice.net_chf, "vat_chf": invoice.vat_chf, "total_chf": invoice.total_chf,
                   "due_date": invoice.due_date, "lines": len(invoice.lines)},
        )
    table = InvoiceNumberCounter.__table__
    for entity_id, value in sorted(sequence.items()):
        if value != last[entity_id]:
            db.session.execute(
                sa.update(table).where(table.c.billing_entity_id == entity_id, table.c.year == year)
                .values(last_number=value)
            )
    db.session.flush()
    return result


_LINE_COLUMNS = ("invoice_id", "tenant_name", "kind", "skill_id", "description", "quantity", "unit_price_chf",
                 "amount_chf", "position")


def _copy_rows(table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """PostgreSQL COPY … FROM STDIN in the session's transaction (statement listeners see it like any other)."""
    connection = db.session.connection()
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor:
        connection.dispatch.before_cursor_execute(connection, cursor, sql, (), None, True)
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def _insert_issued(invoices: Sequence[Invoice], documents: Sequence[tuple[Invoice, bytes]]) -> None:
    """Insert new invoices, their lines and PDFs in a constant number of statements; sets each invoice's id.

    The ORM is bypassed (tens of thousands of line objects would cost more than
    the database does): the invoices stay as built, not attached to the session.
    PostgreSQL takes ids from the sequence in one statement and the rows by COPY;
    other databases take multi-row INSERTs.
    """
    mapper = sa.inspect(Invoice)
    attrs = [(a.key, a.columns[0]) for a in mapper.column_attrs if a.key != "id"]
    # Leave out server-defaulted columns nobody set, so the database fills them.
    attrs = [(key, col) for key, col in attrs
             if col.server_default is None or any(getattr(inv, key) is not None for inv in invoices)]
    table = Invoice.__table__
    if dialect_name() == "postgresql":
        from psycopg.types.json import Json

        ids = db.session.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('invoices', 'id')) FROM generate_series(1, :n)"),
            {"n": len(invoices)},
        ).scalars().all()
        for invoice, invoice_id in zip(invoices, sorted(ids), strict=True):
            invoice.id = invoice_id

        def value(col, v):
            return Json(v) if v is not None and isinstance(col.type, sa.JSON) else v

        _copy_rows("invoices", ["id", *(col.name for _k, col in attrs)],
                   [(inv.id, *(value(col, getattr(inv, key)) for key, col in attrs)) for inv in invoices])
        _copy_rows("invoice_lines", _LINE_COLUMNS,
                   [(inv.id, *(getattr(line, c) for c in _LINE_COLUMNS[1:])) for inv in invoices for line in inv.lines])
        if documents:
            _copy_rows("invoice_documents", ("invoice_id", "content", "sha256"),
                       [(inv.id, pdf, inv.pdf_sha256) for inv, pdf in documents])
        return
    ids = db.session.execute(
        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [{col.key: getattr(inv, key) for key, col in attrs} for inv in invoices],
    ).scalars().all()
    for invoice, invoice_id in zip(invoices, ids, strict=True):
        invoice.id = invoice_id
    db.session.execute(sa.insert(InvoiceLine.__table__), [
        {"invoice_id": inv.id, **{c: getattr(line, c) for c in _LINE_COLUMNS[1:]}}
        for inv in invoices for line in inv.lines])
    if documents:
        db.session.execute(sa.insert(InvoiceDocument.__table__),
                           [{"invoice_id": inv.id, "content": pdf, "sha256": inv.pdf_sha256} for inv, pdf in documents])


# --------------------------------------------------------------------------- void and mark paid


def void_invoice(number: str, reason: str, *, now: datetime | None = None) -> Invoice:
    """Void an unpaid invoice; its number stays used and the month can be issued again."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingInputError("a reason is required to void an invoice")
    invoice = get_invoice(number)
    if invoice.status == "void":
        raise BillingInputError(f"invoice {invoice.number} is already void")
    if invoice.status == "paid":
        raise BillingInputError(f"invoice {invoice.number} is paid and cannot be voided")
    actor, _ = current_actor()
    invoice.status = "void"
    invoice.voided_at = now or utcnow()
    invoice.void_reason = reason
    invoice.voided_by = actor
    if invoice.charge_status in ("pending", "no_payment_method", "failed"):
        invoice.charge_status = "cancelled"
    record_audit("invoice.void", "invoice", invoice.number, before={"status": "issued"},
                 after={"status": "void", "void_reason": reason})
    db.session.flush()
    return invoice


def mark_paid(
    number: str,
    *,
    paid_on: date | None = None,
    reference: str | None = None,
    method: str = "bank_transfer",
    now: datetime | None = None,
) -> Invoice:
    """Record a payment of an issued invoice (refused for paid or void ones)."""
    if method not in PAYMENT_METHODS:
        raise BillingInputError(f"unknown payment method {method!r}: use one of {', '.join(PAYMENT_METHODS)}")
    invoice = get_invoice(number)
    if invoice.status == "paid":
        raise BillingInputError(f"invoice {invoice.number} is already paid (on {invoice.paid_at.astimezone(billing_zone()).date().isoformat()})")
    if invoice.status == "void":
        raise BillingInputError(f"invoice {invoice.number} is void and cannot be paid")
    now = now or utcnow()
    today = local_today(now)
    paid_on = paid_on or today
    if paid_on > today:
        raise BillingInputError(f"the payment date {paid_on.isoformat()} is in the future")
    issued_day = invoice.issued_at.astimezone(billing_zone()).date()
    if paid_on < issued_day:
        raise BillingInputError(
            f"the payment date {paid_on.isoformat()} is before the invoice was issued ({issued_day.isoformat()})")
    # A past day is recorded at local noon, so its date reads the same in every time zone nearby.
    paid_at = now if paid_on == today else datetime.combine(paid_on, time(12), tzinfo=billing_zone())
    actor, _ = current_actor()
    invoice.status = "paid"
    invoice.paid_at = paid_at.astimezone(timezone.utc)
    invoice.payment_reference = (reference or "").strip() or None
    invoice.payment_method = method
    invoice.paid_by = actor
    if invoice.charge_status in ("pending", "no_payment_method", "failed"):
        invoice.charge_status = "settled_otherwise"
    record_audit("invoice.mark_paid", "invoice", invoice.number, before={"status": "issued"},
                 after={"status": "paid", "paid_on": paid_on, "reference": invoice.payment_reference,
                        "method": method, "total_chf": invoice.total_chf})
    db.session.flush()
    return invoice


def outstanding_chf(invoice: Invoice) -> Decimal:
    """What is still owed on an invoice (no partial payments: the total until paid)."""
    return invoice.total_chf if invoice.status == "issued" else Decimal("0.00")
