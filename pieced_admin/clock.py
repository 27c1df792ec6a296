"""The app's one clock: every "now" and "today" is read here.

Nothing else in the app calls ``datetime.now()`` or ``date.today()``. Tests
pin the clock to the day they are about (``pinned``), and ``pieced-admin dev``
sets it to the demo's date, so what the app shows and computes never depends
on the machine's date. A pinned clock either stands still or ticks on from the
pinned instant (a served demo, where seconds should pass).

Outside tests the clock may also be set from the environment: ``PIECED_NOW``
(an ISO 8601 instant, e.g. ``2026-12-01T09:00:00+01:00``; a date alone means
its 12:00 in the billing time zone) pins it for a whole process, which is how
tests run the CLI in a subprocess on a chosen day.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

__all__ = ["now", "today", "set_now", "reset", "pinned", "parse_instant", "DEFAULT_ZONE"]

DEFAULT_ZONE = "Europe/Zurich"

_lock = threading.Lock()
# (pinned instant, monotonic reading when pinned, ticking?) or None for the real clock.
_pin: tuple[datetime, float, bool] | None = None


def parse_instant(text: str, zone: str | None = None) -> datetime:
    """An aware UTC instant from ISO text; a bare date is its noon in the billing zone."""
    text = text.strip()
    tz = ZoneInfo(zone or os.environ.get("BILLING_TIMEZONE") or DEFAULT_ZONE)
    if len(text) == 10:
        moment = datetime.combine(date.fromisoformat(text), dtime(12, 0), tzinfo=tz)
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


def _from_environment() -> None:
    value = os.environ.get("PIECED_NOW", "").strip()
    if value:
        set_now(parse_instant(value), ticking=os.environ.get("PIECED_NOW_TICKING", "") == "1")


def set_now(moment: datetime | date, *, ticking: bool = False) -> None:
    """Pin the clock to ``moment`` (a date: its noon in the billing zone); ``ticking`` lets it run on."""
    global _pin
    if not isinstance(moment, datetime):
        moment = parse_instant(moment.isoformat())
    if moment.tzinfo is None:
        raise ValueError("The clock needs an aware datetime.")
    with _lock:
        _pin = (moment.astimezone(timezone.utc), time.monotonic(), ticking)


def reset() -> None:
    """Back to the machine's clock."""
    global _pin
    with _lock:
        _pin = None


def now() -> datetime:
    """The current instant, aware and in UTC."""
    pin = _pin
    if pin is None:
        return datetime.now(timezone.utc)
    moment, since, ticking = pin
    if ticking:
        return moment + timedelta(seconds=time.monotonic() - since)
    return moment


def today(zone: str | ZoneInfo | None = None) -> date:
    """Today's date in ``zone`` (default: the billing time zone of the environment, else Europe/Zurich)."""
    if zone is None:
        zone = _app_zone()
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return now().astimezone(tz).date()


def _app_zone() -> str:
    try:
        from flask import current_app

        return current_app.config.get("BILLING_TIMEZONE") or DEFAULT_ZONE
    except RuntimeError:  # no app context: a pure helper or a script
        return os.environ.get("BILLING_TIMEZONE") or DEFAULT_ZONE


@contextlib.contextmanager
def pinned(moment: datetime | date | str, *, ticking: bool = False) -> Iterator[datetime]:
    """Within the block the clock reads ``moment`` (ISO text accepted); afterwards what it read before."""
    global _pin
    previous = _pin
    set_now(parse_instant(moment) if isinstance(moment, str) else moment, ticking=ticking)
    try:
        yield now()
    finally:
        with _lock:
            _pin = previous


_from_environment()
