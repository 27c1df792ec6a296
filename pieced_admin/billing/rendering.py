"""Render and store the PDFs of invoices already numbered: outside the numbering lock.

The monthly run takes an entity's invoice numbers in a short transaction (the
counter row is locked only while numbers are handed out and the rows are
inserted) and renders the PDFs after it has committed, so shards of one entity
render in parallel. Until its PDF is stored an invoice is neither e-mailed nor
charged nor downloadable; the next run (or a retry) renders what is missing.

A PDF is stored once: ``pdf_sha256`` goes from empty to the document's hash in
the same transaction that inserts the document, guarded by ``pdf_sha256 IS
NULL`` (the database triggers and the ORM guards allow exactly that change),
so two runs rendering the same invoice store one document between them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Invoice, InvoiceDocument
from ..models.dialect import dialect_name, insert_for
from .days import Period

log = logging.getLogger(__name__)

# Renders the PDFs of invoices (ORM objects with their lines): bytes, or the exception of one that failed.
BatchRenderer = Callable[[Sequence[Invoice]], Sequence["bytes | BaseException"]]


@dataclass
class RenderResult:
    """What rendering the missing PDFs did."""

    stored: list[Invoice] = field(default_factory=list)  # stored now by this call
    failed: dict[str, str] = field(default_factory=dict)  # invoice number -> why (its org's error)


def invoices_without_pdf(org_ids: Sequence[str], period: Period) -> list[int]:
    """Ids of these orgs' non-void invoices of the month whose PDF is not stored yet, in number order."""
    ids: list[int] = []
    orgs = list(dict.fromkeys(org_ids))
    for i in range(0, len(orgs), 500):
        ids.extend(db.session.execute(
            sa.select(Invoice.id).where(
                Invoice.zitadel_org_id.in_(orgs[i:i + 500]), Invoice.period_start == period.first_day,
                Invoice.status != "void", Invoice.pdf_sha256.is_(None),
            ).order_by(Invoice.number)
        ).scalars())
    return ids


def store_pdfs(pdfs: dict[int, bytes]) -> set[int]:
    """Record the PDFs of invoices that have none yet, in two statements; the ids stored now.

    An invoice another process stored first keeps its document (the update skips it).
    """
    if not pdfs:
        return set()
    digests = {invoice_id: hashlib.sha256(pdf).hexdigest() for invoice_id, pdf in pdfs.items()}
    table = Invoice.__table__
    if dialect_name() == "postgresql":
        values = sa.values(sa.column("id", sa.Integer), sa.column("digest", sa.String), name="new_pdf").data(
            list(digests.items()))
        stored = set(db.session.execute(
            sa.update(table).where(table.c.id == values.c.id, table.c.pdf_sha256.is_(None))
            .values(pdf_sha256=values.c.digest).returning(table.c.id)
        ).scalars())
    else:  # SQLite cannot name the columns of a VALUES list: one update per invoice
        stored = {invoice_id for invoice_id, digest in digests.items() if db.session.execute(
            sa.update(table).where(table.c.id == invoice_id, table.c.pdf_sha256.is_(None)).values(pdf_sha256=digest)
        ).rowcount == 1}
    if stored:
        db.session.execute(
            insert_for(InvoiceDocument.__table__).on_conflict_do_nothing(index_elements=["invoice_id"]),
            [{"invoice_id": i, "content": pdfs[i], "sha256": digests[i]} for i in sorted(stored)],
        )
    return stored


def store_pdf(invoice_id: int, pdf: bytes) -> bool:
    """Record the PDF of an invoice that has none yet; False when another process stored one first."""
    return invoice_id in store_pdfs({invoice_id: pdf})


def render_missing_pdfs(invoice_ids: Sequence[int], renderer: BatchRenderer) -> RenderResult:
    """Render the PDFs of these invoices outside any lock, then store them in one short transaction; commits."""
    result = RenderResult()
    if not invoice_ids:
        return result
    invoices = db.session.execute(
        sa.select(Invoice).where(Invoice.id.in_(list(invoice_ids))).options(selectinload(Invoice.lines))
        .order_by(Invoice.number)
    ).scalars().all()
    # No lock is held while the documents render: the numbers were committed before.
    outcomes = renderer(invoices)
    pdfs: dict[int, bytes] = {}
    for invoice, outcome in zip(invoices, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            result.failed[invoice.number] = (f"the PDF of invoice {invoice.number} could not be rendered: {outcome}; "
                                             f"it is neither sent nor charged until a run renders it")
            log.warning("PDF of %s: %s", invoice.number, outcome)
        else:
            pdfs[invoice.id] = outcome
    stored = store_pdfs(pdfs)
    result.stored.extend(inv for inv in invoices if inv.id in stored)
    db.session.commit()
    return result
