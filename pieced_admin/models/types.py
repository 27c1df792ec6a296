"""Column types shared by the models: UTC timestamps and money."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A time-zone-aware timestamp stored in UTC and read back aware, in UTC, on every database.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is
    stored as UTC wall time and the zone is attached again when read.
    Naive datetimes are refused: their meaning is a guess.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: timestamps must be time-zone aware")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def Money():  # noqa: N802 - reads like a type in the models
    """NUMERIC(10,2): a CHF amount."""
    return sa.Numeric(10, 2, asdecimal=True)


def UnitPrice():  # noqa: N802
    """NUMERIC(10,5): a per-unit price."""
    return sa.Numeric(10, 5, asdecimal=True)


def Quantity():  # noqa: N802
    """NUMERIC(16,6): a line quantity (days, messages, or USD of LLM spend)."""
    return sa.Numeric(16, 6, asdecimal=True)


def Percent():  # noqa: N802
    """NUMERIC(5,2): a percentage such as a VAT rate."""
    return sa.Numeric(5, 2, asdecimal=True)


def utcnow() -> datetime:
    """The current time, aware and in UTC, from the app's one clock."""
    from .. import clock

    return clock.now()


ZERO = Decimal("0")
