"""The monthly run: issue, collect and e-mail every auto-invoiced org's invoices for a month.

One service for the CLI (`pieced-admin billing run-monthly`), the CronJob and
the browser (Billing runs page). Orgs are worked through in batches: the facts
of a batch load in a constant number of queries, its invoices are issued in
one short transaction by `issuing.issue_batch` (numbers, rows and lines), then
their PDFs are rendered outside that transaction (in worker processes) and
stored (`billing.rendering`), then card orgs are charged and each new invoice
is e-mailed, every e-mail in a transaction of its own. An invoice whose PDF is
not stored is neither charged nor e-mailed; the next run renders it.

Safe to repeat and to overlap:
- per-org work holds a PostgreSQL advisory lock on a key derived from the org
  id (on SQLite the database write lock, taken first, does the same), and the
  invoice counters are locked before existing invoices are looked at, so two
  runs or two shards never issue an org-month-entity twice;
- a re-run issues what is missing and e-mails what was not sent;
- one org's failure (LiteLLM, the engine, its PDF, its address, SMTP) is
  recorded against that org and the run goes on; the run's status then says
  so, and the CLI exits 1 after printing the per-org summary.

A run is recorded in `billing_runs`, its counters updated after every batch so
the browser can poll them. On PostgreSQL a running run also holds a session
advisory lock on its own id: a run whose process died is recognised by the
lock being free.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from babel.dates import format_date
from flask import current_app

from ..audit import acting_as, current_actor, record_audit
from ..extensions import db
from ..models.dialect import dialect_name, insert_for
from ..integrations.litellm import LiteLLMClient, LiteLLMError
from ..models import BillingEntity, BillingRun, Invoice, InvoiceDocument, InvoiceEmail, OrgBillingConfig
from ..models.types import utcnow
from .days import Period
from .engine import InvoiceDraft, compute_invoices
from .facts import OrgContext, load_facts_for_orgs
from .issuing import BatchIssueResult, existing_invoices_for_orgs, issue_batch, local_today

log = logging.getLogger(__name__)

__all__ = [
    "Shard", "OrgReport", "RunReport", "PdfRenderPool", "run_monthly", "previous_month", "shard_of",
    "org_lock_key", "lock_key", "orgs_for_run", "run_is_alive", "mark_run_active", "send_invoice_email", "send_invoice_emails", "EmailOutcome", "email_issued_invoices",
    "reap_dead_runs",
    "RUN_STATUSES",
]

# running → done | done_with_errors (some orgs failed) | interrupted (the process stopped or broke)
RUN_STATUSES = ("running", "done", "done_with_errors", "interrupted")

BATCH_ORGS = 200           # orgs per batch without PDFs
BATCH_INVOICES_PER_WORKER = 6  # with PDFs: keeps the counter locks short (about 4 s per batch)
LITELLM_THREADS = 8        # LiteLLM answers over the network: ask for several teams at once

_active_runs: set[int] = set()  # runs of this process (how SQLite tells a live run from a dead one)
_active_lock = threading.Lock()


# --------------------------------------------------------------------------- sharding and locks


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: the orgs whose stable hash modulo `count` is `index`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with 0 ≤ I < N; ValueError with a message for a person otherwise."""
        raw = (text or "").strip()
        head, sep, tail = raw.partition("/")
        if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ValueError(f"--shard must be I/N with 0 ≤ I < N, e.g. 0/4; got {text!r}")
        index, count = int(head), int(tail)
        if count < 1 or index >= count:
            raise ValueError(f"--shard must be I/N with 0 ≤ I < N, e.g. 0/4; got {text!r}")
        return cls(index, count)

    def owns(self, org_id: str) -> bool:
        return shard_of(org_id, self.count) == self.index

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(org_id: str, count: int) -> int:
    """The shard of an org: a hash that is the same in every process and on every machine."""
    return int(hashlib.sha256(org_id.encode("utf-8")).hexdigest(), 16) % count


