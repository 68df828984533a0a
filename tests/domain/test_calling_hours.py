"""Calling hours judged in the contact's local time: zones, days, midnight, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from ccd.domain.calling_hours import (
    CallingHours,
    format_days,
    format_hours,
    lead_time_zone,
    parse_days,
    parse_hours,
)

WEEKDAYS = frozenset(range(1, 6))


def hours(
    start: str = "09:00-21:00", days: frozenset[int] = WEEKDAYS, tz: str = "UTC"
) -> CallingHours:
    s, e = parse_hours(start)
    return CallingHours(s, e, days, tz)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_lead_at_23_local_is_outside_and_its_morning_inside() -> None:
    h = hours()
    # Wed 2026-11-18 20:00 UTC = 23:00 in Moscow (UTC+3), 12:00 in Los Angeles (UTC-8).
    now = utc(2026, 11, 18, 20, 0)
    assert not h.allows(now, "Europe/Moscow")
    assert h.allows(now, "America/Los_Angeles")
    # 06:00 UTC next day = 09:00 Moscow: the window opens.
    assert h.allows(utc(2026, 11, 19, 6, 0), "Europe/Moscow")
    assert not h.allows(utc(2026, 11, 19, 5, 59), "Europe/Moscow")


def test_end_is_excluded() -> None:
    h = hours()
    assert h.allows(utc(2026, 11, 18, 20, 59, 59), "UTC")
    assert not h.allows(utc(2026, 11, 18, 21, 0), "UTC")


def test_days_are_the_contacts_local_weekday() -> None:
    h = hours()  # Monday to Friday
    # Sat 2026-11-21 02:00 UTC is Saturday 12:00 in Vladivostok (UTC+10): a weekend day.
    assert not h.allows(utc(2026, 11, 21, 2, 0), "Asia/Vladivostok")
    # Mon 2026-11-23 00:30 UTC is Monday 10:30 in Vladivostok but Sunday in UTC.
    assert h.allows(utc(2026, 11, 23, 0, 30), "Asia/Vladivostok")
    assert not h.allows(utc(2026, 11, 23, 0, 30), "UTC")


def test_unknown_zone_is_judged_in_the_campaign_zone() -> None:
    h = hours(tz="Europe/Moscow")
    at_23_moscow = utc(2026, 11, 18, 20, 0)
    at_12_moscow = utc(2026, 11, 18, 9, 0)
    for unknown in (None, "", "Nowhere/Atlantis"):
        assert not h.allows(at_23_moscow, unknown)
        assert h.allows(at_12_moscow, unknown)


def test_dst_moves_the_window_with_the_wall_clock() -> None:
    h = hours("09:00-17:00")
    # New York: EST (UTC-5) in January, EDT (UTC-4) in July. 13:30 UTC is 08:30 EST but 09:30 EDT.
    assert not h.allows(utc(2026, 1, 14, 13, 30), "America/New_York")
    assert h.allows(utc(2026, 7, 15, 13, 30), "America/New_York")
    # The spring-forward day itself (Sun 2026-03-08) with all days allowed: 09:00 EDT = 13:00 UTC.
    every_day = hours("09:00-17:00", days=frozenset(range(1, 8)))
    assert not every_day.allows(utc(2026, 3, 8, 12, 59), "America/New_York")
    assert every_day.allows(utc(2026, 3, 8, 13, 0), "America/New_York")


def test_window_over_midnight_belongs_to_the_day_it_opened() -> None:
    h = hours("22:00-02:00", days=frozenset({5}))  # Friday night only
    assert h.allows(utc(2026, 11, 20, 23, 0), "UTC")  # Friday 23:00
    assert h.allows(utc(2026, 11, 21, 1, 0), "UTC")  # Saturday 01:00, still Friday's window
    assert not h.allows(utc(2026, 11, 21, 23, 0), "UTC")  # Saturday night's window: no
    assert not h.allows(utc(2026, 11, 20, 1, 0), "UTC")  # Friday 01:00 is Thursday's window
    assert not h.allows(utc(2026, 11, 20, 12, 0), "UTC")


def test_next_allowed() -> None:
    h = hours(tz="UTC")
    # Friday 22:00 Moscow -> Monday 09:00 Moscow (06:00 UTC).
    assert h.next_allowed(utc(2026, 11, 20, 19, 0), "Europe/Moscow") == utc(2026, 11, 23, 6, 0)
    inside = utc(2026, 11, 18, 10, 0)
    assert h.next_allowed(inside, "UTC") == inside


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        hours().allows(datetime(2026, 11, 18, 10, 0), "UTC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00-21:00", (time(9), time(21))), ("8:30 - 20:15", (time(8, 30), time(20, 15))),
     ("22:00-02:00", (time(22), time(2))), ("00:00-24:00", (time(0), time.max))],
)  # fmt: skip
def test_parse_hours(text: str, expected: tuple[time, time]) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize("text", ["09:00-21:00", "00:00-24:00", "22:30-02:15"])
def test_format_hours_reads_back(text: str) -> None:
    assert format_hours(*parse_hours(text)) == text


@pytest.mark.parametrize("text", ["9-21", "25:00-26:00", "09:00-09:00", "09:61-10:00", ""])
def test_parse_hours_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(text)


def test_parse_and_format_days() -> None:
    assert parse_days("1-5") == WEEKDAYS
    assert parse_days("1-5,7") == frozenset({1, 2, 3, 4, 5, 7})
    assert parse_days("6, 7") == frozenset({6, 7})
    assert format_days([7, 1, 2, 3, 4, 5]) == "1-5,7"
    assert format_days(parse_days("1,3,5")) == "1,3,5"
    for bad in ("0-5", "5-1", "8", "mon", ""):
        with pytest.raises(ValueError):
            parse_days(bad)


def test_invalid_campaign_settings() -> None:
    with pytest.raises(ValueError, match="time zone"):
        hours(tz="Mars/Olympus")
    with pytest.raises(ValueError, match="days"):
        CallingHours(time(9), time(21), frozenset(), "UTC")


def test_lead_time_zone_choice() -> None:
    assert lead_time_zone(("Europe/London",), "Europe/Moscow") == "Europe/London"
    # A Russian mobile lists every Russian zone: the campaign's own, when among them.
    many = ("Asia/Irkutsk", "Europe/Moscow", "Europe/Samara")
    assert lead_time_zone(many, "Europe/Moscow") == "Europe/Moscow"
    assert lead_time_zone(many, "UTC") is None
    assert lead_time_zone((), "UTC") is None
