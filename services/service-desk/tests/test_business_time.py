"""Business minutes: working hours per weekday in a time zone, lunch breaks, holidays, make-up
working days, the Chinese holiday preset, clock changes; no store, no broker."""

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service_desk.business_time import CN_HOLIDAY_RANGES, CN_WORKDAYS, PRESETS, BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_SIX = [["09:00", "18:00"]]
WEEKDAYS_ONLY = {day: NINE_TO_SIX for day in ("mon", "tue", "wed", "thu", "fri")}


def calendar(**doc) -> BusinessCalendar:
    return BusinessCalendar.from_document({"time_zone": "UTC", "working_hours": WEEKDAYS_ONLY, **doc})


def local(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def is_open(cal: BusinessCalendar, at: datetime) -> bool:
    """Whether the calendar is open at `at`: the tests' question (the SLA clocks only add and count minutes)."""
    at = at.astimezone(UTC)
    if cal.always_open:
        return True
    day = at.astimezone(cal.tz).date()
    return any(a <= at < b for d in (day - timedelta(days=1), day) for a, b in cal.intervals_on(d))


# 24x7


def test_no_calendar_is_open_around_the_clock() -> None:
    always = BusinessCalendar.from_document(None)
    start = utc(2026, 12, 5, 23, 30)  # a Saturday night
    assert always.add_minutes(start, 90) == utc(2026, 12, 6, 1, 0)
    assert always.minutes_between(start, utc(2026, 12, 6, 1, 0, 59)) == 90
    assert is_open(always, start)


# weekends, hours, breaks


def test_minutes_run_out_on_friday_evening_and_resume_on_monday_morning() -> None:
    cal = calendar()
    friday_five = utc(2026, 12, 4, 17, 0)
    assert cal.add_minutes(friday_five, 60) == utc(2026, 12, 4, 18, 0)  # the end of open time, not Monday 09:00
    assert cal.add_minutes(friday_five, 120) == utc(2026, 12, 7, 10, 0)
    assert cal.minutes_between(friday_five, utc(2026, 12, 7, 10, 0)) == 120
    assert not is_open(cal, utc(2026, 12, 5, 12, 0))
    assert is_open(cal, utc(2026, 12, 7, 9, 0)) and not is_open(cal, utc(2026, 12, 7, 18, 0))


def test_a_start_outside_the_hours_counts_from_the_next_opening() -> None:
    cal = calendar()
    assert cal.add_minutes(utc(2026, 12, 5, 15, 0), 1) == utc(2026, 12, 7, 9, 1)  # Saturday
    assert cal.add_minutes(utc(2026, 12, 7, 6, 0), 30) == utc(2026, 12, 7, 9, 30)  # before opening
    assert cal.add_minutes(utc(2026, 12, 7, 20, 0), 30) == utc(2026, 12, 8, 9, 30)  # after closing
    assert cal.minutes_between(utc(2026, 12, 5, 0, 0), utc(2026, 12, 6, 23, 59)) == 0


def test_zero_minutes_is_the_start_itself_open_or_not() -> None:
    cal = calendar()
    saturday = utc(2026, 12, 5, 15, 0)
    assert cal.add_minutes(saturday, 0) == saturday
    assert cal.minutes_between(saturday, saturday) == 0
    assert cal.minutes_between(utc(2026, 12, 7, 12, 0), utc(2026, 12, 7, 11, 0)) == 0  # end before start


def test_a_lunch_break_is_not_counted() -> None:
    cal = calendar(working_hours={"mon": [["09:00", "12:00"], ["13:00", "18:00"]]})
    monday = utc(2026, 12, 7, 11, 30)
    assert cal.add_minutes(monday, 60) == utc(2026, 12, 7, 13, 30)
    assert cal.add_minutes(monday, 30) == utc(2026, 12, 7, 12, 0)
    assert cal.minutes_between(utc(2026, 12, 7, 0, 0), utc(2026, 12, 8, 0, 0)) == 8 * 60
    assert not is_open(cal, utc(2026, 12, 7, 12, 30))
    # Mondays only: 8 hours a week, next Monday after closing.
    assert cal.add_minutes(utc(2026, 12, 7, 17, 30), 60) == utc(2026, 12, 14, 9, 30)


def test_seconds_are_kept_and_partial_minutes_floored() -> None:
    cal = calendar()
    start = utc(2026, 12, 7, 9, 0, 30)
    assert cal.add_minutes(start, 1) == utc(2026, 12, 7, 9, 1, 30)
    assert cal.minutes_between(start, utc(2026, 12, 7, 9, 2, 29)) == 1


def test_negative_minutes_and_naive_datetimes() -> None:
    cal = calendar()
    with pytest.raises(ValueError):
        cal.add_minutes(utc(2026, 12, 7, 9, 0), -1)
    assert cal.add_minutes(datetime(2026, 12, 7, 9, 0), 5) == utc(2026, 12, 7, 9, 5)  # naive reads as UTC


def test_a_calendar_never_open_is_refused() -> None:
    with pytest.raises(ValueError):
        calendar(working_hours={})
    with pytest.raises(ValueError):
        calendar(working_hours={"mon": []}, workdays=["2026-12-05"])


def test_the_walk_gives_up_on_a_target_the_calendar_cannot_hold() -> None:
    once_a_week = calendar(working_hours={"mon": [["09:00", "09:01"]]})
    with pytest.raises(ValueError):
        once_a_week.add_minutes(utc(2026, 12, 7), 100_000)


# time zones and clock changes


def test_hours_are_read_in_the_calendars_time_zone() -> None:
    cal = calendar(time_zone="Asia/Shanghai")
    # 09:00 in Shanghai is 01:00 UTC.
    assert cal.add_minutes(utc(2026, 12, 7, 0, 30), 60) == local(SHANGHAI, 2026, 12, 7, 10, 0)
    assert cal.add_minutes(utc(2026, 12, 7, 0, 30), 60) == utc(2026, 12, 7, 2, 0)
    # Friday 17:30 in Shanghai (09:30 UTC) + 60: Monday 09:30 in Shanghai.
    assert cal.add_minutes(utc(2026, 12, 4, 9, 30), 60) == local(SHANGHAI, 2026, 12, 7, 9, 30)
    assert is_open(cal, utc(2026, 12, 7, 1, 0)) and not is_open(cal, utc(2026, 12, 7, 0, 59))
    # Sunday 23:30 UTC is Monday 07:30 in Shanghai: closed, though a Monday.
    assert not is_open(cal, utc(2026, 12, 6, 23, 30))


def test_hours_follow_the_wall_clock_across_daylight_saving_time() -> None:
    cal = calendar(time_zone="America/New_York", working_hours={d: [["09:00", "17:00"]] for d in WEEKDAYS_ONLY})
    # Friday 6 March 2026, 16:00 EST (21:00 UTC); clocks go forward on Sunday 8 March.
    friday = local(NEW_YORK, 2026, 3, 6, 16, 0)
    monday = cal.add_minutes(friday, 120)
    assert monday == local(NEW_YORK, 2026, 3, 9, 10, 0) == utc(2026, 3, 9, 14, 0)
    assert cal.minutes_between(friday, monday) == 120
    assert is_open(cal, utc(2026, 3, 9, 13, 0)) and not is_open(cal, utc(2026, 3, 6, 13, 30))


def test_a_day_of_a_clock_change_is_as_long_as_the_wall_clock_says() -> None:
    sundays = calendar(time_zone="America/New_York", working_hours={"sun": [["00:00", "24:00"]]})
    spring, autumn = local(NEW_YORK, 2026, 3, 8), local(NEW_YORK, 2026, 11, 1)
    assert sundays.minutes_between(spring, spring + timedelta(days=2)) == 23 * 60
    assert sundays.minutes_between(autumn, autumn + timedelta(days=2)) == 25 * 60
    # A range starting in the skipped hour opens when the clocks jump (03:00 EDT).
    skipped = calendar(time_zone="America/New_York", working_hours={"sun": [["02:30", "05:00"]]})
    assert skipped.minutes_between(spring, spring + timedelta(days=1)) == 120
    assert skipped.add_minutes(spring, 1) == utc(2026, 3, 8, 7, 1)


def test_24x7_in_a_daylight_saving_zone_counts_real_minutes() -> None:
    hours = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    cal = calendar(time_zone="America/New_York", working_hours=hours)
    start = utc(2026, 3, 7, 12, 0)
    assert cal.minutes_between(start, start + timedelta(days=3)) == 3 * 24 * 60
    assert cal.add_minutes(start, 3 * 24 * 60) == start + timedelta(days=3)


# holidays, make-up days, the Chinese preset


def test_holidays_close_and_workdays_open_with_the_monday_hours() -> None:
    cal = calendar(
        working_hours={**WEEKDAYS_ONLY, "mon": [["08:00", "12:00"]]}, holidays=["2026-12-08"], workdays=["2026-12-05"]
    )
    assert not is_open(cal, utc(2026, 12, 8, 10, 0))  # a Tuesday holiday
    assert is_open(cal, utc(2026, 12, 5, 8, 30)) and not is_open(
        cal, utc(2026, 12, 5, 13, 0)
    )  # a Saturday, Monday hours
    # Friday 17:00 + 60 + 240 (Saturday) + 240 (Monday) + 60 (Wednesday) = Wednesday 10:00.
    assert cal.add_minutes(utc(2026, 12, 4, 17, 0), 600) == utc(2026, 12, 9, 10, 0)


def test_makeup_hours_replace_the_monday_hours_on_workdays() -> None:
    cal = calendar(workdays=["2026-12-05"], makeup_hours=[["10:00", "14:00"]])
    assert cal.minutes_between(utc(2026, 12, 5), utc(2026, 12, 6)) == 240
    assert cal.minutes_between(utc(2026, 12, 7), utc(2026, 12, 8)) == 540


CN = {"time_zone": "Asia/Shanghai", "working_hours": WEEKDAYS_ONLY, "holiday_preset": "CN"}


def test_the_spring_festival_2026_is_closed_and_its_makeup_saturdays_open() -> None:
    cal = BusinessCalendar.from_document(CN)
    friday_five = local(SHANGHAI, 2026, 2, 13, 17, 0)
    # 60 minutes on Friday, 540 on Saturday 14 February (make-up day), closed 15-23 February.
    assert cal.add_minutes(friday_five, 60 + 540 + 60) == local(SHANGHAI, 2026, 2, 24, 10, 0)
    assert cal.minutes_between(friday_five, local(SHANGHAI, 2026, 2, 24, 10, 0)) == 660
    assert is_open(cal, local(SHANGHAI, 2026, 2, 14, 10, 0))
    assert not is_open(cal, local(SHANGHAI, 2026, 2, 16, 10, 0))  # a Monday in the festival
    assert is_open(cal, local(SHANGHAI, 2026, 2, 28, 10, 0))  # the second make-up Saturday
    plain = BusinessCalendar.from_document({**CN, "holiday_preset": None})
    assert is_open(plain, local(SHANGHAI, 2026, 2, 16, 10, 0)) and not is_open(
        plain, local(SHANGHAI, 2026, 2, 14, 10, 0)
    )


def test_the_2025_national_day_week_and_its_makeup_days() -> None:
    cal = BusinessCalendar.from_document(CN)
    # Closed 1-8 October 2025; Sunday 28 September and Saturday 11 October are working days.
    assert cal.minutes_between(local(SHANGHAI, 2025, 9, 27), local(SHANGHAI, 2025, 10, 13)) == (1 + 2 + 2 + 1) * 540
    assert is_open(cal, local(SHANGHAI, 2025, 9, 28, 9, 0)) and is_open(cal, local(SHANGHAI, 2025, 10, 11, 9, 0))


def test_explicit_dates_win_over_the_preset() -> None:
    cal = BusinessCalendar.from_document({**CN, "workdays": ["2026-02-16"], "holidays": ["2026-02-14"]})
    assert is_open(cal, local(SHANGHAI, 2026, 2, 16, 10, 0))
    assert not is_open(cal, local(SHANGHAI, 2026, 2, 14, 10, 0))


def test_the_cn_preset_holds_the_published_days_of_2025_and_2026() -> None:
    holidays, workdays = PRESETS["CN"]
    assert set(CN_HOLIDAY_RANGES) == set(CN_WORKDAYS) == {2025, 2026}
    assert (len([d for d in holidays if d.year == 2025]), len([d for d in holidays if d.year == 2026])) == (28, 33)
    assert sorted(d.isoformat() for d in workdays if d.year == 2026) == [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]
    assert not holidays & workdays
    assert all(d.weekday() >= 5 for d in workdays)  # make-up days are weekend days


# properties and speed


def test_add_minutes_and_minutes_between_agree_from_many_starts() -> None:
    rng = random.Random(6)
    lunch = {day: [["09:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    calendars = [
        BusinessCalendar.from_document({**CN, "working_hours": lunch}),
        calendar(time_zone="America/New_York", working_hours={**WEEKDAYS_ONLY, "sat": [["00:00", "02:30"]]}),
        BusinessCalendar.from_document(None),
    ]
    base = utc(2025, 1, 1)
    for _ in range(400):
        cal = rng.choice(calendars)
        start = base + timedelta(seconds=rng.randrange(2 * 366 * 86400))
        minutes = rng.choice((0, 1, rng.randrange(1, 600), rng.randrange(600, 20000)))
        due = cal.add_minutes(start, minutes)
        assert due >= start
        assert cal.minutes_between(start, due) == minutes
        if minutes:
            assert is_open(cal, due - timedelta(seconds=1))  # the last minute counted was open time
        end = start + timedelta(seconds=rng.randrange(40 * 86400))
        assert cal.add_minutes(start, cal.minutes_between(start, end)) <= end


def test_a_thirty_day_target_is_computed_by_day_intervals() -> None:
    cal = BusinessCalendar.from_document(CN)
    began = time.perf_counter()
    due = cal.add_minutes(local(SHANGHAI, 2026, 1, 5, 9, 0), 30 * 24 * 60)
    assert cal.minutes_between(local(SHANGHAI, 2026, 1, 5, 9, 0), due) == 30 * 24 * 60
    assert time.perf_counter() - began < 0.5