def lock_key(text: str) -> int:
    """A signed 64-bit key (PostgreSQL's bigint) from a text: the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)


def org_lock_key(org_id: str) -> int:
    """The advisory lock key of an org's billing work."""
    return lock_key(f"pieced-admin:org:{org_id}")


def run_lock_key(run_id: int) -> int:
    """The advisory lock key a running billing run holds."""
    return lock_key(f"pieced-admin:billing-run:{run_id}")


def _lock_orgs(org_ids: Sequence[str], run_id: int | None) -> None:
    """Hold the per-org locks of a batch until the transaction ends (sorted: no deadlock between runs)."""
    if dialect_name() == "postgresql":
        keys = sorted({org_lock_key(o) for o in org_ids})
        db.session.execute(
            sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k "
                    "ORDER BY k) AS sorted_keys"),
            {"keys": keys},
        ).scalar_one()
    else:
        # SQLite has one writer at a time: take the write lock before reading anything,
        # so the batch never has to upgrade a stale read snapshot.
        table = BillingRun.__table__
        db.session.execute(sa.update(table).where(table.c.id == (run_id or -1)).values(orgs_done=table.c.orgs_done))


def previous_month(today: date | None = None) -> Period:
    """Last month in the billing time zone: what a run on the 1st bills."""
    return Period.of(today or local_today()).previous()


def orgs_for_run(shard: Shard | None = None) -> list[str]:
    """Ids of the orgs with auto-invoicing, in id order, of one shard when given."""
    ids = db.session.execute(
        sa.select(OrgBillingConfig.zitadel_org_id)
        .where(OrgBillingConfig.auto_invoice_enabled.is_(True))
        .order_by(OrgBillingConfig.zitadel_org_id)
    ).scalars().all()
    return [o for o in ids if shard is None or shard.owns(o)]


# --------------------------------------------------------------------------- reports


@dataclass
class OrgReport:
    """What the run did for one org."""

    org_id: str
    issued: list[dict] = field(default_factory=list)     # {"number", "entity", "total_chf"}
    existing: list[str] = field(default_factory=list)    # numbers issued before
    emailed: list[str] = field(default_factory=list)     # numbers e-mailed now
    drafts: list[dict] = field(default_factory=list)     # dry run: what would be issued
    notes: list[str] = field(default_factory=list)       # card collection
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Issued, but the org's billing address is missing or wrong: {"number", "reason"}. A warning, not a
    # failure: the invoice exists; fixing the address and re-running sends it.
    not_emailed: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def status(self) -> str:
        if self.errors:
            return "failed"
        if self.not_emailed:
            return "issued, not e-mailed"
        if self.drafts:
            return "would issue" if any(d["existing"] is None for d in self.drafts) else "up to date"
        if self.issued:
            return "issued"
        if self.existing:
            return "up to date"
        return "nothing to issue"

    def line(self) -> str:
        """One line for the log."""
        parts = []
        for inv in self.issued:
            parts.append(f"issued {inv['number']} (CHF {inv['total_chf']})")
        if self.existing:
            parts.append("already issued " + ", ".join(self.existing))
        for d in self.drafts:
            if d["existing"]:
                parts.append(f"{d['entity']}: already issued as {d['existing']}")
            else:
                parts.append(f"{d['entity']}: would issue net CHF {d['net_chf']}, total CHF {d['total_chf']}, "
                             f"{d['lines']} lines")
        if self.emailed:
            parts.append("e-mailed " + ", ".join(self.emailed))
        parts.extend(self.notes)
        parts.extend(f"NOT E-MAILED: {n['number']}: {n['reason']}" for n in self.not_emailed)
        parts.extend(f"FAILED: {e}" for e in self.errors)
        return f"{self.org_id}: " + ("; ".join(parts) if parts else self.status)

    def as_json(self) -> dict:
        return {"org": self.org_id, "status": self.status, "issued": self.issued, "existing": self.existing,
                "emailed": self.emailed, "drafts": self.drafts, "notes": self.notes, "warnings": self.warnings,
                "errors": self.errors, "not_emailed": self.not_emailed}


