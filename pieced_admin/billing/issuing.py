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


def voided_invoices(org_ids: Sequence[str], period: Period) -> dict[str, list[Invoice]]:
    """Void invoices of these orgs for a month, latest void first: what a re-issue replaces."""
    found: dict[str, list[Invoice]] = {}
    ids = list(dict.fromkeys(org_ids))
    for i in range(0, len(ids), 500):
        for inv in db.session.execute(
            sa.select(Invoice).where(Invoice.zitadel_org_id.in_(ids[i:i + 500]),
                                     Invoice.period_start == period.first_day, Invoice.status == "void")
            .order_by(Invoice.voided_at.desc(), Invoice.id.desc())
        ).scalars():
            found.setdefault(inv.zitadel_org_id, []).append(inv)
    return found


def replaced_invoice(draft: InvoiceDraft, voided: Sequence[Invoice]) -> Invoice | None:
    """The void invoice a new one replaces: the latest voided of its org-month that billed one of its tenants
    (under its entity first), else the latest voided of its entity."""
    tenants = {line.tenant_name for line in draft.lines}
    shared = [v for v in voided if tenants & {line.tenant_name for line in v.lines}]
    for candidates in ([v for v in shared if v.billing_entity_id == draft.billing_entity_id], shared,
                       [v for v in voided if v.billing_entity_id == draft.billing_entity_id]):
        if candidates:
            return candidates[0]
    return None


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


def _vat_number_problem(entity: BillingEntity) -> str | None:
    from .qr import uid_digits

    if uid_digits(entity.vat_number) is None:
        shown = f"VAT number {entity.vat_number!r}" if entity.vat_number else "no VAT number"
        return (f"billing entity {entity.name} ({entity.code}) charges Swiss VAT but has {shown}, which fails the "
                f"UID check (CHE-123.456.788 MWST): correct it on the Entities page before issuing")
    return None


def issue_problems(entity: BillingEntity, config: OrgBillingConfig, draft: InvoiceDraft, *,
                   needs_iban: bool | None = None) -> list[str]:
    """Everything that keeps this draft from becoming a valid Swiss invoice, each naming what to fix.

    The entity's address and IBAN (entity_problems), a VAT number that passes the
    UID check when Swiss VAT is charged, the customer's address (MWSTG Art. 26(2)(b):
    name and place), and names the QR-bill cannot carry.
    """
    from .qr import unsupported_characters

    problems = [f"{p}: set it on the Entities page before issuing"
                for p in entity_problems(entity, needs_iban=config.pay_by_invoice if needs_iban is None
                                         else needs_iban)]
    if draft.vat_rate and draft.vat_rate > 0:
        vat = _vat_number_problem(entity)
        if vat:
            problems.append(vat)
    org = config.zitadel_org_id
    missing = [label for label, value in (("postal code", config.postal_code), ("city", config.city),
                                          ("country", config.country)) if not (value or "").strip()]
    if missing:
        problems.append(f"org {org} has no {', '.join(missing)} in its billing address, which a Swiss invoice "
                        f"must name: set it on the org's page before issuing")
    for who, value, limit, where in ((f"org {org}'s name", config.display_name or org, 70, "the org's page"),
                                     (f"org {org}'s street", config.street, 70, "the org's page"),
                                     (f"org {org}'s city", config.city, 35, "the org's page"),
                                     (f"org {org}'s postal code", config.postal_code, 16, "the org's page")):
        if value and len(value.strip()) > limit:
            problems.append(f"{who} is longer than the {limit} characters a QR-bill can carry: shorten it on "
                            f"{where} before issuing")
    for who, fields, where in (
        (f"org {org}", (("name", config.display_name or org), ("street", config.street), ("city", config.city)),
         "the org's page"),
        (f"billing entity {entity.code}", (("name", entity.name), ("street", entity.street), ("city", entity.city)),
         "the Entities page"),
    ):
        for field_name, value in fields:
            bad = unsupported_characters(value)
            if bad:
                problems.append(f"{who}'s {field_name} {value!r} has characters a QR-bill cannot carry "
                                f"({' '.join(sorted(bad))}): change it on {where} before issuing")
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
        problems = issue_problems(entity, ctx.config, d) if d.net_chf > 0 else []
        if problems and not existing.get(d.billing_entity_id):
            d = replace(d, warnings=d.warnings + tuple(problems))
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


