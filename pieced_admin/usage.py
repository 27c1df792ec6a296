"""The usage ledger: Threema messages reported by the bridges, one row per message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models.dialect import insert_for
from .models import TenantLifecycle, TenantUsage

MAX_RECORDS = 5000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("sent_at is required (ISO-8601 with a time zone, e.g. 2026-10-12T08:15:00Z)")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"sent_at {value!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise ValueError(f"sent_at {value!r} has no time zone (add Z or an offset)")
    return moment.astimezone(timezone.utc)


def _validate(record: Any) -> tuple[str, str, datetime]:
    if not isinstance(record, dict):
        raise ValueError("a record must be an object with tenant, message_id and sent_at")
    tenant = record.get("tenant")
    message_id = record.get("message_id")
    if not isinstance(tenant, str) or not tenant.strip():
        raise ValueError("tenant is required")
    if not isinstance(message_id, (str, int)) or not str(message_id).strip():
        raise ValueError("message_id is required")
    if len(str(message_id)) > 200:
        raise ValueError("message_id is longer than 200 characters")
    return tenant.strip(), str(message_id).strip(), _parse_time(record.get("sent_at"))


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

    known = set(db.session.execute(
        sa.select(TenantLifecycle.tenant_name).where(TenantLifecycle.tenant_name.in_({p[1] for p in parsed}))
    ).scalars()) if parsed else set()
    already = set(db.session.execute(
        sa.select(TenantUsage.external_id).where(
            TenantUsage.metric == "threema_messages",
            TenantUsage.external_id.in_({p[2] for p in parsed}),
        )
    ).scalars()) if parsed else set()

    table = TenantUsage.__table__
    insert = insert_for(table)
    seen: set[str] = set()
    rows = []
    for index, tenant, message_id, sent_at in parsed:
        if tenant not in known:
            result.rejected += 1
            result.errors.append({"index": index, "message_id": message_id, "error": f"unknown tenant {tenant!r}"})
            continue
        if message_id in already or message_id in seen:
            result.duplicates += 1
            continue
        seen.add(message_id)
        rows.append({"tenant_name": tenant, "metric": "threema_messages", "quantity": 1,
                     "occurred_at": sent_at,
                     "external_id": message_id})
    if rows:
        # A concurrent report of the same message is absorbed by the unique key.
        inserted = db.session.execute(
            insert.on_conflict_do_nothing(index_elements=["metric", "external_id"]).returning(table.c.id),
            rows,
        ).all()
        result.accepted += len(inserted)
        result.duplicates += len(rows) - len(inserted)
    return result


def _mid(record: Any):
    return record.get("message_id") if isinstance(record, dict) else None