@dataclass
class RunReport:
    run_id: int
    period: Period
    shard: Shard | None
    dry_run: bool
    orgs: list[OrgReport] = field(default_factory=list)
    status: str = "running"

    @property
    def failed(self) -> list[OrgReport]:
        return [o for o in self.orgs if o.failed]

    @property
    def invoices_issued(self) -> int:
        return sum(len(o.issued) for o in self.orgs)


# --------------------------------------------------------------------------- PDFs in worker processes


class PdfRenderPool:
    """Renders invoice PDFs for `issue_batch`: HTML here (it reads the app's settings), PDF in worker processes.

    Each HTML goes to a worker the moment it is rendered, so this process
    prepares the next while the workers convert; small batches (tests, a
    handful of invoices) are converted in this process instead of paying for
    the workers' start (about a second and a half, worth it from eight PDFs). One invoice's failure is returned, not raised.
    """

    def __init__(self, workers: int | None = None, *, min_parallel: int = 8):
        self.workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                   else os.cpu_count() or 1)
        self.min_parallel = min_parallel
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the workers start clean (no inherited database connections or locks of other threads).
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def __call__(self, invoices: Sequence[Invoice]) -> list[bytes | BaseException]:
        from .pdf import html_to_pdf, invoice_pdf_parts

        outcomes: list[bytes | BaseException | concurrent.futures.Future] = []
        # Once the workers run (a big run), every batch goes to them, its last small one too.
        parallel = self.workers > 1 and (self._pool is not None or len(invoices) >= self.min_parallel)
        for invoice in invoices:
            try:
                html, decor = invoice_pdf_parts(invoice)
                outcomes.append(self._executor().submit(html_to_pdf, html, decor) if parallel
                                else html_to_pdf(html, decor))
            except Exception as exc:  # one invoice's document: reported against its org
                outcomes.append(exc)
        results: list[bytes | BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, concurrent.futures.Future):
                try:
                    outcome = outcome.result()
                except concurrent.futures.process.BrokenProcessPool as exc:
                    self.close()  # start new workers for the next batch
                    outcome = exc
                except Exception as exc:
                    outcome = exc
            results.append(outcome)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --------------------------------------------------------------------------- facts with LiteLLM per org


def _litellm_settings() -> tuple[str, str, float] | None:
    cfg = current_app.config
    if not cfg.get("LITELLM_URL"):
        return None
    return cfg["LITELLM_URL"], cfg.get("LITELLM_API_KEY", ""), cfg.get("LITELLM_TIMEOUT", 10)


def _with_spend(loaded: dict[str, tuple], period: Period, reports: dict[str, OrgReport]) -> dict[str, tuple]:
    """The loaded facts with each tenant's LiteLLM spend; an org whose spend fails is reported and left out."""
    settings = _litellm_settings()
    if settings is None:
        return loaded  # facts say "LiteLLM not configured": previews and drafts carry the warning
    url, key, timeout = settings
    teams = {(org_id, t.tenant_name): (t.litellm_team_id or t.tenant_name)
             for org_id, (_facts, ctx) in loaded.items() for t in ctx.tenants}
    local = threading.local()
    clients: list[LiteLLMClient] = []

    def spend(item):
        (org_id, tenant), team = item
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = LiteLLMClient(url, key, timeout=timeout)
            clients.append(client)
        return client.team_spend(team, period.first_day, period.last_day)

    found: dict[tuple[str, str], Decimal] = {}
    failed: dict[str, str] = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=LITELLM_THREADS) as pool:
            futures = {pool.submit(spend, item): item for item in teams.items()}
            for future in concurrent.futures.as_completed(futures):
                (org_id, tenant), _team = futures[future]
                try:
                    found[(org_id, tenant)] = future.result()
                except LiteLLMError as exc:
                    failed.setdefault(org_id, f"{exc} (tenant {tenant})")
    finally:
        for client in clients:
            client.close()

    out = {}
    for org_id, (facts, ctx) in loaded.items():
        if org_id in failed:
            reports[org_id].errors.append(failed[org_id])
            continue
        tenants = tuple(dataclasses.replace(t, llm_spend_usd=found[(org_id, t.name)]) for t in facts.tenants)
        out[org_id] = (dataclasses.replace(facts, tenants=tenants, llm_configured=True), ctx)
    return out


