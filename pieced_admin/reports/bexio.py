"""Posting the accounting journal of an entity and period to bexio: every row once, as one manual entry.

`plan_push` is PURE: the journal's rows, bexio's account ids and the manual entries bexio holds in,
each row's request body and whether bexio has it already out. `post_journal_to_bexio` is the
service around it: it locks the entity's period, reads bexio's chart of accounts and its manual
entries, books what is missing, row by row in journal order, and records one audit entry.

A row is in bexio already when a manual entry with the row's `reference_nr` (the document number)
and date holds a line with the row's debit account id, credit account id and amount. Each such
line stands for one row only, so a document with two equal rows needs two equal lines (a line
with the row's own description is taken first). Posting twice therefore never books twice, and a
push that stopped halfway is finished by running it again. The match ignores descriptions and
anything a bexio user may have added; a booking changed in bexio (another amount or account) is
no longer recognised and would be booked again.

Two pushes at once: on PostgreSQL each holds a transaction advisory lock per entity and month
of its period (a quarter takes its three months, sorted, so a quarter and one of its months
also wait for each other) until its transaction ends, and reads bexio's entries only once it
holds them. SQLite needs no lock of its own: every transaction there begins with BEGIN IMMEDIATE
(`models/sqlite.py`), so a second push waits for the first one's commit before it reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from ..billing.money import fmt_amount, q2
from ..integrations.bexio import BexioClient, BexioError, client_from_config
from .journal import JournalRow
from .journal_formats import bexio_body

__all__ = ["AUDIT_ACTION", "BexioAccountsMissing", "BexioPushResult", "JournalNotFound", "PlannedRow", "RowOutcome",
           "bexio_push_lock_keys", "plan_push", "post_journal_to_bexio"]

AUDIT_ACTION = "journal.posted_to_bexio"

Key = tuple[str, str, int | None, int | None, Decimal]


class JournalNotFound(ValueError):
    """No such entity, or the period is not a quarter or a month: the caller's input, nothing contacted."""


class BexioAccountsMissing(BexioError):
    """bexio lacks (or has switched off) an account the journal books on: nothing was posted."""

    def __init__(self, missing: Sequence[str], inactive: Sequence[str] = ()):
        parts = []
        if missing:
            parts.append(f"bexio has no account {', '.join(missing)}")
        if inactive:
            parts.append(f"account {', '.join(inactive)} is inactive in bexio")
        super().__init__("; ".join(parts) + ": create or activate it in bexio's chart of accounts (or change the "
                         "entity's journal accounts), then post again; nothing was posted")
        self.missing = tuple(missing)
        self.inactive = tuple(inactive)


# --------------------------------------------------------------------------- planning (pure)


@dataclass(frozen=True)
class PlannedRow:
    row: JournalRow
    body: dict
    already: bool = False         # a line of bexio's manual entries holds it
    booked_as: int | None = None  # the id of that manual entry


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _amount(value) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return q2(amount) if amount.is_finite() else None


def body_key(body: Mapping) -> Key:
    """What makes a single entry the same booking: reference, date, debit id, credit id, amount."""
    (line,) = body["entries"]
    return (str(body.get("reference_nr") or "").strip(), str(body["date"]), _int(line["debit_account_id"]),
            _int(line["credit_account_id"]), q2(line["amount"]))


def booked_lines(manual_entries: Iterable[Mapping]) -> list[tuple[Key, str, int | None]]:
    """Every line of bexio's manual entries as (key, description, manual entry id)."""
    out = []
    for entry in manual_entries:
        if not isinstance(entry, Mapping):
            continue
        reference = str(entry.get("reference_nr") or "").strip()
        day = str(entry.get("date") or "")[:10]
        for line in entry.get("entries") or ():
            if not isinstance(line, Mapping):
                continue
            amount = _amount(line.get("amount"))
            if amount is None:
                continue
            key = (reference, day, _int(line.get("debit_account_id")), _int(line.get("credit_account_id")), amount)
            out.append((key, str(line.get("description") or ""), _int(entry.get("id"))))
    return out


