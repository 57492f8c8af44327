"""Business time: when a business calendar is open (working hours per weekday in its time zone,
holidays, make-up working days, the official Chinese public holidays) and how many business minutes
lie between two instants. Pure: no I/O; the SLA clocks count in it."""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
DAY_MINUTES = 24 * 60
# "HH:MM" of a range's start; an end may also be "24:00" (open until midnight).
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
END_OF_DAY = "24:00"
# IANA names only: no paths, no spaces (ZoneInfo also opens files by name).
ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
# How far a walk over the calendar's days may go before it gives up (a safety net: a calendar
# must be open on some day of the week, so only a huge target on a sparse calendar gets there).
MAX_WALK_DAYS = 10 * 366
MINUTE = timedelta(minutes=1)

Range = tuple[int, int]  # minutes after local midnight: [start, end), end <= 1440

# Official Chinese public holidays (closed all day, weekends inside them included) and adjusted
# working days (调休上班: make-up working days, mostly weekends), as published by the General Office
# of the State Council:
# - 2025: 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12)
# - 2026: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04, Xinhua; gov.cn / gmw.cn)
# Later years are published each November: add them here (a calendar using the preset then counts
# those years' weekends and weekdays as ordinary days until then).
CN_HOLIDAY_RANGES: dict[int, tuple[tuple[str, str], ...]] = {
    2025: (
        ("2025-01-01", "2025-01-01"),  # New Year's Day
        ("2025-01-28", "2025-02-04"),  # Spring Festival
        ("2025-04-04", "2025-04-06"),  # Qingming
        ("2025-05-01", "2025-05-05"),  # Labour Day
        ("2025-05-31", "2025-06-02"),  # Dragon Boat Festival
        ("2025-10-01", "2025-10-08"),  # National Day and Mid-Autumn Festival
    ),
    2026: (
        ("2026-01-01", "2026-01-03"),  # New Year's Day
        ("2026-02-15", "2026-02-23"),  # Spring Festival
        ("2026-04-04", "2026-04-06"),  # Qingming
        ("2026-05-01", "2026-05-05"),  # Labour Day
        ("2026-06-19", "2026-06-21"),  # Dragon Boat Festival
        ("2026-09-25", "2026-09-27"),  # Mid-Autumn Festival
        ("2026-10-01", "2026-10-07"),  # National Day
    ),
}
CN_WORKDAYS: dict[int, tuple[str, ...]] = {
    2025: ("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"),
    2026: ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"),
}


def _date_span(first: str, last: str) -> Iterator[date]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    while day <= end:
        yield day
        day += timedelta(days=1)


def _cn_preset() -> tuple[frozenset[date], frozenset[date]]:
    holidays = {day for spans in CN_HOLIDAY_RANGES.values() for span in spans for day in _date_span(*span)}
    workdays = {date.fromisoformat(day) for days in CN_WORKDAYS.values() for day in days}
    return frozenset(holidays), frozenset(workdays)


# preset name -> (holidays, make-up working days)
PRESETS: dict[str, tuple[frozenset[date], frozenset[date]]] = {"CN": _cn_preset()}


# reading the document's pieces (the calendars module validates them first; these raise ValueError)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone, or ValueError."""
    if not isinstance(name, str) or not ZONE_NAME.match(name) or len(name) > 64:
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def minute_of_day(value: str, end: bool = False) -> int:
    """ "HH:MM" as minutes after midnight ("24:00" only as an end), or ValueError."""
    if end and value == END_OF_DAY:
        return DAY_MINUTES
    match = HHMM.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a time of day (HH:MM{', or 24:00' if end else ''})")
    return int(match.group(1)) * 60 + int(match.group(2))


def day_ranges(ranges: list) -> tuple[Range, ...]:
    """[["09:00", "12:00"], ["13:00", "18:00"]] as minute ranges; ValueError unless each range is
    a start before its end, in order, not overlapping the one before."""
    if not isinstance(ranges, list):
        raise ValueError("must be a list of [start, end] ranges")
    out: list[Range] = []
    for i, pair in enumerate(ranges, 1):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f'range {i} must be a ["HH:MM", "HH:MM"] pair')
        start, end = minute_of_day(pair[0]), minute_of_day(pair[1], end=True)
        if start >= end:
            raise ValueError(f"range {i} ({pair[0]}-{pair[1]}) must end after it starts")
        if out and start < out[-1][1]:
            raise ValueError(f"range {i} ({pair[0]}-{pair[1]}) overlaps or precedes range {i - 1}")
        out.append((start, end))
    return tuple(out)