def _drafts_for(org_ids: Sequence[str], period: Period,
                reports: dict[str, OrgReport]) -> dict[str, tuple[list[InvoiceDraft], OrgContext]]:
    """Drafts of every org of the batch that could be computed (the others carry their error)."""
    settings = _litellm_settings()
    if settings is not None:
        try:
            LiteLLMClient(settings[0], settings[1]).close()
        except LiteLLMError as exc:  # configured, but unusable (e.g. no API key): nobody can be billed
            for org_id in org_ids:
                reports[org_id].errors.append(str(exc))
            return {}
    loaded = load_facts_for_orgs(org_ids, period, litellm=False)
    loaded = _with_spend(loaded, period, reports)
    drafts = {}
    for org_id, (facts, ctx) in loaded.items():
        try:
            drafts[org_id] = (compute_invoices(facts), ctx)
        except (ValueError, TypeError, KeyError) as exc:  # bad data of this org only
            reports[org_id].errors.append(f"cannot compute the invoices: {exc}")
    return drafts


# --------------------------------------------------------------------------- invoice e-mails


def _month_label(period: Period, language: str) -> str:
    return format_date(period.first_day, "LLLL yyyy", locale="de_CH" if language == "de" else "en_GB")


@dataclass(frozen=True)
class EmailOutcome:
    """What one attempt to e-mail an invoice came to."""

    number: str
    status: str          # sent | failed
    sent_now: bool       # False: it had been sent before, nothing was sent now
    to: str | None = None
    error: str | None = None
    recipient_problem: bool = False  # the org's address is missing or invalid (not an SMTP failure)


def send_invoice_email(invoice_id: int, *, now: datetime | None = None) -> EmailOutcome:
    """E-mail an issued invoice's stored PDF to its org's billing address, at most once; commits.

    The invoice's `invoice_emails` row is locked first (PostgreSQL: a row lock;
    SQLite: the write lock), so two runs never send it twice, and a row already
    `sent` is left alone. A failure (no or bad address, no PDF, SMTP) is recorded
    on the row (`failed`, the error, one more attempt) and returned, not raised:
    the next run tries again.
    """
    from ..integrations.mail import Attachment, MailError, RecipientError, check_recipient, send_mail

    table = InvoiceEmail.__table__
    insert = insert_for(table)
    db.session.execute(insert.values(invoice_id=invoice_id, status="pending", attempts=0)
                       .on_conflict_do_nothing(index_elements=["invoice_id"]))
    email = db.session.execute(
        sa.select(InvoiceEmail).where(InvoiceEmail.invoice_id == invoice_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    invoice = db.session.get(Invoice, invoice_id)
    number = invoice.number
    if email.status == "sent":
        outcome = EmailOutcome(number, "sent", False, email.sent_to)
        db.session.commit()
        return outcome
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=invoice.zitadel_org_id)).scalar_one()
    email.attempts = (email.attempts or 0) + 1
    try:
        to = check_recipient(config.billing_email, f"org {config.zitadel_org_id}")
        email.sent_to = to
        document = db.session.get(InvoiceDocument, invoice.id)
        if document is None:
            raise MailError(f"invoice {number} has no stored PDF to send: nothing was sent")
        language = config.language or invoice.language or "en"
        entity = invoice.entity_snapshot or {}
        sent = send_mail(
            to=to, kind="invoice", language=language,
            context={
                "number": number, "customer_name": config.name,
                "month": _month_label(Period.of(invoice.period_start), language),
                "period_start": invoice.period_start, "period_end": invoice.period_end,
                "currency": invoice.currency, "total": invoice.total_chf, "due_date": invoice.due_date,
                "card": invoice.charge_status is not None, "entity_name": entity.get("name") or "PieCed",
                "entity_email": entity.get("email"),
            },
            attachments=[Attachment(f"{number}.pdf", document.content)],
        )
    except MailError as exc:
        email.status = "failed"
        email.error = str(exc)
        outcome = EmailOutcome(number, "failed", False, email.sent_to, str(exc),
                               recipient_problem=isinstance(exc, RecipientError))
        log.warning("invoice e-mail %s: %s", number, exc)
    else:
        email.status = "sent"
        email.sent_at = now or utcnow()
        email.message_id = sent.message_id
        email.error = None
        outcome = EmailOutcome(number, "sent", True, sent.to)
        record_audit("invoice.email", "invoice", number,
                     after={"to": sent.to, "message_id": sent.message_id, "attempt": email.attempts})
    db.session.commit()
    return outcome


