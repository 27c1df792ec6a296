"""The audit log: one helper that every state change calls."""

from __future__ import annotations

import contextlib
import contextvars
import getpass
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from flask import has_request_context
from flask_login import current_user

from .extensions import db
from .models import AuditLog
from .models.types import utcnow

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("pieced_actor", default=None)


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Name who acts outside a web request (the CLI, the watcher, Stripe, the monthly job)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> tuple[str, int | None]:
    """(label, user id) of whoever is acting now."""
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.label, current_user.id
    actor = _actor.get()
    if actor:
        return actor, None
    try:
        return f"cli:{getpass.getuser()}", None
    except Exception:  # pragma: no cover - no user name in some containers
        return "system", None


def jsonable(value: Any) -> Any:
    """Turn Decimals, dates and nested containers into what JSON can hold, losslessly for money."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict:
    """The named attributes of `obj`, ready for the audit log."""
    return {f: jsonable(getattr(obj, f, None)) for f in fields}


def record_audit(
    action: str,
    object_type: str,
    object_id: Any = None,
    *,
    before: Mapping | None = None,
    after: Mapping | None = None,
    note: str | None = None,
) -> AuditLog:
    """Add an audit entry to the current transaction (the caller commits)."""
    label, user_id = current_actor()
    if before is not None and after is not None:
        # Keep only what changed, so the log reads as a diff.
        keys = [k for k in after if before.get(k) != after.get(k)]
        before = {k: before.get(k) for k in keys}
        after = {k: after.get(k) for k in keys}
    entry = AuditLog(
        occurred_at=utcnow(),
        user_id=user_id,
        actor=label,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        note=note,
    )
    db.session.add(entry)
    return entry


# --------------------------------------------------------------------------- reading it back

_QUIET = {"updated_at", "created_at"}


def _changes(before: Mapping | None, after: Mapping | None) -> list[tuple[str, Any, Any]]:
    """(field, old, new) of what an entry changed; for an entry with only `after`, its values."""
    before, after = dict(before or {}), dict(after or {})
    keys = list(dict.fromkeys([*before, *after]))
    return [(k, before.get(k), after.get(k)) for k in keys if k not in _QUIET and before.get(k) != after.get(k)]


def change_history(object_type: str, object_id: str, limit: int = 30) -> list[dict]:
    """The latest audit entries of one object, newest first, each with who, when and what changed."""
    import sqlalchemy as sa

    rows = db.session.execute(
        sa.select(AuditLog).where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
        .order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc()).limit(limit)
    ).scalars().all()
    return [{"at": r.occurred_at, "actor": r.actor, "action": r.action, "note": r.note,
             "changes": _changes(r.before, r.after)} for r in rows]
