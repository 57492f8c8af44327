"""Greeting calendars (pure, no I/O): holidays per locale with their dates (lunar ones from a table),
birthdays and customer anniversaries, quiet hours in a time zone, and which occurrence of a
campaign is due at an instant."""

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_QUIET_HOURS = {"start": "21:00", "end": "08:00"}
# An occurrence missed while no instance ran (a deploy, an outage) is still sent this long after
# its due time; later it is skipped rather than greeting a customer days late.
CATCH_UP = timedelta(hours=12)

# Gregorian dates of the lunar festivals (Chinese lunisolar calendar, China Standard Time):
# Spring Festival (1st day of the 1st month), Lantern Festival (15th of the 1st), Dragon Boat
# (5th of the 5th) and Mid-Autumn (15th of the 8th). Checked against two independent lunar
# calendars (the `holidays` package's Chinese lunisolar tables and `lunardate`, both after the Hong
# Kong Observatory's) and published date lists; see the README. A year outside the table has no
# occurrence: extend the table before 2035 ends.
LUNAR_DATES: dict[str, dict[int, str]] = {
    "spring_festival": {
        2025: "01-29",
        2026: "02-17",
        2027: "02-06",
        2028: "01-26",
        2029: "02-13",
        2030: "02-03",
        2031: "01-23",
        2032: "02-11",
        2033: "01-31",
        2034: "02-19",
        2035: "02-08",
    },
    "lantern_festival": {
        2025: "02-12",
        2026: "03-03",
        2027: "02-20",
        2028: "02-09",
        2029: "02-27",
        2030: "02-17",
        2031: "02-06",
        2032: "02-25",
        2033: "02-14",
        2034: "03-05",
        2035: "02-22",
    },
    "dragon_boat": {
        2025: "05-31",
        2026: "06-19",
        2027: "06-09",
        2028: "05-28",  # not 06-27: that is the 5th day of 2028's leap 5th month
        2029: "06-16",
        2030: "06-05",
        2031: "06-24",
        2032: "06-12",
        2033: "06-01",
        2034: "06-20",
        2035: "06-10",
    },
    "mid_autumn": {
        2025: "10-06",
        2026: "09-25",
        2027: "09-15",
        2028: "10-03",
        2029: "09-22",
        2030: "09-12",
        2031: "10-01",
        2032: "09-19",
        2033: "09-08",
        2034: "09-27",
        2035: "09-16",
    },
}
LUNAR_YEARS = range(2025, 2036)


def _fixed(month: int, day: int) -> Callable[[int], date | None]:
    return lambda year: date(year, month, day)


def _lunar(key: str) -> Callable[[int], date | None]:
    def on(year: int) -> date | None:
        month_day = LUNAR_DATES[key].get(year)
        return date.fromisoformat(f"{year}-{month_day}") if month_day else None

    return on


def _thanksgiving(year: int) -> date:
    """The fourth Thursday of November (United States)."""
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


@dataclass(frozen=True)
class Holiday:
    key: str
    locales: tuple[str, ...]  # whose holiday it is: "zh" (China), "en" (English-speaking)
    names: dict[str, str]  # the name by message language, for the template's holiday_name
    on: Callable[[int], date | None]  # its date in a year, or None when not known


HOLIDAYS: dict[str, Holiday] = {
    h.key: h
    for h in (
        Holiday("new_year", ("en", "zh"), {"en": "New Year", "zh-CN": "元旦"}, _fixed(1, 1)),
        Holiday("spring_festival", ("zh",), {"en": "Spring Festival", "zh-CN": "春节"}, _lunar("spring_festival")),
        Holiday("lantern_festival", ("zh",), {"en": "Lantern Festival", "zh-CN": "元宵节"}, _lunar("lantern_festival")),
        Holiday("valentines_day", ("en",), {"en": "Valentine's Day", "zh-CN": "情人节"}, _fixed(2, 14)),
        Holiday("womens_day", ("zh",), {"en": "Women's Day", "zh-CN": "妇女节"}, _fixed(3, 8)),
        Holiday("labour_day", ("zh",), {"en": "Labour Day", "zh-CN": "劳动节"}, _fixed(5, 1)),
        Holiday("dragon_boat", ("zh",), {"en": "Dragon Boat Festival", "zh-CN": "端午节"}, _lunar("dragon_boat")),
        Holiday("mid_autumn", ("zh",), {"en": "Mid-Autumn Festival", "zh-CN": "中秋节"}, _lunar("mid_autumn")),
        Holiday("national_day", ("zh",), {"en": "National Day", "zh-CN": "国庆节"}, _fixed(10, 1)),
        Holiday("thanksgiving", ("en",), {"en": "Thanksgiving", "zh-CN": "感恩节"}, _thanksgiving),
        Holiday("christmas", ("en",), {"en": "Christmas", "zh-CN": "圣诞节"}, _fixed(12, 25)),
    )
}


def holiday_date(key: str, year: int) -> date | None:
    """The holiday's date in `year`; None for a lunar holiday outside the table. KeyError if unknown."""
    return HOLIDAYS[key].on(year)


def holiday_name(key: str, language: str) -> str:
    names = HOLIDAYS[key].names
    return names.get(language) or names["en"]


def holidays_for(locale: str) -> list[str]:
    """The holiday keys of a locale ("zh", "zh-CN", "en", "en-US": the language part decides)."""
    language = locale.split("-")[0].lower()
    return [key for key, h in HOLIDAYS.items() if language in h.locales]