def email_issued_invoices(invoices: Sequence[Invoice]) -> list[EmailOutcome]:
    """E-mail invoices just issued by hand to their org's billing address (each at most once); commits."""
    ids = [i.id for i in invoices]
    outcomes = []
    for invoice_id in ids:
        outcomes.append(send_invoice_email(invoice_id))
    return outcomes


def send_invoice_emails(org_ids: Sequence[str], period: Period,
                        reports: dict[str, OrgReport] | None = None) -> dict[str, OrgReport]:
    """E-mail every non-void invoice of these orgs for the month with a stored PDF that was not sent yet."""
    reports = reports if reports is not None else {o: OrgReport(o) for o in org_ids}
    pending: list[tuple[int, str, str]] = []
    ids = list(org_ids)
    for i in range(0, len(ids), 500):
        pending.extend(db.session.execute(
            sa.select(Invoice.id, Invoice.number, Invoice.zitadel_org_id)
            .outerjoin(InvoiceEmail, InvoiceEmail.invoice_id == Invoice.id)
            .where(Invoice.zitadel_org_id.in_(ids[i:i + 500]), Invoice.period_start == period.first_day,
                   Invoice.status != "void", sa.or_(InvoiceEmail.id.is_(None), InvoiceEmail.status != "sent"),
                   Invoice.pdf_sha256.is_not(None))  # no PDF yet: the run that renders it sends it
            .order_by(Invoice.number)
        ).all())
    db.session.commit()
    for invoice_id, number, org_id in pending:
        report = reports.setdefault(org_id, OrgReport(org_id))
        try:
            if dialect_name() == "postgresql":
                db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(org_lock_key(org_id))))
            outcome = send_invoice_email(invoice_id)
        except Exception as exc:  # unexpected: reported against the org, the others go on
            db.session.rollback()
            log.exception("e-mailing invoice %s failed", number)
            report.errors.append(f"e-mail of {number}: {type(exc).__name__}: {exc}")
            continue
        if outcome.sent_now:
            report.emailed.append(number)
        elif outcome.status == "failed" and outcome.recipient_problem:
            report.not_emailed.append({"number": number, "reason": outcome.error})
        elif outcome.status == "failed":
            report.errors.append(f"e-mail of {number} not sent: {outcome.error}")
    return reports


# --------------------------------------------------------------------------- the run


def _open_run(period: Period, shard: Shard | None, dry_run: bool, run_id: int | None, started_by: str) -> BillingRun:
    if run_id is not None:
        run = db.session.get(BillingRun, run_id)
        if run is None:
            raise LookupError(f"billing run {run_id} does not exist")
        return run
    reap_dead_runs(period)
    run = BillingRun(period=period.key, shard=shard.label if shard else None, dry_run=dry_run,
                     status="running", started_by=started_by, started_at=utcnow())
    db.session.add(run)
    db.session.commit()
    return run


