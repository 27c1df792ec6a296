"""Time-zone-aware day arithmetic for billing (pure: no database, clock or config).

Every interval is half-open ``[start, end)`` between tz-aware UTC datetimes.
Interval lists are sorted and non-overlapping; the helpers below keep them so.
A billing month and its days are local to the billing time zone, so a day
lasts 23 or 25 hours on daylight-saving changes.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc

Interval = tuple[datetime, datetime]

_MIN_YEAR = 1900
_MAX_YEAR = 9998


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month of billing, e.g. ``Period(2026, 10)`` for October 2026."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not isinstance(self.year, int) or not isinstance(self.month, int):
            raise TypeError("Period year and month must be integers.")
        if not 1 <= self.month <= 12:
            raise ValueError(f"Invalid month {self.month}: expected 1 to 12.")
        if not _MIN_YEAR <= self.year <= _MAX_YEAR:
            raise ValueError(f"Invalid year {self.year}: expected {_MIN_YEAR} to {_MAX_YEAR}.")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYY-MM``; raise ValueError with a message fit for a person."""
        value = text.strip() if isinstance(text, str) else ""
        if len(value) != 7 or value[4] != "-" or not (value[:4].isdigit() and value[5:].isdigit()):
            raise ValueError(f"Invalid month {text!r}: expected YYYY-MM, e.g. 2026-10.")
        try:
            return cls(int(value[:4]), int(value[5:]))
        except ValueError as exc:
            raise ValueError(f"Invalid month {text!r}: {exc}") from None

    @classmethod
    def of(cls, day: date) -> Period:
        """The month containing a (local) date."""
        return cls(day.year, day.month)

    @property
    def key(self) -> str:
        """The month as ``YYYY-MM``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days_in_month(self) -> int:
        """Number of calendar days in the month."""
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def first_day(self) -> date:
        """The first day of the month."""
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        """The last day of the month (inclusive)."""
        return date(self.year, self.month, self.days_in_month)

    def next(self) -> Period:
        """The following month."""
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        """The preceding month."""
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def __str__(self) -> str:
        return self.key


def zone(tz: str | tzinfo) -> tzinfo:
    """Resolve a time-zone name (or pass a tzinfo through); unknown names raise ValueError."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"Unknown time zone {tz!r}.") from None


def to_utc(moment: datetime) -> datetime:
    """Return a tz-aware datetime in UTC; naive datetimes are refused (their zone is unknown)."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"Naive datetime {moment.isoformat()} given: billing needs tz-aware times.")
    return moment.astimezone(UTC)


def _local_midnight_utc(day: date, tz: tzinfo) -> datetime:
    # fold=0 takes the first occurrence of an ambiguous midnight; a midnight
    # skipped by a DST gap maps to the instant the gap starts.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def month_bounds(period: Period, tz: str | tzinfo) -> Interval:
    """The month as a UTC interval: local midnight of day 1 to local midnight of the next month."""
    days = month_days(period, tz)
    return (days[0][0], days[-1][1])


def local_days(period: Period, tz: str | tzinfo) -> list[Interval]:
    """Each local calendar day of the month as a UTC interval (23 or 25 hours on DST changes)."""
    return list(month_days(period, tz))


# Billing runs ask for the same few months over and over (one call per org), so
# the days are memoised; they depend on nothing but the month and the zone.
_DAYS_MEMO: dict[tuple[Period, tzinfo], tuple[Interval, ...]] = {}
_DAYS_MEMO_SIZE = 256


def month_days(period: Period, tz: str | tzinfo) -> tuple[Interval, ...]:
    """Like local_days(), as a shared immutable tuple (memoised per month and zone)."""
    zone_ = zone(tz)
    key = (period, zone_)
    days = _DAYS_MEMO.get(key)
    if days is None:
        first = period.first_day
        bounds = [_local_midnight_utc(first + timedelta(days=n), zone_) for n in range(period.days_in_month)]
        bounds.append(_local_midnight_utc(period.next().first_day, zone_))
        days = tuple(zip(bounds, bounds[1:]))
        if len(_DAYS_MEMO) >= _DAYS_MEMO_SIZE:
            _DAYS_MEMO.clear()
        _DAYS_MEMO[key] = days
    return days


def switch_intervals(switches: Iterable[tuple[datetime, bool]], until: datetime) -> list[Interval]:
    """Intervals during which a switch is on, from ``(instant, on)`` pairs in event order.

    The switch starts off. Switching on when on, or off when off, changes
    nothing. An interval still open at the end is closed at ``until``; nothing
    at or after ``until`` is returned. Empty intervals are dropped and touching
    ones merged.
    """
    out: list[Interval] = []
    on_since: datetime | None = None
    for at, on in switches:
        if on:
            if on_since is None:
                on_since = at
        elif on_since is not None:
            _append(out, on_since, min(at, until))
            on_since = None
    if on_since is not None:
        _append(out, on_since, until)
    return out


def _append(out: list[Interval], start: datetime, end: datetime) -> None:
    if start >= end:
        return
    if out and out[-1][1] >= start:
        if end > out[-1][1]:
            out[-1] = (out[-1][0], end)
        return
    out.append((start, end))


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Instants in both interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        (a_start, a_end), (b_start, b_end) = a[i], b[j]
        start = a_start if a_start > b_start else b_start
        end = a_end if a_end < b_end else b_end
        if start < end:
            out.append((start, end))
        if a_end < b_end:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Instants in ``a`` but not in ``b``."""
    out: list[Interval] = []
    j = 0
    for start, end in a:
        cursor = start
        while j < len(b) and b[j][1] <= cursor:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            cut_start, cut_end = b[k]
            if cut_start > cursor:
                out.append((cursor, cut_start))
            if cut_end > cursor:
                cursor = cut_end
            if cut_end >= end:
                break  # b[k] may reach into the next interval of a: keep it
            k += 1
        j = k
        if cursor < end:
            out.append((cursor, end))
    return out


def count_days(intervals: Sequence[Interval], days: Sequence[Interval]) -> int:
    """How many of ``days`` share a part of positive length with ``intervals``."""
    count = 0
    i, n = 0, len(days)
    for start, end in intervals:
        if start >= end:
            continue
        while i < n and days[i][1] <= start:
            i += 1
        # A day shared with the previous interval is already counted: i is past it.
        while i < n and days[i][0] < end:
            count += 1
            i += 1
        if i == n:
            break
    return count


def live_intervals(
    created_at: datetime,
    deleted_at: datetime | None,
    suspension_switches: Iterable[tuple[datetime, bool]],
    window: Interval,
) -> list[Interval]:
    """When a tenant is live within ``window``: it exists and is not suspended.

    ``suspension_switches`` are ``(instant, suspended)`` pairs in event order,
    including events from before the tenant was created (they set its state).
    """
    start = max(to_utc(created_at), window[0])
    end = window[1] if deleted_at is None else min(to_utc(deleted_at), window[1])
    if start >= end:
        return []
    suspended = switch_intervals(((to_utc(at), on) for at, on in suspension_switches), until=end)
    return subtract([(start, end)], suspended)


def billable_days(live: Sequence[Interval], days: Sequence[Interval]) -> int:
    """Days on which the tenant is live for a positive length of time."""
    return count_days(live, days)


def skill_days(skill_on: Sequence[Interval], live: Sequence[Interval], days: Sequence[Interval]) -> int:
    """Days on which the skill is enabled while the tenant is live, for a positive length of time."""
    return count_days(intersect(skill_on, live), days)
