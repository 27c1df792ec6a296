"""One clock: the app reads "now" and "today" only through pieced_admin.clock."""

from __future__ import annotations

import ast
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from pieced_admin import clock

PACKAGE = Path(__file__).resolve().parent.parent / "pieced_admin"
FORBIDDEN = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time")}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            yield node.lineno, name, node.func.attr


def test_no_module_reads_the_machine_clock_on_its_own():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "clock.py":
            continue
        for line, owner, attr in _calls(ast.parse(path.read_text(), str(path))):
            if (owner, attr) in FORBIDDEN:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {owner}.{attr}()")
    assert not offenders, "use pieced_admin.clock: " + ", ".join(offenders)


@pytest.mark.now("2027-03-28T01:30:00+01:00")
def test_a_pinned_day_is_what_the_app_reads():
    # 28 March 2027 is the spring DST change: 01:30 CET is 00:30 UTC, still the 28th in Zurich.
    assert clock.now() == datetime(2027, 3, 28, 0, 30, tzinfo=timezone.utc)
    assert clock.today("Europe/Zurich") == date(2027, 3, 28)


@pytest.mark.now("2027-01-01T00:30:00+01:00")
def test_today_is_the_billing_zones_day_not_utcs():
    # 00:30 on New Year's Day in Zurich is still 31 December in UTC.
    assert clock.now().date() == date(2026, 12, 31)
    assert clock.today("Europe/Zurich") == date(2027, 1, 1)


def test_a_bare_date_is_its_noon_in_the_billing_zone():
    assert clock.parse_instant("2028-02-29", "Europe/Zurich") == datetime(2028, 2, 29, 11, 0, tzinfo=timezone.utc)


def test_pinned_restores_what_the_clock_read_before():
    before = clock.now()
    with clock.pinned("2030-06-01"):
        assert clock.today("Europe/Zurich") == date(2030, 6, 1)
    assert abs((clock.now() - before).total_seconds()) < 60


def test_a_ticking_clock_runs_on_from_its_pin():
    with clock.pinned("2026-12-24T18:00:00+01:00", ticking=True) as start:
        assert clock.now() >= start
        assert (clock.now() - start).total_seconds() < 60