def reap_dead_runs(period: Period) -> int:
    """Mark the month's runs left `running` by a process that stopped as `interrupted`; flush, don't commit."""
    count = 0
    for other in db.session.execute(
        sa.select(BillingRun).where(BillingRun.period == period.key, BillingRun.status == "running")
    ).scalars():
        if not run_is_alive(other):
            other.status = "interrupted"
            other.finished_at = utcnow()
            count += 1
    db.session.flush()
    return count


@contextlib.contextmanager
def _holding_run_lock(run_id: int) -> Iterator[None]:
    """Mark the run as alive for as long as this block runs (see `run_is_alive`)."""
    with _active_lock:
        _active_runs.add(run_id)
    connection = None
    try:
        bind = db.session.get_bind()
        if bind.dialect.name == "postgresql" and isinstance(bind, sa.engine.Engine):
            connection = bind.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.select(sa.func.pg_advisory_lock(run_lock_key(run_id))))
        yield
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.execute(sa.select(sa.func.pg_advisory_unlock(run_lock_key(run_id))))
            connection.close()
        with _active_lock:
            _active_runs.discard(run_id)


def mark_run_active(run_id: int, active: bool = True) -> None:
    """Count a run as alive in this process (the browser marks its run before its thread starts)."""
    with _active_lock:
        (_active_runs.add if active else _active_runs.discard)(run_id)


def run_is_alive(run: BillingRun) -> bool:
    """Whether a `running` run is still being worked on (in this process, or elsewhere on PostgreSQL)."""
    if run.status != "running":
        return False
    with _active_lock:
        if run.id in _active_runs:
            return True
    if dialect_name() != "postgresql":
        # SQLite (a laptop): only this process's runs can be seen. A run left `running` by a
        # process that stopped counts as dead; overlapping runs would be safe anyway.
        return False
    key = run_lock_key(run.id)
    free = db.session.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
    if free:
        db.session.execute(sa.select(sa.func.pg_advisory_unlock(key)))
    return not free


def _record_progress(run_id: int, reports: Sequence[OrgReport], failures: list[dict]) -> None:
    table = BillingRun.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == run_id).values(
            orgs_done=table.c.orgs_done + len(reports),
            orgs_failed=table.c.orgs_failed + sum(1 for r in reports if r.failed),
            invoices_issued=table.c.invoices_issued + sum(len(r.issued) for r in reports),
            summary=failures or None,
        )
    )
    db.session.commit()


def _issue_org_batch(batch: Sequence[str], period: Period, *, dry_run: bool, run_id: int,
                     renderer: PdfRenderPool | None, now: datetime | None) -> tuple[dict[str, OrgReport], list[Invoice]]:
    """Issue (or, dry, compute) one batch in one transaction and commit; returns the reports and new card invoices."""
    reports = {org_id: OrgReport(org_id) for org_id in batch}
    if not dry_run:
        _lock_orgs(batch, run_id)
    drafts = _drafts_for(batch, period, reports)
    for org_id, (org_drafts, _ctx) in drafts.items():
        for d in org_drafts:
            reports[org_id].warnings.extend(w for w in d.warnings if w not in reports[org_id].warnings)

    if dry_run:
        existing = existing_invoices_for_orgs(list(drafts), period)
        entities = dict(db.session.execute(sa.select(BillingEntity.id, BillingEntity.code)).all())
        for org_id, (org_drafts, _ctx) in drafts.items():
            for d in org_drafts:
                if d.net_chf <= 0:
                    continue
                found = existing.get((org_id, d.billing_entity_id))
                reports[org_id].drafts.append({
                    "entity": entities.get(d.billing_entity_id, str(d.billing_entity_id)),
                    "net_chf": str(d.net_chf), "total_chf": str(d.total_chf), "lines": len(d.lines),
                    "existing": found.number if found is not None else None,
                })
        db.session.rollback()
        return reports, []

    # Numbers, rows and lines only: the PDFs are rendered after this transaction (see _process_batch).
    result: BatchIssueResult = issue_batch([(d, ctx.config) for d, ctx in drafts.values()], period,
                                           now=now, render_pdfs=None)
    card: list[Invoice] = []
    for org_id, why in result.failed.items():
        reports[org_id].errors.append(why)
    for org_id, issued in result.results.items():
        if org_id in result.failed:
            continue
        report = reports[org_id]
        for inv in issued.issued:
            report.issued.append({"number": inv.number, "entity": inv.entity.code, "total_chf": str(inv.total_chf)})
            if inv.charge_status in ("pending", "no_payment_method"):
                card.append(inv)
        report.existing.extend(inv.number for inv in issued.existing)
    db.session.commit()
    return reports, card