def card_orgs_with_usable_card(org_ids: Sequence[str]) -> set[str]:
    """Those of these card orgs that may have a usable card: a Stripe customer exists for them.

    Without a Stripe customer no card can have been saved (the customer is
    created before any card setup link), so such an invoice cannot be charged
    and carries the QR-bill. With one, the card mirror may lag behind Stripe,
    so the charge after issue decides.
    """
    found: set[str] = set()
    ids = list(dict.fromkeys(org_ids))
    for i in range(0, len(ids), 500):
        found.update(db.session.execute(sa.select(OrgBillingConfig.zitadel_org_id).where(
            OrgBillingConfig.zitadel_org_id.in_(ids[i:i + 500]),
            OrgBillingConfig.stripe_customer_id.is_not(None))).scalars())
    return found


def _charge_status(config: OrgBillingConfig, usable_cards: set[str]) -> str | None:
    """None for bank transfer; "pending" for a card org with a usable card, else "no_payment_method".

    An invoice whose card cannot be charged carries the QR-bill instead (billing/pdf.py), so
    the customer has a way to pay it; collection still tries the card and records why not.
    """
    if config.pay_by_invoice:
        return None
    return "pending" if config.zitadel_org_id in usable_cards else "no_payment_method"


def _needs_iban(config: OrgBillingConfig, usable_cards: set[str]) -> bool:
    return config.pay_by_invoice or config.zitadel_org_id not in usable_cards


def _build_invoice(draft: InvoiceDraft, number: str, config: OrgBillingConfig, entity: BillingEntity,
                   issued_at: datetime, issued_by: str, default_terms: int,
                   replaces: Invoice | None = None, usable_cards: set[str] | None = None) -> Invoice:
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
        charge_status=_charge_status(config, usable_cards or set()),
        replaces_invoice_id=replaces.id if replaces is not None else None,
        credit_applied_chf=Decimal("0.00"),
    )
    invoice.entity = entity
    invoice.replaces_number = replaces.number if replaces is not None else None  # for the PDF (not a column)
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
               issued_at: datetime, actor: str, render_pdfs: PdfRenderer | None,
               usable_cards: set[str], credit_left: list[Decimal] | None = None) -> tuple[Invoice, bool]:
    """Number, build, render and store one invoice inside a savepoint (undone whole on failure).

    Returns the invoice and whether it was created now (False: issued before).
    `credit_left` ([amount]) is the org's credit balance still to use: the
    invoice takes what it can (printed on it), and the ledger moves it.
    """
    with db.session.begin_nested():
        _lock_counter(entity.id, year)
        existing = _existing_invoices(draft.org_id, draft.period).get(entity.id)
        if existing is not None:
            return existing, False
        (sequence,) = _next_numbers(entity.id, year, 1)
        replaces = replaced_invoice(draft, voided_invoices([draft.org_id], draft.period).get(draft.org_id, []))
        invoice = _build_invoice(draft, invoice_number(entity.invoice_prefix, year, sequence), config,
                                 entity, issued_at, actor, platform_payment_terms(), replaces, usable_cards)
        if credit_left and credit_left[0] > 0:
            invoice.credit_applied_chf = min(credit_left[0], invoice.total_chf)
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
        if invoice.credit_applied_chf:
            from ..payments.ledger import apply_credit

            credit_left[0] -= apply_credit(invoice, invoice.credit_applied_chf)
    return invoice, True


