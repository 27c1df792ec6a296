"""The usage ledger: Threema messages reported by the bridges, one row per message.

A record is refused (named in the 400, the batch's good records kept) when its
`sent_at` cannot be a real message of that tenant: more than
`USAGE_FUTURE_TOLERANCE` in the future, more than a day before the tenant was
created, or beyond what a timestamp can hold. A message for a month that
already has a non-void invoice is kept, marked with that invoice (late usage),
and reported to the bridge, on the dashboard and by `billing verify`: never
silently lost, never silently billed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from . import clock
from .extensions import db
from .models import Invoice, InvoiceLine, TenantLifecycle, TenantUsage
from .models.dialect import insert_for

MAX_RECORDS = 5000
FUTURE_TOLERANCE = timedelta(minutes=10)
BEFORE_CREATION_TOLERANCE = timedelta(days=1)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    late: list[dict] = field(default_factory=list)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("sent_at is required (ISO-8601 with a time zone, e.g. 2026-10-12T08:15:00Z)")
    text = value.strip()
    if len(text) > 64:
        raise ValueError("sent_at is not an ISO-8601 timestamp (too long)")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"sent_at {value!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise ValueError(f"sent_at {value!r} has no time zone (add Z or an offset)")
    try:
        moment = moment.astimezone(timezone.utc)
        # The billing month of the instant and the one after must exist too.
        (moment + timedelta(days=62)).astimezone(timezone.utc)
        (moment - timedelta(days=2)).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"sent_at {value!r} is outside the range of timestamps that can be stored") from None
    return moment


def _validate(record: Any) -> tuple[str, str, datetime]:
    if not isinstance(record, dict):
        raise ValueError("a record must be an object with tenant, message_id and sent_at")
    tenant = record.get("tenant")
    message_id = record.get("message_id")
    if not isinstance(tenant, str) or not tenant.strip():
        raise ValueError("tenant is required")
    if len(tenant) > 253:
        raise ValueError("tenant is longer than 253 characters")
    if isinstance(message_id, bool) or not isinstance(message_id, (str, int)) or not str(message_id).strip():
        raise ValueError("message_id is required")
    if len(str(message_id)) > 200:
        raise ValueError("message_id is longer than 200 characters")
    return tenant.strip(), str(message_id).strip(), _parse_time(record.get("sent_at"))


def _month_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date().replace(day=1)


def _invoices_of_months(pairs: set[tuple[str, date]]) -> dict[tuple[str, date], list[tuple[int, str, set[str]]]]:
    """Per (org, month first day): its non-void invoices as (id, number, tenants on it), oldest first."""
    if not pairs:
        return {}
    orgs = {org for org, _ in pairs}
    months = {month for _, month in pairs}
    rows = db.session.execute(
        sa.select(Invoice.id, Invoice.number, Invoice.zitadel_org_id, Invoice.period_start)
        .where(Invoice.status != "void", Invoice.zitadel_org_id.in_(orgs), Invoice.period_start.in_(months))
        .order_by(Invoice.id)
    ).all()
    rows = [r for r in rows if (r.zitadel_org_id, r.period_start) in pairs]
    if not rows:
        return {}
    tenants: dict[int, set[str]] = {}
    for invoice_id, tenant in db.session.execute(
        sa.select(InvoiceLine.invoice_id, InvoiceLine.tenant_name).distinct()
        .where(InvoiceLine.invoice_id.in_([r.id for r in rows]))
    ):
        tenants.setdefault(invoice_id, set()).add(tenant)
    found: dict[tuple[str, date], list[tuple[int, str, set[str]]]] = {}
    for r in rows:
        found.setdefault((r.zitadel_org_id, r.period_start), []).append((r.id, r.number, tenants.get(r.id, set())))
    return found


def ingest_threema_records(payload: Any) -> IngestResult:
    """Store valid records (each once, by message_id), name each bad one; flush, don't commit."""
    records = payload if isinstance(payload, list) else [payload]
    result = IngestResult()
    if len(records) > MAX_RECORDS:
        result.rejected = len(records)
        result.errors.append({"index": None, "error": f"at most {MAX_RECORDS} records per request"})
        return result

    parsed: list[tuple[int, str, str, datetime]] = []
    for index, record in enumerate(records):
        try:
            tenant, message_id, sent_at = _validate(record)
        except ValueError as exc:
            result.rejected += 1
            result.errors.append({"index": index, "message_id": _mid(record), "error": str(exc)})
            continue
        parsed.append((index, tenant, message_id, sent_at))

    known = {row.tenant_name: row for row in db.session.execute(
        sa.select(TenantLifecycle.tenant_name, TenantLifecycle.zitadel_org_id, TenantLifecycle.created_at)
        .where(TenantLifecycle.tenant_name.in_({p[1] for p in parsed}))
    )} if parsed else {}
    already = set(db.session.execute(
        sa.select(TenantUsage.external_id).where(
            TenantUsage.metric == "threema_messages",
            TenantUsage.external_id.in_({p[2] for p in parsed}),
        )
    ).scalars()) if parsed else set()

    zone = ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or "Europe/Zurich")
    latest = clock.now() + FUTURE_TOLERANCE
    checked: list[tuple[int, str, str, datetime]] = []
    for index, tenant, message_id, sent_at in parsed:
        lifecycle = known.get(tenant)
        error = None
        if lifecycle is None:
            error = f"unknown tenant {tenant!r}"
        elif sent_at > latest:
            error = (f"sent_at {sent_at.isoformat()} is more than {int(FUTURE_TOLERANCE.total_seconds() // 60)} "
                     f"minutes in the future")
        elif sent_at < lifecycle.created_at - BEFORE_CREATION_TOLERANCE:
            error = (f"sent_at {sent_at.isoformat()} is more than a day before tenant {tenant!r} was created "
                     f"({lifecycle.created_at.isoformat()})")
        if error:
            result.rejected += 1
            result.errors.append({"index": index, "message_id": message_id, "error": error})
            continue
        checked.append((index, tenant, message_id, sent_at))

    invoiced = _invoices_of_months({(known[t].zitadel_org_id, _month_of(at, zone)) for _, t, _, at in checked})

    table = TenantUsage.__table__
    insert = insert_for(table)
    seen: set[str] = set()
    rows = []
    late_of: dict[str, tuple[int, str]] = {}
    for index, tenant, message_id, sent_at in checked:
        if message_id in already or message_id in seen:
            result.duplicates += 1
            continue
        seen.add(message_id)
        late_invoice = None
        candidates = invoiced.get((known[tenant].zitadel_org_id, _month_of(sent_at, zone)))
        if candidates:
            invoice_id, number, _ = next((c for c in candidates if tenant in c[2]), candidates[0])
            late_invoice = invoice_id
            late_of[message_id] = (index, number)
        rows.append({"tenant_name": tenant, "metric": "threema_messages", "quantity": 1,
                     "occurred_at": sent_at, "external_id": message_id, "late_invoice_id": late_invoice})
    if rows:
        # A concurrent report of the same message is absorbed by the unique key.
        inserted = db.session.execute(
            insert.on_conflict_do_nothing(index_elements=["metric", "external_id"])
            .returning(table.c.id, table.c.external_id),
            rows,
        ).all()
        result.accepted += len(inserted)
        result.duplicates += len(rows) - len(inserted)
        for _id, message_id in inserted:
            if message_id in late_of:
                index, number = late_of[message_id]
                result.late.append({"index": index, "message_id": message_id, "invoice": number,
                                    "note": f"its month is already invoiced on {number}: kept as late usage, "
                                            f"not billed"})
        result.late.sort(key=lambda item: item["index"])
    return result


def late_usage_by_invoice(invoice_ids: list[int] | None = None) -> dict[int, tuple[int, list[str]]]:
    """Late usage still outstanding, per non-void invoice id: (messages, tenants)."""
    query = (
        sa.select(TenantUsage.late_invoice_id, TenantUsage.tenant_name, sa.func.sum(TenantUsage.quantity))
        .join(Invoice, Invoice.id == TenantUsage.late_invoice_id)
        .where(Invoice.status != "void")
        .group_by(TenantUsage.late_invoice_id, TenantUsage.tenant_name)
    )
    if invoice_ids is not None:
        if not invoice_ids:
            return {}
        query = query.where(TenantUsage.late_invoice_id.in_(invoice_ids))
    found: dict[int, tuple[int, list[str]]] = {}
    for invoice_id, tenant, quantity in db.session.execute(query):
        count, tenants = found.get(invoice_id, (0, []))
        found[invoice_id] = (count + int(quantity or 0), sorted({*tenants, tenant}))
    return found


def _mid(record: Any):
    if not isinstance(record, dict):
        return None
    value = record.get("message_id")
    return value if isinstance(value, (str, int)) and len(str(value)) <= 200 else None