def _process_batch(batch: Sequence[str], period: Period, *, dry_run: bool, run_id: int,
                   renderer: PdfRenderPool | None, send_mail: bool, collect: bool,
                   now: datetime | None) -> list[OrgReport]:
    try:
        reports, card = _issue_org_batch(batch, period, dry_run=dry_run, run_id=run_id, renderer=renderer, now=now)
    except Exception as exc:
        db.session.rollback()
        if len(batch) > 1:
            # Something broke the batch as a whole: go org by org to find whose it is.
            log.warning("batch of %d orgs failed (%s: %s); retrying org by org", len(batch), type(exc).__name__, exc)
            out: list[OrgReport] = []
            for org_id in batch:
                out.extend(_process_batch([org_id], period, dry_run=dry_run, run_id=run_id, renderer=renderer,
                                          send_mail=send_mail, collect=collect, now=now))
            return out
        log.exception("org %s failed", batch[0])
        report = OrgReport(batch[0])
        report.errors.append(f"{type(exc).__name__}: {exc}" if not isinstance(exc, LiteLLMError) else str(exc))
        return [report]
    if dry_run:
        return list(reports.values())
    if renderer is not None:
        card = _render_batch(batch, period, renderer, reports, card)
    else:
        card = []  # nothing is charged without its PDF

    if collect and card:
        from .collection import collect_after_issue

        by_org: dict[str, list[Invoice]] = defaultdict(list)
        for inv in card:
            by_org[inv.zitadel_org_id].append(inv)
        for org_id, invoices in by_org.items():
            try:
                reports[org_id].notes.extend(collect_after_issue(invoices))
            except Exception as exc:  # the invoice stands; the charge can be made by hand
                db.session.rollback()
                log.exception("collecting %s failed", org_id)
                reports[org_id].errors.append(f"card charge not started: {type(exc).__name__}: {exc}")
    if send_mail:
        # Every org of the batch: this run's invoices and any an earlier run could not send.
        send_invoice_emails(batch, period, reports)
    return list(reports.values())


def _render_batch(batch: Sequence[str], period: Period, renderer: PdfRenderPool, reports: dict[str, OrgReport],
                  card: list[Invoice]) -> list[Invoice]:
    """Render and store the PDFs the batch's orgs miss (this run's and any an earlier run left); the card invoices
    to charge now: this batch's and earlier ones whose PDF was only stored now."""
    from .collection import NEW_CARD_STATUSES
    from .rendering import invoices_without_pdf, render_missing_pdfs

    try:
        rendered = render_missing_pdfs(invoices_without_pdf(batch, period), renderer)
    except Exception as exc:  # the invoices stand without PDFs; the next run renders them
        db.session.rollback()
        log.exception("rendering the PDFs of a batch failed")
        for org_id in batch:
            if reports[org_id].issued:
                reports[org_id].errors.append(f"PDFs not rendered ({type(exc).__name__}: {exc}); the next run "
                                              f"renders them")
        return []
    stored = {inv.id for inv in rendered.stored}
    by_number = {inv.number: inv for inv in rendered.stored}
    for inv in rendered.stored:
        report = reports[inv.zitadel_org_id]
        if not any(i["number"] == inv.number for i in report.issued) and inv.number not in report.existing:
            report.notes.append(f"PDF of {inv.number} rendered now")
    for number, why in rendered.failed.items():
        org_id = db.session.execute(sa.select(Invoice.zitadel_org_id).filter_by(number=number)).scalar_one()
        reports[org_id].errors.append(why)
    to_charge = [inv for inv in card if inv.id in stored]
    charged = {inv.id for inv in to_charge}
    to_charge += [inv for inv in by_number.values()
                  if inv.id not in charged and inv.charge_status in NEW_CARD_STATUSES
                  and inv.stripe_payment_intent_id is None]
    return to_charge