# The columns' capacity (NUMERIC(10,2), NUMERIC(10,5), NUMERIC(16,6)) and the QR-bill's name field.
AMOUNT_MAX = Decimal("99999999.99")
UNIT_PRICE_MAX = Decimal("99999.99999")
QUANTITY_MAX = Decimal("9999999999.999999")
QR_NAME_MAX = 70


def issue_blocker(draft: InvoiceDraft, config: OrgBillingConfig, entity: BillingEntity) -> str | None:
    """Why this draft cannot become an invoice as it stands (an amount or a name too large), or None.

    SQLite would store an oversized amount silently and PostgreSQL refuses it mid-issue; both get
    this one line instead, before a number is taken.
    """
    from .money import format_grouped

    for line in draft.lines:
        what = f"{line.tenant_name} {line.kind}{' ' + line.skill_id if line.skill_id else ''}"
        if abs(line.amount_chf) > AMOUNT_MAX:
            return (f"the {what} line of {draft.org_id} for {draft.period.key} would be CHF "
                    f"{format_grouped(line.amount_chf)}, more than an invoice amount can hold "
                    f"({format_grouped(AMOUNT_MAX)}): check the prices")
        if abs(line.unit_price_chf) > UNIT_PRICE_MAX or abs(line.quantity) > QUANTITY_MAX:
            return f"the {what} line of {draft.org_id} for {draft.period.key} has a price or quantity too large to store"
    for label, amount in (("net", draft.net_chf), ("VAT", draft.vat_chf), ("total", draft.total_chf)):
        if abs(amount) > AMOUNT_MAX:
            return (f"the {label} of {draft.org_id}'s invoice for {draft.period.key} would be CHF "
                    f"{format_grouped(amount)}, more than an invoice amount can hold ({format_grouped(AMOUNT_MAX)})")
    if config.pay_by_invoice:
        name = (config.display_name or config.zitadel_org_id or "").strip()
        if len(name) > QR_NAME_MAX:
            return (f"the org's display name has {len(name)} characters; the QR-bill allows {QR_NAME_MAX}: "
                    f"shorten it on the org page before issuing")
        if len((entity.name or "").strip()) > QR_NAME_MAX:
            return (f"the billing entity's name has {len(entity.name.strip())} characters; the QR-bill allows "
                    f"{QR_NAME_MAX}: shorten it on the Entities page before issuing")
    return None


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
    usable_cards = set() if config.pay_by_invoice else card_orgs_with_usable_card([org_id])
    from ..payments.ledger import credit_sources

    # The org's credit balance, its sources locked: the new invoices use it (SPEC §6).
    credit_left = [sum((amount for _src, amount in credit_sources(org_id)), Decimal("0.00"))]

    for draft in sorted(drafts, key=lambda d: d.billing_entity_id):
        result.warnings.extend(w for w in draft.warnings if w not in result.warnings)
        if draft.net_chf <= 0:
            # Its tenants may all be on the entity's issued invoice (billed once): that one stands.
            found = _existing_invoices(org_id, period).get(draft.billing_entity_id) if draft.already_billed else None
            (result.existing.append(found) if found is not None else result.skipped.append(draft))
            continue
        entity = entities[draft.billing_entity_id]
        problems = issue_problems(entity, config, draft, needs_iban=_needs_iban(config, usable_cards))
        if problems and not _existing_invoices(org_id, period).get(entity.id):
            raise BillingInputError("; ".join(problems))
        problem = issue_blocker(draft, config, entity)
        if problem:
            raise BillingInputError(problem)
        try:
            invoice, created = _issue_one(draft, config, entity, year, issued_at, actor, render_pdfs, usable_cards,
                                          credit_left)
        except sa.exc.DataError as exc:
            # A value the columns cannot hold that issue_blocker did not foresee: our savepoint is gone.
            log.warning("issuing %s %s: the database refused a value: %s", org_id, period.key, exc.orig)
            raise BillingInputError(
                f"the invoice of {org_id} for {period.key} has a value the database cannot store "
                f"({str(exc.orig).splitlines()[0]}); check the prices and the org's data") from None
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
    from .monthly import _lock_orgs

    # The org's lock (the monthly run takes the same) before the facts are read: which of its tenants
    # a concurrent issuer has just billed is then known, and no tenant's month is billed twice.
    _lock_orgs([org_id], None)
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
            if draft.net_chf <= 0 and not draft.already_billed:
                org_result.skipped.append(draft)
            else:
                wanted.append((draft, config))
    if not wanted:
        return result

    entities = _entities_by_id()
    default_terms = platform_payment_terms()
    usable_cards = card_orgs_with_usable_card([c.zitadel_org_id for _d, c in wanted if not c.pay_by_invoice])
    last = _lock_counters([d.billing_entity_id for d, _ in wanted], year)
    existing = existing_invoices_for_orgs(list(result.results), period)
    todo: list[tuple[InvoiceDraft, OrgBillingConfig]] = []
    for draft, config in wanted:
        invoice = existing.get((draft.org_id, draft.billing_entity_id))
        if invoice is not None:
            result.results[draft.org_id].existing.append(invoice)
            continue
        if draft.net_chf <= 0:  # its tenants are billed on another entity's invoice: nothing to issue here
            result.results[draft.org_id].skipped.append(draft)
            continue
        problems = issue_problems(entities[draft.billing_entity_id], config, draft,
                                  needs_iban=_needs_iban(config, usable_cards))
        if problems:  # as `issue_drafts` refuses it: the org is left out whole
            result.failed.setdefault(draft.org_id, "; ".join(problems))
        todo.append((draft, config))
    # Numbers follow the order of the orgs in the batch, per entity.
    todo.sort(key=lambda item: item[0].billing_entity_id)
    voided = voided_invoices(list(result.results), period)
    from ..payments.ledger import apply_credit, org_credits

    credits = org_credits({d.org_id for d, _c in todo}) if todo else {}  # one statement: few orgs have one

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
            replaces = replaced_invoice(draft, voided.get(draft.org_id, []))
            invoice = _build_invoice(draft, number, config, entity, issued_at, actor, default_terms, replaces,
                                     usable_cards)
            left = credits.get(draft.org_id, Decimal("0.00")) - sum(
                (b.credit_applied_chf for b, d in built if d.org_id == draft.org_id), Decimal("0.00"))
            if left > 0:
                invoice.credit_applied_chf = min(left, invoice.total_chf)
            built.append((invoice, draft))
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
    for invoice in invoices:
        if invoice.credit_applied_chf:
            apply_credit(db.session.get(Invoice, invoice.id), invoice.credit_applied_chf)
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