def message_language(preferred: str | None) -> str:
    """A contact's preferred language as a message language: zh* is Simplified Chinese, else English."""
    return "zh-CN" if isinstance(preferred, str) and preferred.lower().startswith("zh") else "en"


# birthdays and anniversaries


def _month_day_on(start: date, day: date) -> bool:
    """Whether `day` is the yearly return of `start`; Feb 29 comes back on Feb 28 in other years."""
    if (start.month, start.day) == (2, 29) and not calendar.isleap(day.year):
        return (day.month, day.day) == (2, 28)
    return (start.month, start.day) == (day.month, day.day)


def parse_date(value: object) -> date | None:
    """A stored date or datetime ("YYYY-MM-DD..."), as its date; None when absent or malformed."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def is_birthday(birthday: object, day: date) -> bool:
    born = parse_date(birthday)
    return born is not None and _month_day_on(born, day)


def anniversary_years(since: object, day: date) -> int | None:
    """How many years `day` is after `since` when it is an anniversary (one year or more), else None."""
    start = parse_date(since)
    if start is None or day.year <= start.year or not _month_day_on(start, day):
        return None
    return day.year - start.year


# time zones and quiet hours


def zone(name: object) -> ZoneInfo | None:
    """The IANA zone, or None when the name is not one."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def clock(value: object) -> time | None:
    """An "HH:MM" wall-clock time, or None when malformed."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return None
    try:
        hours, minutes = int(value[:2]), int(value[3:])
    except ValueError:
        return None
    return time(hours, minutes) if 0 <= hours < 24 and 0 <= minutes < 60 else None


def at_local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day in a zone. A time skipped by a DST change
    (02:30 on the spring-forward night) reads as the same distance past the change."""
    return datetime.combine(day, wall, tz).astimezone(UTC)


def after_quiet_hours(instant: datetime, tz: ZoneInfo, quiet: dict | None) -> datetime:
    """`instant` itself, or the end of the quiet hours ({start, end}, "HH:MM" in the zone) it falls
    in. The window may cross midnight (21:00-08:00); start == end means no quiet hours."""
    if not quiet:
        return instant
    start, end = clock(quiet.get("start")), clock(quiet.get("end"))
    if start is None or end is None or start == end:
        return instant
    local = instant.astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        quiet_now, end_day = start <= now < end, local.date()
    elif now >= start:  # the evening part of a window across midnight: it ends tomorrow
        quiet_now, end_day = True, local.date() + timedelta(days=1)
    else:
        quiet_now, end_day = now < end, local.date()
    return at_local(end_day, end, tz) if quiet_now else instant


# occurrences


@dataclass(frozen=True)
class Occurrence:
    key: str  # the occurrence's date (YYYY-MM-DD, in the campaign's zone): part of the dedupe key
    day: date
    due_at: datetime  # UTC


def occurs_on(campaign: dict, day: date) -> bool:
    """Whether the campaign has an occurrence on this (local) day. Birthday and anniversary
    campaigns run every day: which members it greets is decided per member."""
    kind = campaign["kind"]
    if kind in ("birthday", "anniversary"):
        return True
    if kind == "holiday":
        return campaign.get("holiday") in HOLIDAYS and holiday_date(campaign["holiday"], day.year) == day
    if kind == "one_off":
        return parse_date(campaign.get("send_at")) == day
    return False


def due_occurrence(campaign: dict, now: datetime) -> Occurrence | None:
    """The campaign occurrence due at `now`: its local_time (default 09:00) on an occurrence day in
    the campaign's zone has passed, by less than CATCH_UP. The latest such, or None."""
    tz = zone(campaign.get("time_zone")) or ZoneInfo(DEFAULT_TIME_ZONE)
    wall = clock(campaign.get("local_time")) or time(9, 0)
    today = now.astimezone(tz).date()
    for day in (today, today - timedelta(days=1)):
        if not occurs_on(campaign, day):
            continue
        due_at = at_local(day, wall, tz)
        if due_at <= now < due_at + CATCH_UP:
            return Occurrence(day.isoformat(), day, due_at)
    return None


def greets_member(campaign: dict, member: dict, day: date) -> dict | None:
    """The template variables particular to this member on the occurrence day, or None when the
    occurrence is not theirs (not their birthday, not their anniversary)."""
    kind = campaign["kind"]
    if kind == "birthday":
        return {} if is_birthday(member.get("birthday"), day) else None
    if kind == "anniversary":
        years = anniversary_years(field_value(member, campaign.get("anniversary_field") or "created_at"), day)
        return None if years is None else {"years": years}
    return {}


def field_value(doc: dict, path: str) -> object:
    """A dotted path's value ("custom_fields.first_order_date"), None when absent."""
    value: object = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def next_slot(slots: dict[str, int], earliest: datetime, per_minute: int, tz: ZoneInfo, quiet: dict | None) -> datetime:
    """When the next message of an occurrence goes out: at `earliest` or later, outside the
    recipient's quiet hours, in a minute that holds fewer than `per_minute` of the occurrence's
    messages (`slots`: messages per UTC minute "YYYY-MM-DDTHH:MM", updated here), spread evenly
    within the minute. Messages held by quiet hours do not burst at their end: they fill the
    following minutes at the same rate."""
    per_minute = max(per_minute, 1)
    at = after_quiet_hours(earliest, tz, quiet)
    while True:
        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        key = minute.strftime("%Y-%m-%dT%H:%M")
        used = slots.get(key, 0)
        if used < per_minute:
            slots[key] = used + 1
            return max(at, minute + timedelta(seconds=used * 60.0 / per_minute))
        at = after_quiet_hours(minute + timedelta(minutes=1), tz, quiet)