def _batch_size(renderer: PdfRenderPool | None, batch_size: int | None) -> int:
    if batch_size:
        return batch_size
    if renderer is None:
        return BATCH_ORGS
    return max(4, renderer.workers * BATCH_INVOICES_PER_WORKER)


def run_monthly(
    period: Period,
    *,
    shard: Shard | None = None,
    dry_run: bool = False,
    run_id: int | None = None,
    started_by: str | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_org: Callable[[OrgReport], None] | None = None,
    render_pdfs: bool = True,
    send_mail: bool = True,
    collect: bool = True,
    batch_size: int | None = None,
    pdf_workers: int | None = None,
    now: datetime | None = None,
) -> RunReport:
    """Issue, collect and e-mail the month's invoices of every auto-invoiced org (of one shard); commits.

    `on_start(run_id, orgs_total)` and `on_org(report)` let the caller show progress.
    `render_pdfs`, `send_mail` and `collect` exist for the benchmark; the CLI and the
    browser keep them on. A dry run computes and reports, and writes nothing but its run record.
    """
    actor = started_by or current_actor()[0]
    with acting_as(actor):
        run_id = _open_run(period, shard, dry_run, run_id, actor).id  # read once: commits expire the object
        report = RunReport(run_id=run_id, period=period, shard=shard, dry_run=dry_run)
        with _holding_run_lock(run_id):
            org_ids = orgs_for_run(shard)
            table = BillingRun.__table__
            db.session.execute(sa.update(table).where(table.c.id == run_id).values(orgs_total=len(org_ids)))
            db.session.commit()
            if on_start:
                on_start(run_id, len(org_ids))
            renderer = PdfRenderPool(pdf_workers) if render_pdfs and not dry_run else None
            size = _batch_size(renderer, batch_size)
            failures: list[dict] = []
            try:
                for start in range(0, len(org_ids), size):
                    batch = org_ids[start:start + size]
                    reports = _process_batch(batch, period, dry_run=dry_run, run_id=run_id, renderer=renderer,
                                             send_mail=send_mail, collect=collect, now=now)
                    report.orgs.extend(reports)
                    failures.extend(r.as_json() for r in reports if r.failed)
                    _record_progress(run_id, reports, failures)
                    for r in reports:
                        if on_org:
                            on_org(r)
            except BaseException as exc:
                db.session.rollback()
                report.status = "interrupted"
                with contextlib.suppress(Exception):
                    db.session.execute(sa.update(table).where(table.c.id == run_id).values(
                        status="interrupted", finished_at=utcnow(),
                        summary=[*failures, {"org": None, "status": "interrupted",
                                             "errors": [f"{type(exc).__name__}: {exc}"]}]))
                    db.session.commit()
                raise
            finally:
                if renderer is not None:
                    renderer.close()
            report.status = "done_with_errors" if report.failed else "done"
            db.session.execute(sa.update(table).where(table.c.id == run_id).values(
                status=report.status, finished_at=utcnow(), summary=[r.as_json() for r in report.orgs]))
            db.session.commit()
    return report