def plan_push(rows: Sequence[JournalRow], account_ids: Mapping[str, int],
              manual_entries: Iterable[Mapping]) -> list[PlannedRow]:
    """Each row's body (with bexio's ids) and the manual entry already holding it, if any.

    Every account number of the rows must be in `account_ids`. Each booked line is matched to
    at most one row: first to a row with the same description, then to any row of its key.
    """
    bodies = [bexio_body(r, account_ids[r.debit], account_ids[r.credit]) for r in rows]
    pool: dict[Key, list[tuple[str, int | None]]] = {}
    for key, description, entry_id in booked_lines(manual_entries):
        pool.setdefault(key, []).append((description, entry_id))
    found: list[int | None] = [None] * len(rows)
    taken = [False] * len(rows)
    for exact in (True, False):
        for i, body in enumerate(bodies):
            if taken[i]:
                continue
            candidates = pool.get(body_key(body)) or []
            description = body["entries"][0]["description"]
            for n, (booked_description, entry_id) in enumerate(candidates):
                if not exact or booked_description.strip() == description:
                    found[i], taken[i] = entry_id, True
                    del candidates[n]
                    break
    return [PlannedRow(r, b, taken[i], found[i]) for i, (r, b) in enumerate(zip(rows, bodies))]


# --------------------------------------------------------------------------- results


@dataclass
class RowOutcome:
    """What happened to one row: posted, already_in_bexio, would_post (dry run), refused (bexio said no:
    not booked), failed (bexio may have booked it: the next push knows) or not_posted (after a failure)."""

    row: JournalRow
    body: dict
    outcome: str
    bexio_id: int | None = None
    message: str | None = None

    def as_json(self) -> dict:
        return {"date": self.row.booked_on.isoformat(), "document": self.row.document,
                "reference_nr": self.body["reference_nr"], "description": self.body["entries"][0]["description"],
                "debit_account_no": self.row.debit, "credit_account_no": self.row.credit,
                "debit_account_id": self.body["entries"][0]["debit_account_id"],
                "credit_account_id": self.body["entries"][0]["credit_account_id"],
                "amount_chf": fmt_amount(self.row.amount_chf), "outcome": self.outcome, "bexio_id": self.bexio_id,
                "message": self.message}


@dataclass
class BexioPushResult:
    entity: str
    period: str
    dry_run: bool
    rows: list[RowOutcome] = field(default_factory=list)
    error: str | None = None  # bexio failed midway: which rows were posted and which not is in `rows`
    paused: bool = False  # the time budget ran out: the rows not posted yet are `not_posted`, nothing failed

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def posted(self) -> int:
        return self.count("posted")

    @property
    def skipped(self) -> int:
        """Rows already in bexio (not posted again)."""
        return self.count("already_in_bexio")

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        """One line, e.g. "12 bookings posted, 3 already in bexio"."""
        def n(count: int) -> str:
            return f"{count} booking{'' if count == 1 else 's'}"

        if self.dry_run:
            return (f"{n(self.count('would_post'))} would be posted, {self.skipped} already in bexio "
                    "(dry run: nothing was posted)")
        text = f"{n(self.posted)} posted, {self.skipped} already in bexio"
        if self.paused:
            text += f"; {n(self.count('not_posted'))} still to post: continue to book them"
        if self.error:
            unsent = self.count("not_posted") + self.count("refused")
            unknown = self.count("failed")
            text += (f"; then {self.error}"
                     + (f"; {n(unknown)} may or may not be in bexio" if unknown else "")
                     + (f"; {n(unsent)} not posted" if unsent else "")
                     + ": post again to book the rest")
        return text

    def as_json(self) -> dict:
        return {"entity": self.entity, "period": self.period, "dry_run": self.dry_run, "ok": self.ok,
                "paused": self.paused,
                "posted": self.posted, "already_in_bexio": self.skipped,
                "would_post": self.count("would_post"), "not_posted": self.count("not_posted") + self.count("refused"),
                "uncertain": self.count("failed"), "error": self.error, "summary": self.summary(),
                "rows": [r.as_json() for r in self.rows]}


# --------------------------------------------------------------------------- the service


def bexio_push_lock_keys(entity_code: str, span) -> list[int]:
    """The advisory lock keys of a push: one per entity and month of the period, sorted."""
    from ..billing.days import Period
    from ..billing.monthly import lock_key

    keys, month = set(), Period.of(span.first_day)
    while month.first_day <= span.last_day:
        keys.add(lock_key(f"pieced-admin:bexio-push:{entity_code}:{month.key}"))
        month = month.next()
    return sorted(keys)


