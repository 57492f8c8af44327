"""Greeting calendars (pure): holiday dates per locale, the lunar table, Feb 29 birthdays,
anniversaries, quiet hours across midnight and DST, throttled slots, and when an occurrence is due."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications import greetings

SHANGHAI, NEW_YORK = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")
QUIET = {"start": "21:00", "end": "08:00"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "year", "expected"),
    [
        ("spring_festival", 2025, "2025-01-29"),
        ("spring_festival", 2026, "2026-02-17"),
        ("spring_festival", 2033, "2033-01-31"),
        ("spring_festival", 2035, "2035-02-08"),
        ("lantern_festival", 2026, "2026-03-03"),
        ("lantern_festival", 2033, "2033-02-14"),
        ("dragon_boat", 2025, "2025-05-31"),
        ("dragon_boat", 2028, "2028-05-28"),  # a leap 5th month follows: not June 27
        ("mid_autumn", 2025, "2025-10-06"),
        ("mid_autumn", 2028, "2028-10-03"),
        ("mid_autumn", 2032, "2032-09-19"),
        ("national_day", 2027, "2027-10-01"),
        ("labour_day", 2026, "2026-05-01"),
        ("new_year", 2030, "2030-01-01"),
        ("christmas", 2026, "2026-12-25"),
        ("thanksgiving", 2026, "2026-11-26"),
        ("thanksgiving", 2029, "2029-11-22"),
    ],
)
def test_holiday_dates(key: str, year: int, expected: str) -> None:
    assert greetings.holiday_date(key, year) == date.fromisoformat(expected)


def test_the_lunar_table_is_whole_and_plausible() -> None:
    for key, dates in greetings.LUNAR_DATES.items():
        assert sorted(dates) == list(greetings.LUNAR_YEARS), key
    for year in greetings.LUNAR_YEARS:
        spring = greetings.holiday_date("spring_festival", year)
        assert date(year, 1, 21) <= spring <= date(year, 2, 20)
        # the 15th of the first month is always 14 days after its 1st
        assert greetings.holiday_date("lantern_festival", year) == spring + timedelta(days=14)
        assert date(year, 5, 28) <= greetings.holiday_date("dragon_boat", year) <= date(year, 6, 24)
        assert date(year, 9, 7) <= greetings.holiday_date("mid_autumn", year) <= date(year, 10, 8)


def test_a_lunar_holiday_outside_the_table_has_no_date() -> None:
    assert greetings.holiday_date("spring_festival", 2036) is None
    assert greetings.holiday_date("mid_autumn", 2024) is None


def test_holidays_per_locale_and_their_names() -> None:
    chinese, english = greetings.holidays_for("zh-CN"), greetings.holidays_for("en-US")
    assert {"spring_festival", "lantern_festival", "dragon_boat", "mid_autumn", "national_day"} <= set(chinese)
    assert "christmas" not in chinese and "christmas" in english and "spring_festival" not in english
    assert "new_year" in chinese and "new_year" in english
    assert greetings.holiday_name("mid_autumn", "zh-CN") == "中秋节"
    assert greetings.holiday_name("mid_autumn", "en") == "Mid-Autumn Festival"


def test_message_language_follows_the_preferred_language() -> None:
    assert greetings.message_language("zh") == "zh-CN"
    assert greetings.message_language("zh-TW") == "zh-CN"
    assert greetings.message_language("en-GB") == "en"
    assert greetings.message_language(None) == "en"


def test_a_feb_29_birthday_comes_on_feb_28_in_other_years() -> None:
    born = "1992-02-29"
    assert greetings.is_birthday(born, date(2027, 2, 28))
    assert not greetings.is_birthday(born, date(2027, 3, 1))
    assert greetings.is_birthday(born, date(2028, 2, 29))
    assert not greetings.is_birthday(born, date(2028, 2, 28))
    assert greetings.is_birthday("1990-07-14", date(2026, 7, 14))
    assert not greetings.is_birthday(None, date(2026, 7, 14))
    assert not greetings.is_birthday("not a date", date(2026, 7, 14))


def test_anniversaries_count_whole_years_from_the_first() -> None:
    assert greetings.anniversary_years("2023-05-04T10:00:00.000000Z", date(2026, 5, 4)) == 3
    assert greetings.anniversary_years("2026-05-04T10:00:00.000000Z", date(2026, 5, 4)) is None  # the day itself
    assert greetings.anniversary_years("2024-02-29", date(2025, 2, 28)) == 1
    assert greetings.anniversary_years("2023-05-04", date(2026, 5, 5)) is None


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-03-02T15:30:00", "2026-03-03T00:00:00"),  # 23:30 in Shanghai: held to 08:00 the next morning
        ("2026-03-02T13:00:00", "2026-03-03T00:00:00"),  # 21:00 sharp is quiet
        ("2026-03-02T23:59:00", "2026-03-03T00:00:00"),  # 07:59 after midnight: 08:00 the same day
        ("2026-03-03T00:00:00", "2026-03-03T00:00:00"),  # 08:00 is not quiet
        ("2026-03-03T04:00:00", "2026-03-03T04:00:00"),  # noon
    ],
)
def test_quiet_hours_across_midnight(instant: str, expected: str) -> None:
    assert greetings.after_quiet_hours(utc(instant), SHANGHAI, QUIET) == utc(expected)


def test_quiet_hours_within_a_day_and_none() -> None:
    lunch = {"start": "12:00", "end": "14:00"}
    assert greetings.after_quiet_hours(utc("2026-03-03T05:00:00"), SHANGHAI, lunch) == utc("2026-03-03T06:00:00")
    assert greetings.after_quiet_hours(utc("2026-03-03T07:00:00"), SHANGHAI, lunch) == utc("2026-03-03T07:00:00")
    assert greetings.after_quiet_hours(utc("2026-03-02T15:30:00"), SHANGHAI, None) == utc("2026-03-02T15:30:00")
    same = {"start": "08:00", "end": "08:00"}
    assert greetings.after_quiet_hours(utc("2026-03-02T15:30:00"), SHANGHAI, same) == utc("2026-03-02T15:30:00")


def test_quiet_hours_end_in_local_time_across_dst_changes() -> None:
    # 2026-03-08: New York springs forward at 02:00; 00:30 EST is 05:30 UTC, 08:00 EDT is 12:00 UTC
    assert greetings.after_quiet_hours(utc("2026-03-08T05:30:00"), NEW_YORK, QUIET) == utc("2026-03-08T12:00:00")
    # 2026-11-01: back to EST at 02:00; 08:00 EST is 13:00 UTC
    assert greetings.after_quiet_hours(utc("2026-11-01T05:30:00"), NEW_YORK, QUIET) == utc("2026-11-01T13:00:00")
    # the evening before the change: 22:00 EST on Mar 7 is held to 08:00 EDT on Mar 8
    assert greetings.after_quiet_hours(utc("2026-03-08T03:00:00"), NEW_YORK, QUIET) == utc("2026-03-08T12:00:00")


def test_next_slot_keeps_to_the_rate_per_minute() -> None:
    slots: dict[str, int] = {}
    start = utc("2026-03-03T04:00:00")
    times = [greetings.next_slot(slots, start, 2, SHANGHAI, QUIET) for _ in range(5)]
    assert times == [
        utc("2026-03-03T04:00:00"),
        utc("2026-03-03T04:00:30"),
        utc("2026-03-03T04:01:00"),
        utc("2026-03-03T04:01:30"),
        utc("2026-03-03T04:02:00"),
    ]


def test_next_slot_releases_messages_held_by_quiet_hours_at_the_same_rate() -> None:
    slots: dict[str, int] = {}
    late = utc("2026-03-02T15:30:00")  # 23:30 in Shanghai
    times = [greetings.next_slot(slots, late, 1, SHANGHAI, QUIET) for _ in range(3)]
    assert times == [utc("2026-03-03T00:00:00"), utc("2026-03-03T00:01:00"), utc("2026-03-03T00:02:00")]


def test_a_holiday_occurrence_is_due_from_its_local_time_for_a_while() -> None:
    campaign = {"kind": "holiday", "holiday": "spring_festival", "local_time": "09:00", "time_zone": "Asia/Shanghai"}
    assert greetings.due_occurrence(campaign, utc("2026-02-17T00:59:00")) is None  # 08:59 in Shanghai
    due = greetings.due_occurrence(campaign, utc("2026-02-17T01:00:00"))
    assert due is not None and due.key == "2026-02-17" and due.due_at == utc("2026-02-17T01:00:00")
    assert greetings.due_occurrence(campaign, utc("2026-02-17T12:59:00")).key == "2026-02-17"  # caught up
    assert greetings.due_occurrence(campaign, utc("2026-02-17T13:00:00")) is None  # too late now
    assert greetings.due_occurrence(campaign, utc("2027-02-17T01:00:00")) is None  # not the festival in 2027


def test_an_occurrence_is_due_in_the_campaigns_time_zone() -> None:
    campaign = {"kind": "holiday", "holiday": "christmas", "local_time": "09:00", "time_zone": "America/Los_Angeles"}
    assert greetings.due_occurrence(campaign, utc("2026-12-25T16:59:00")) is None
    assert greetings.due_occurrence(campaign, utc("2026-12-25T17:00:00")).key == "2026-12-25"
    # just after midnight UTC on the 26th it is still Christmas afternoon in Los Angeles
    assert greetings.due_occurrence(campaign, utc("2026-12-26T01:00:00")).key == "2026-12-25"


def test_one_off_and_daily_occurrences() -> None:
    one_off = {"kind": "one_off", "send_at": "2026-06-01", "local_time": "10:30", "time_zone": "Asia/Shanghai"}
    assert greetings.due_occurrence(one_off, utc("2026-06-01T02:30:00")).key == "2026-06-01"
    assert greetings.due_occurrence(one_off, utc("2026-06-02T02:30:00")) is None
    birthday = {"kind": "birthday", "local_time": "09:00", "time_zone": "Asia/Shanghai"}
    assert greetings.due_occurrence(birthday, utc("2027-02-28T01:00:00")).key == "2027-02-28"
    assert greetings.greets_member(birthday, {"birthday": "1992-02-29"}, date(2027, 2, 28)) == {}
    assert greetings.greets_member(birthday, {"birthday": "1992-03-01"}, date(2027, 2, 28)) is None
    anniversary = {"kind": "anniversary", "anniversary_field": "custom_fields.since"}
    member = {"created_at": "2025-01-01T00:00:00Z", "custom_fields": {"since": "2020-02-28"}}
    assert greetings.greets_member(anniversary, member, date(2027, 2, 28)) == {"years": 7}