def void_invoice(number: str, reason: str, *, now: datetime | None = None,
                 render_pdf: bool = True) -> Invoice:
    """Void an unpaid invoice: its cancellation credit note (everything that remains) is issued in the same
    transaction; its number stays used and the month can be issued again. Flushes; the caller commits.

    The invoice row is locked and read again first: of a void racing a payment
    (or another void) exactly one wins, the other is told "already paid/void".
    """
    from ..payments import ledger
    from .credit_notes import CreditNoteError, build_plan, issue_credit_note

    reason = (reason or "").strip()
    if not reason:
        raise BillingInputError("a reason is required to void an invoice")
    invoice = ledger.lock_invoice(number=number)  # the row lock first; its state is read again inside it
    if invoice is None:
        raise InvoiceNotFoundError(f"unknown invoice number {number!r}")
    if invoice.status == "void":
        raise BillingInputError(f"invoice {invoice.number} is already void")
    if invoice.status == "paid":
        raise BillingInputError(f"invoice {invoice.number} is paid and cannot be voided: credit it instead")
    paid = ledger.balance_of(invoice).paid
    if paid != 0:
        raise BillingInputError(
            f"invoice {invoice.number} is partly paid ({paid} received) and cannot be voided: "
            "credit it instead, or refund the payment first")
    try:
        build_plan(invoice, void=True)
    except CreditNoteError:
        note = None  # earlier credit notes credit it all already: nothing remains to cancel
    else:
        try:
            note = issue_credit_note(invoice.number, reason, void=True, now=now, render_pdf=render_pdf)
        except CreditNoteError as exc:
            raise BillingInputError(str(exc)) from None
    actor, _ = current_actor()
    invoice.status = "void"
    invoice.voided_at = now or utcnow()
    invoice.void_reason = reason
    invoice.voided_by = actor
    if invoice.charge_status in ("pending", "no_payment_method", "failed"):
        invoice.charge_status = "cancelled"
    record_audit("invoice.void", "invoice", invoice.number, before={"status": "issued"},
                 after={"status": "void", "void_reason": reason, "credit_note": note.number if note else None})
    db.session.flush()
    return invoice