def _lock(entity_code: str, span) -> None:
    from ..extensions import db
    from ..models.dialect import dialect_name

    if dialect_name() != "postgresql":
        return
    for key in bexio_push_lock_keys(entity_code, span):
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def post_journal_to_bexio(entity_code: str | None, quarter_text: str | None, *, dry_run: bool = False,
                          client: BexioClient | None = None, budget_seconds: float | None = None) -> BexioPushResult:
    """Book the journal of the entity and period (a quarter YYYY-Qn or a month YYYY-MM) in bexio.

    Raises JournalNotFound for an unknown entity or a bad period, BexioNotConfigured without
    BEXIO_TOKEN, BexioAccountsMissing when bexio lacks an account the rows use and BexioError when
    bexio cannot be read: in each case nothing is posted. A failure while booking does not raise:
    the result says which rows were posted and which not (`error`), and is audited like a
    complete push. The caller commits (which releases the lock).

    `budget_seconds` (the page's, which answers within a web request): no booking is started once
    that much time has gone; the rest are `not_posted` and the result is `paused`, to be continued by
    the next push (which finds what this one booked).
    """
    from ..audit import record_audit
    from .services import journal_view

    if not entity_code or not quarter_text:
        raise JournalNotFound("give the entity's code and the period (a quarter YYYY-Qn or a month YYYY-MM)")
    view = journal_view(entity_code, quarter_text)
    if view.error:
        raise JournalNotFound(view.error[:1].lower() + view.error[1:].rstrip("."))
    own_client = client is None
    client = client or client_from_config()
    try:
        if not dry_run:
            _lock(view.entity.code, view.quarter)
        result = _push(client, view, dry_run=dry_run, budget_seconds=budget_seconds)
    finally:
        if own_client:
            client.close()
    if not dry_run:
        record_audit(AUDIT_ACTION, "billing_entity", view.entity.id,
                     after={"entity": view.entity.code, "period": view.quarter.key, "posted": result.posted,
                            "skipped": result.skipped, "paused": result.paused,
                            "not_posted": result.count("not_posted") + result.count("refused"),
                            "uncertain": result.count("failed"),
                            "bexio_ids": [r.bexio_id for r in result.rows if r.outcome == "posted"]},
                     note=result.summary()[:1000])
    return result


def _push(client: BexioClient, view, *, dry_run: bool, budget_seconds: float | None = None) -> BexioPushResult:
    result = BexioPushResult(view.entity.code, view.quarter.key, dry_run)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    rows = view.rows
    used = sorted({r.debit for r in rows} | {r.credit for r in rows})
    if not used:
        return result
    accounts = {str(a.get("account_no") or "").strip(): a for a in client.accounts() if isinstance(a, Mapping)}
    missing = [n for n in used if n not in accounts or _int(accounts[n].get("id")) is None]
    inactive = [n for n in used if n not in missing and accounts[n].get("is_active") is False]
    if missing or inactive:
        raise BexioAccountsMissing(missing, inactive)
    ids = {n: _int(accounts[n]["id"]) for n in used}
    plan = plan_push(rows, ids, client.manual_entries())
    for item in plan:
        if item.already:
            result.rows.append(RowOutcome(item.row, item.body, "already_in_bexio", item.booked_as))
        elif dry_run:
            result.rows.append(RowOutcome(item.row, item.body, "would_post"))
        elif result.error or result.paused:
            result.rows.append(RowOutcome(item.row, item.body, "not_posted"))
        elif deadline is not None and result.posted and time.monotonic() >= deadline:
            # at least one booking per push, so that continuing always gets on
            result.paused = True
            result.rows.append(RowOutcome(item.row, item.body, "not_posted"))
        else:
            try:
                created = client.create_manual_entry(item.body)
            except BexioError as exc:
                result.error = (f"bexio failed on {item.row.document} ({item.row.debit}/{item.row.credit} "
                                f"{fmt_amount(item.row.amount_chf)}): {exc}")
                result.rows.append(RowOutcome(item.row, item.body, "failed" if exc.ambiguous else "refused",
                                              message=str(exc)))
                continue
            result.rows.append(RowOutcome(item.row, item.body, "posted", _int(created.get("id"))))
    return result

