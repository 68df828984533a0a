"""Calling hours: may a contact be called now, judged by the contact's own local time.

A campaign allows calls between `start` and `end` (local wall-clock time, end excluded) on
some ISO weekdays (1 = Monday). The contact's local time comes from its IANA zone; a contact
whose zone is unknown is judged in the campaign's zone. A window whose end is before its
start runs over midnight and belongs to the weekday on which it opened. zoneinfo does the
offsets, so DST changes move the window with the wall clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_DAYS = frozenset(range(1, 8))
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_PART = re.compile(r"^\s*([1-7])\s*(?:-\s*([1-7])\s*)?$")


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The zone named `name`, or None when there is no such IANA zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class CallingHours:
    start: time
    end: time
    days: frozenset[int]
    default_zone: str  # the campaign's zone, for contacts whose own zone is unknown

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("calling hours: start and end are the same time")
        if not self.days or not self.days <= ALL_DAYS:
            raise ValueError("calling days: ISO weekdays 1 (Monday) to 7 (Sunday), at least one")
        if zone(self.default_zone) is None:
            raise ValueError(f"time zone: unknown IANA zone {self.default_zone!r}")

    def zone_for(self, lead_zone: str | None) -> ZoneInfo:
        found = zone(lead_zone) if lead_zone else None
        if found is None:
            found = zone(self.default_zone)
            assert found is not None  # checked in __post_init__
        return found

    def allows(self, now: datetime, lead_zone: str | None) -> bool:
        """True when `now` (aware) is inside the hours and days in the contact's local time."""
        local = _aware(now).astimezone(self.zone_for(lead_zone))
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end and local.isoweekday() in self.days
        # Over midnight: the evening part belongs to today, the early part to yesterday.
        if t >= self.start:
            return local.isoweekday() in self.days
        if t < self.end:
            return (local - timedelta(days=1)).isoweekday() in self.days
        return False

    def next_allowed(self, now: datetime, lead_zone: str | None) -> datetime:
        """The first moment at or after `now` when the contact may be called (in UTC)."""
        now = _aware(now)
        if self.allows(now, lead_zone):
            return now.astimezone(UTC)
        tz = self.zone_for(lead_zone)
        today = now.astimezone(tz).date()
        for offset in range(0, 9):
            day: date = today + timedelta(days=offset)
            if day.isoweekday() not in self.days:
                continue
            # A start inside a DST gap does not exist; the round trip through UTC moves it on.
            opening = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
            if opening > now:
                return opening
        raise AssertionError("a week always has an allowed day")  # days is never empty


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("calling hours need an aware datetime (with tzinfo)")
    return moment


def parse_hours(text: str) -> tuple[time, time]:
    """'09:00-21:00' -> (09:00, 21:00); '22:00-02:00' runs over midnight."""
    m = _HOURS.match(text)
    if not m:
        raise ValueError(f"hours must look like 09:00-21:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    # 24:00 is allowed as an end: "until midnight".
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"hours: not a time of day in {text!r}")
    start = time(h1, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if start == end:
        raise ValueError(f"hours: start and end are the same in {text!r}")
    return start, end


def format_hours(start: time, end: time) -> str:
    """The form parse_hours reads back: an end of time.max ("until midnight") shows as 24:00."""
    end_text = "24:00" if end == time.max else f"{end:%H:%M}"
    return f"{start:%H:%M}-{end_text}"


def parse_days(text: str) -> frozenset[int]:
    """'1-5' -> Monday to Friday; '1-5,7' and '6,7' work too (ISO weekdays, 1 = Monday)."""
    days: set[int] = set()
    for part in text.split(","):
        m = _DAY_PART.match(part)
        if not m:
            raise ValueError(f"days must be ISO weekdays 1-7 such as 1-5 or 1,3,5; got {text!r}")
        first = int(m.group(1))
        last = int(m.group(2) or first)
        if last < first:
            raise ValueError(f"days: range {part.strip()!r} runs backwards")
        days.update(range(first, last + 1))
    return frozenset(days)


def format_days(days: frozenset[int] | list[int]) -> str:
    """The short form parse_days reads back: [1,2,3,4,5,7] -> '1-5,7'."""
    ordered = sorted(set(days))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def lead_time_zone(number_zones: tuple[str, ...], campaign_zone: str) -> str | None:
    """The zone to store for a contact: its number's only zone, or the campaign's zone when
    that is one of several candidates (Russian mobiles list every Russian zone), else None:
    unknown, judged in the campaign's zone at dial time."""
    if len(number_zones) == 1:
        return number_zones[0]
    if campaign_zone in number_zones:
        return campaign_zone
    return None