def mark_paid(
    number: str,
    *,
    paid_on: date | None = None,
    reference: str | None = None,
    method: str = "bank_transfer",
    amount: Decimal | None = None,
    source: str = "manual",
    source_id: str | None = None,
    now: datetime | None = None,
) -> Invoice:
    """Record a payment of the balance due (or `amount`) of an issued invoice, in its row lock.

    Refused for paid or void invoices ("already paid"/"is void"): of concurrent
    calls exactly one writes its ledger row and its audit row.
    """
    from ..payments import ledger

    if method not in PAYMENT_METHODS:
        raise BillingInputError(f"unknown payment method {method!r}: use one of {', '.join(PAYMENT_METHODS)}")
    if amount is not None:
        amount = Decimal(amount)
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise BillingInputError(f"the amount {amount} must be positive, in francs and Rappen")
    invoice = ledger.lock_invoice(number=number)
    if invoice is None:
        raise InvoiceNotFoundError(f"unknown invoice number {number!r}")
    if invoice.status == "paid":
        raise BillingInputError(f"invoice {invoice.number} is already paid (on {invoice.paid_at.astimezone(billing_zone()).date().isoformat()})")
    if invoice.status == "void":
        raise BillingInputError(f"invoice {invoice.number} is already void and cannot be paid")
    now = now or utcnow()
    today = local_today(now)
    paid_on = paid_on or today
    if paid_on > today:
        raise BillingInputError(f"the payment date {paid_on.isoformat()} is in the future")
    issued_day = invoice.issued_at.astimezone(billing_zone()).date()
    if paid_on < issued_day:
        raise BillingInputError(
            f"the payment date {paid_on.isoformat()} is before the invoice was issued ({issued_day.isoformat()})")
    before = ledger.balance_of(invoice)
    amount = before.balance if amount is None else amount
    if amount <= 0:
        raise BillingInputError(f"invoice {invoice.number} has no balance due")
    payment = ledger.record(
        invoice=invoice, amount=amount, booked_on=paid_on, method=method, reference=reference,
        source=source, source_id=source_id or ledger.new_source_id("mark-paid"), currency=invoice.currency,
    )
    if payment is None:
        raise BillingInputError(f"invoice {invoice.number}: this payment ({source} {source_id}) is recorded already")
    ledger.settle(invoice, payment, now=now)
    balance = before.balance - payment.amount_chf
    record_audit("invoice.mark_paid", "invoice", invoice.number,
                 before={"status": "issued", "balance_chf": before.balance},
                 after={"status": invoice.status, "paid_on": paid_on, "reference": payment.reference,
                        "method": method, "amount_chf": payment.amount_chf, "balance_chf": balance,
                        "total_chf": invoice.total_chf, "payment_id": payment.id})
    db.session.flush()
    return invoice


def outstanding_chf(invoice: Invoice) -> Decimal:
    """What is still owed on an invoice: its balance due from the ledger (0 unless issued)."""
    from ..payments.ledger import balance_of

    return max(balance_of(invoice).balance, Decimal("0.00")) if invoice.status == "issued" else Decimal("0.00")
