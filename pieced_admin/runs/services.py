"""Billing runs for the browser: list them, start one in a background thread, read its progress.

A run started here executes the same service as `pieced-admin billing
run-monthly` (`billing.monthly.run_monthly`) in a thread with its own app
context and database session. One run at a time per month: a second start is
refused while the first is alive (on PostgreSQL across every process and pod,
through the advisory lock a running run holds; on SQLite within this process).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, current_app

from ..audit import record_audit
from ..billing.days import Period
from ..billing.monthly import lock_key, mark_run_active, run_is_alive, run_monthly
from ..extensions import db
from ..models import BillingRun
from ..models.types import utcnow

log = logging.getLogger(__name__)

__all__ = ["RunRefused", "RunView", "recent_runs", "run_view", "start_background_run", "month_has_ended"]

_start_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}


class RunRefused(Exception):
    """A run cannot start now (another one for the month is in progress); the text says why."""


@dataclass
class RunView:
    """A run as the page shows it."""

    run: BillingRun
    alive: bool

    @property
    def status(self) -> str:
        if self.run.status == "running" and not self.alive:
            return "interrupted"
        return self.run.status

    @property
    def polling(self) -> bool:
        return self.run.status == "running" and self.alive

    @property
    def percent(self) -> int:
        total = self.run.orgs_total or 0
        return 100 if not total and self.run.status != "running" else int(100 * (self.run.orgs_done or 0) / total) if total else 0

    @property
    def summary(self) -> list[dict]:
        """Per-org entries, failed first."""
        entries = [e for e in (self.run.summary or []) if isinstance(e, dict)]
        def rank(e: dict) -> int:
            return 0 if e.get("status") in ("failed", "interrupted") else 1 if e.get("not_emailed") else 2
        return sorted(entries, key=lambda e: (rank(e), e.get("org") or ""))

    @property
    def not_emailed_count(self) -> int:
        """Invoices issued by the run that could not be e-mailed (the org's address): warnings."""
        return sum(len(e.get("not_emailed") or []) for e in self.summary)

    @property
    def month_label(self) -> str:
        """The run's month for people, e.g. November 2026."""
        from ..billing.days import Period

        return Period.parse(self.run.period).first_day.strftime("%B %Y")

    @property
    def offer_real_run(self) -> bool:
        """A finished dry run of a month that has ended: offer to run it for real."""
        from ..billing.days import Period
        from ..billing.issuing import local_today

        return (bool(self.run.dry_run) and not self.polling and self.status in ("done", "done_with_errors")
                and month_has_ended(Period.parse(self.run.period), local_today()))

    @property
    def would_issue(self) -> int:
        """Dry run: how many invoices it found to issue."""
        return sum(1 for e in self.summary for d in e.get("drafts") or [] if not d.get("existing"))

    @property
    def would_issue_total(self) -> Decimal:
        """Dry run: the total (incl. VAT) of the invoices it found to issue."""
        return sum((Decimal(d["total_chf"]) for e in self.summary for d in e.get("drafts") or []
                    if not d.get("existing")), Decimal("0.00"))

    @property
    def failed_entries(self) -> list[dict]:
        return [e for e in self.summary if e.get("errors")]


def recent_runs(limit: int = 30) -> list[RunView]:
    """The latest runs, newest first (liveness checked only for those still marked running)."""
    runs = db.session.execute(
        sa.select(BillingRun).order_by(BillingRun.started_at.desc(), BillingRun.id.desc()).limit(limit)
    ).scalars().all()
    return [RunView(r, run_is_alive(r) if r.status == "running" else False) for r in runs]


def run_view(run: BillingRun) -> RunView:
    return RunView(run, run_is_alive(run) if run.status == "running" else False)


def month_has_ended(period: Period, today: date) -> bool:
    return period.next().first_day <= today


def _work(app: Flask, run_id: int, period: Period, dry_run: bool, actor: str) -> None:
    with app.app_context():
        try:
            run_monthly(period, run_id=run_id, dry_run=dry_run, started_by=actor)
        except Exception:  # recorded on the run as interrupted by run_monthly; logged here
            log.exception("billing run %s for %s stopped", run_id, period.key)
        finally:
            mark_run_active(run_id, False)
            db.session.remove()
            _threads.pop(run_id, None)


def start_background_run(period: Period, *, dry_run: bool, started_by: str) -> BillingRun:
    """Record a new run for the month and start it in a thread; RunRefused while another one is alive."""
    app = current_app._get_current_object()
    with _start_lock:
        if db.session.get_bind().dialect.name == "postgresql":
            # Serialise starts of the same month across processes until this transaction commits.
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(f"pieced-admin:start-run:{period.key}"))))
        for other in db.session.execute(
            sa.select(BillingRun).where(BillingRun.period == period.key, BillingRun.status == "running")
        ).scalars():
            if run_is_alive(other):
                zone = ZoneInfo(app.config["BILLING_TIMEZONE"])
                started = other.started_at.astimezone(zone).strftime("%d.%m.%Y %H:%M") if other.started_at else "?"
                raise RunRefused(
                    f"A billing run for {period.key} is already in progress (run #{other.id}, started {started} "
                    f"by {other.started_by or 'unknown'}). Wait for it to finish, then start again if needed.")
            other.status = "interrupted"  # its process is gone
            other.finished_at = utcnow()
            log.info("billing run %s for %s had stopped; marked interrupted", other.id, period.key)
        run = BillingRun(period=period.key, dry_run=dry_run, status="running", started_by=started_by,
                         started_at=utcnow())
        db.session.add(run)
        db.session.flush()
        record_audit("billing_run.start", "billing_run", run.id, after={"period": period.key, "dry_run": dry_run})
        db.session.commit()
        mark_run_active(run.id)
        thread = threading.Thread(target=_work, args=(app, run.id, period, dry_run, started_by),
                                  name=f"billing-run-{run.id}", daemon=True)
        _threads[run.id] = thread
        thread.start()
    return run