def _utc(moment: datetime) -> datetime:
    """An instant in UTC; a naive datetime reads as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local day. An ambiguous time (clocks set back) is
    its first occurrence; a time the clocks skipped (set forward) is the instant of the jump."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In the gap: fold=1 reads it with the offset after the jump, which lands before the jump.
    lo = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    offset_before = datetime.fromtimestamp(lo, UTC).astimezone(tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == offset_before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


class BusinessCalendar:
    """Open hours in a time zone. Every instant in and out is a timezone-aware datetime (naive
    ones read as UTC); results are in UTC. Days are walked interval by interval, never minute by
    minute; each local day's open intervals are computed once per calendar object."""

    def __init__(
        self,
        time_zone: str = "UTC",
        working_hours: dict[int, tuple[Range, ...]] | None = None,
        holidays: frozenset[date] = frozenset(),
        workdays: frozenset[date] = frozenset(),
        makeup_hours: tuple[Range, ...] | None = None,
    ):
        """`working_hours` None: open around the clock (24x7); else weekday (0 = Monday) -> ranges.
        Holidays win over make-up working days; those open with `makeup_hours`, else the Monday
        hours (else those of the first open weekday)."""
        self.tz = zone(time_zone)
        self.always_open = working_hours is None
        self.hours = {day: tuple(working_hours.get(day, ())) for day in range(7)} if working_hours else {}
        if not self.always_open and not any(self.hours.values()):
            raise ValueError("a business calendar must be open on at least one day of the week")
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays) - self.holidays
        fallback = self.hours.get(0) or next((r for r in self.hours.values() if r), ())
        self.makeup_hours = tuple(makeup_hours) if makeup_hours else fallback
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @classmethod
    def from_document(cls, doc: dict | None) -> "BusinessCalendar":
        """A stored business calendar (validated at write time); None is open 24x7 (UTC).
        Explicit `holidays` and `workdays` win over the preset's on the same date."""
        if doc is None:
            return cls()
        hours = {i: day_ranges((doc.get("working_hours") or {}).get(name) or []) for i, name in enumerate(WEEKDAYS)}
        holidays = {date.fromisoformat(d) for d in doc.get("holidays") or ()}
        workdays = {date.fromisoformat(d) for d in doc.get("workdays") or ()}
        preset = doc.get("holiday_preset")
        if preset:
            if preset not in PRESETS:
                raise ValueError(f"unknown holiday preset {preset!r}")
            preset_holidays, preset_workdays = PRESETS[preset]
            holidays, workdays = (preset_holidays - workdays) | holidays, (preset_workdays - holidays) | workdays
        makeup = doc.get("makeup_hours")
        return cls(
            doc.get("time_zone") or "UTC",
            hours,
            frozenset(holidays),
            frozenset(workdays),
            day_ranges(makeup) if makeup else None,
        )

    # the open intervals

    def ranges_on(self, day: date) -> tuple[Range, ...]:
        """The open ranges of a local day (minutes after midnight)."""
        if self.always_open:
            return ((0, DAY_MINUTES),)
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.makeup_hours
        return self.hours[day.weekday()]

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open [start, end) UTC intervals of a local day, in order, never overlapping."""
        cached = self._days.get(day)
        if cached is None:
            out: list[tuple[datetime, datetime]] = []
            for start, end in self.ranges_on(day):
                a, b = _instant(day, start, self.tz), _instant(day, end, self.tz)
                if out and a < out[-1][1]:  # a range squeezed by a clock change
                    a = out[-1][1]
                if b > a:
                    out.append((a, b))
            cached = self._days[day] = tuple(out)
        return cached

    def _walk(self, start: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
        # From the day before: a clock set back over midnight keeps the previous day going.
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(days + 1):
            yield from self.intervals_on(day)
            day += timedelta(days=1)

    # the questions

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        """The instant at which `minutes` business minutes after `start` have passed (in UTC): the
        end of open time, never the next opening. 0 is `start` itself, open or not. ValueError for
        negative minutes, or when the calendar does not hold that much open time within
        MAX_WALK_DAYS days."""
        start = _utc(start)
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        if minutes == 0:
            return start
        if self.always_open:
            return start + minutes * MINUTE
        left = minutes * MINUTE
        for a, b in self._walk(start, MAX_WALK_DAYS):
            a = max(a, start)
            if b <= a:
                continue
            if left <= b - a:
                return a + left
            left -= b - a
        raise ValueError(f"the calendar is not open for {minutes} minutes within {MAX_WALK_DAYS} days")

    def minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole business minutes in [start, end) (floor); 0 when end is not after start."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0
        if self.always_open:
            return (end - start) // MINUTE
        total = timedelta()
        days = (end.astimezone(self.tz).date() - start.astimezone(self.tz).date()).days + 1
        for a, b in self._walk(start, days):
            if a >= end:
                break
            overlap = min(b, end) - max(a, start)
            if overlap > timedelta():
                total += overlap
        return total // MINUTE
