"""Local months and days in UTC, and the interval helpers behind billable days."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pieced_admin.billing.days import (
    Period,
    billable_days,
    count_days,
    intersect,
    live_intervals,
    local_days,
    month_bounds,
    skill_days,
    subtract,
    switch_intervals,
    to_utc,
    zone,
)

UTC = timezone.utc
ZRH = "Europe/Zurich"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def local(*args):
    return datetime(*args, tzinfo=ZoneInfo(ZRH))


# --- Period -------------------------------------------------------------------


def test_period_helpers():
    p = Period(2026, 10)
    assert p.key == "2026-10" == str(p)
    assert p.first_day == date(2026, 10, 1)
    assert p.last_day == date(2026, 10, 31)
    assert p.days_in_month == 31
    assert Period(2028, 2).days_in_month == 29  # leap year
    assert Period(2026, 2).last_day == date(2026, 2, 28)
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert Period.of(date(2026, 10, 31)) == p
    assert Period(2026, 9) < p


@pytest.mark.parametrize("text", ["2026-10", " 2026-10 "])
def test_period_parse(text):
    assert Period.parse(text) == Period(2026, 10)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", "2026-10-01", "abcd-ef", None])
def test_period_parse_rejects_bad_input_with_a_clear_message(text):
    with pytest.raises(ValueError, match="Invalid month"):
        Period.parse(text)


def test_period_rejects_bad_fields():
    with pytest.raises(ValueError):
        Period(2026, 13)
    with pytest.raises(TypeError):
        Period("2026", 10)


def test_unknown_time_zone_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown time zone"):
        month_bounds(Period(2026, 10), "Europe/Nowhere")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="Naive"):
        to_utc(datetime(2026, 10, 1))
    assert to_utc(local(2026, 10, 1)) == utc(2026, 9, 30, 22)
    assert to_utc(local(2026, 10, 1)).tzinfo is UTC


# --- months and days ----------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        # winter time (UTC+1) all month
        (Period(2026, 1), utc(2025, 12, 31, 23), utc(2026, 1, 31, 23)),
        # starts in winter time, ends in summer time (UTC+2): 31 × 24 − 1 hours
        (Period(2026, 3), utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        # summer time all month
        (Period(2026, 7), utc(2026, 6, 30, 22), utc(2026, 7, 31, 22)),
        # starts in summer time, ends in winter time: 31 × 24 + 1 hours
        (Period(2026, 10), utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)),
        (Period(2026, 12), utc(2026, 11, 30, 23), utc(2026, 12, 31, 23)),
    ],
)
def test_month_bounds_in_utc(period, start, end):
    assert month_bounds(period, ZRH) == (start, end)
    assert month_bounds(period, ZoneInfo(ZRH)) == (start, end)


def test_month_bounds_in_utc_zone():
    assert month_bounds(Period(2026, 2), "UTC") == (utc(2026, 2, 1), utc(2026, 3, 1))


@pytest.mark.parametrize(
    ("period", "hours"),
    [
        (Period(2026, 1), 31 * 24),
        (Period(2026, 2), 28 * 24),
        (Period(2026, 3), 31 * 24 - 1),
        (Period(2026, 10), 31 * 24 + 1),
        (Period(2026, 11), 30 * 24),
    ],
)
def test_month_length(period, hours):
    start, end = month_bounds(period, ZRH)
    assert end - start == timedelta(hours=hours)


def test_local_days_of_a_normal_month():
    days = local_days(Period(2026, 11), ZRH)
    assert len(days) == 30
    assert days[0] == (utc(2026, 10, 31, 23), utc(2026, 11, 1, 23))
    assert days[-1] == (utc(2026, 11, 29, 23), utc(2026, 11, 30, 23))
    assert all(end - start == timedelta(hours=24) for start, end in days)
    assert all(a[1] == b[0] for a, b in zip(days, days[1:]))  # contiguous


def test_local_days_of_march_has_one_23_hour_day():
    days = local_days(Period(2026, 3), ZRH)
    assert len(days) == 31
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST
    assert days[28] == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    lengths = [end - start for start, end in days]
    assert lengths[28] == timedelta(hours=23)
    assert all(length == timedelta(hours=24) for n, length in enumerate(lengths) if n != 28)
    assert (days[0][0], days[-1][1]) == month_bounds(Period(2026, 3), ZRH)


def test_local_days_of_october_has_one_25_hour_day():
    days = local_days(Period(2026, 10), ZRH)
    assert len(days) == 31
    # 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET
    assert days[24] == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    lengths = [end - start for start, end in days]
    assert lengths[24] == timedelta(hours=25)
    assert all(length == timedelta(hours=24) for n, length in enumerate(lengths) if n != 24)
    assert (days[0][0], days[-1][1]) == month_bounds(Period(2026, 10), ZRH)


def test_days_are_utc():
    for start, end in local_days(Period(2026, 3), ZRH):
        assert start.tzinfo is UTC and end.tzinfo is UTC


def test_zone_passes_tzinfo_through():
    tz = ZoneInfo(ZRH)
    assert zone(tz) is tz


# --- interval helpers ---------------------------------------------------------


def h(n):
    """An instant n hours after 2026-01-01 00:00 UTC."""
    return utc(2026, 1, 1) + timedelta(hours=n)


def iv(*pairs):
    return [(h(a), h(b)) for a, b in pairs]


@pytest.mark.parametrize(
    ("switches", "until", "expected"),
    [
        ([], 100, []),
        ([(1, True)], 100, [(1, 100)]),
        ([(1, True), (5, False)], 100, [(1, 5)]),
        # repeats change nothing
        ([(1, True), (3, True), (5, False), (7, False)], 100, [(1, 5)]),
        # switching off when off changes nothing
        ([(0, False), (2, True), (4, False)], 100, [(2, 4)]),
        # on and off at the same instant: an empty interval, dropped
        ([(3, True), (3, False)], 100, []),
        # off and on at the same instant: touching intervals merge
        ([(1, True), (3, False), (3, True), (6, False)], 100, [(1, 6)]),
        # clipped at until; nothing from until on
        ([(1, True), (150, False), (160, True)], 100, [(1, 100)]),
        ([(100, True)], 100, []),
    ],
)
def test_switch_intervals(switches, until, expected):
    assert switch_intervals([(h(t), on) for t, on in switches], until=h(until)) == iv(*expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([(0, 10)], [(2, 4), (6, 12)], [(2, 4), (6, 10)]),
        ([(0, 2), (4, 6)], [(2, 4)], []),  # touching only: nothing in common
        ([(0, 5), (7, 9)], [(3, 8)], [(3, 5), (7, 8)]),
        ([], [(0, 1)], []),
    ],
)
def test_intersect(a, b, expected):
    assert intersect(iv(*a), iv(*b)) == iv(*expected)
    assert intersect(iv(*b), iv(*a)) == iv(*expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([(0, 10)], [], [(0, 10)]),
        ([(0, 10)], [(2, 4), (6, 8)], [(0, 2), (4, 6), (8, 10)]),
        ([(0, 10)], [(0, 10)], []),
        ([(0, 10)], [(-5, 3), (9, 20)], [(3, 9)]),
        # one cut spanning two intervals of a
        ([(0, 4), (6, 10)], [(3, 7)], [(0, 3), (7, 10)]),
        ([(0, 4), (6, 10), (12, 14)], [(1, 2), (3, 13)], [(0, 1), (2, 3), (13, 14)]),
        ([(5, 6)], [(0, 1), (2, 3)], [(5, 6)]),
    ],
)
def test_subtract(a, b, expected):
    assert subtract(iv(*a), iv(*b)) == iv(*expected)


DAYS = iv(*[(24 * n, 24 * (n + 1)) for n in range(5)])  # five 24-hour days from hour 0


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 120)], 5),
        ([(24, 48)], 1),  # exactly one day, boundaries not included twice
        ([(23, 25)], 2),  # two hours across midnight: two days
        ([(24, 24)], 0),  # empty
        ([(10, 11), (12, 13), (20, 21)], 1),  # several toggles in one day: one day
        ([(10, 30), (40, 46)], 2),  # the second interval lies in a day already counted
        ([(10, 30), (40, 50)], 3),
        ([(-50, 1)], 1),
        ([(119, 500)], 1),
        ([(-50, 0), (120, 200)], 0),  # outside the days
    ],
)
def test_count_days(intervals, expected):
    assert count_days(iv(*intervals), DAYS) == expected


def test_live_billable_and_skill_days():
    october = Period(2026, 10)
    days = local_days(october, ZRH)
    window = month_bounds(october, ZRH)
    live = live_intervals(
        local(2026, 10, 10, 9),
        None,
        [(local(2026, 10, 20, 12), True), (local(2026, 10, 25, 8), False)],
        window,
    )
    assert live == [
        (utc(2026, 10, 10, 7), utc(2026, 10, 20, 10)),
        (utc(2026, 10, 25, 7), utc(2026, 10, 31, 23)),
    ]
    # Oct 10–20 (11 days) + Oct 25–31 (7 days)
    assert billable_days(live, days) == 18
    skill_on = [(utc(2026, 10, 15), utc(2026, 10, 27))]
    # Oct 15–20 (6) + Oct 25–26 (2; Oct 27 starts at 26 Oct 23:00 UTC and the skill is still on then)
    assert skill_days(skill_on, live, days) == 9


def test_live_intervals_outside_window():
    window = month_bounds(Period(2026, 10), ZRH)
    assert live_intervals(local(2026, 9, 1), local(2026, 10, 1), [], window) == []
    assert live_intervals(local(2026, 11, 1), None, [], window) == []
