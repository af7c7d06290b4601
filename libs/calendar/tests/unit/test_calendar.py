"""Business calendars: the cases other help desks get wrong, and round-trip properties."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk_calendar.calendar import BusinessCalendar, CalendarNeverOpens, WeeklyWindow
from supportdesk_calendar.holidays import (
    US_FEDERAL,
    DaysAfter,
    FixedDate,
    Holiday,
    HolidaySet,
    NthWeekday,
    Observance,
    OneOff,
)

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
H = 3600


def every_day(start: int, end: int) -> list[WeeklyWindow]:
    return [WeeklyWindow(d, start, end) for d in range(7)]


def weekdays(start: int, end: int) -> list[WeeklyWindow]:
    return [WeeklyWindow(d, start, end) for d in range(5)]


ALWAYS_LA = BusinessCalendar("24x7 LA", "America/Los_Angeles", every_day(0, 1440))
WEEKDAYS_NY = BusinessCalendar("24x5 NY", "America/New_York", weekdays(0, 1440))
# The calendar of docs/policies.md#seed-000 as sla-clock's data-insights policy defines it (sla-clock's tests check that
# the shipped policy file gives this calendar).
SEED_000_HOLIDAYS = (
    Holiday(FixedDate("New Year's Day", 1, 1, Observance.FEDERAL)),
    Holiday(NthWeekday("Martin Luther King Jr. Day", 1, 0, 3)),
    Holiday(NthWeekday("Memorial Day", 5, 0, -1)),
    Holiday(FixedDate("Independence Day", 7, 4, Observance.FEDERAL)),
    Holiday(NthWeekday("Labor Day", 9, 0, 1)),
    Holiday(NthWeekday("Thanksgiving Day", 11, 3, 4)),
    Holiday(DaysAfter("Day after Thanksgiving", "Thanksgiving Day")),
    Holiday(FixedDate("Christmas Day", 12, 25, Observance.FEDERAL)),
)
DATA_INSIGHTS = BusinessCalendar(
    "data-insights-business-hours",
    "America/Los_Angeles",
    weekdays(6 * 60, 18 * 60),
    HolidaySet(list(SEED_000_HOLIDAYS)),
)
# 24x7 except the US federal holidays (sla-clock's data-dynamics policy).
ALWAYS_CHICAGO_BUT_FEDERAL = BusinessCalendar(
    "data-dynamics-24x7", "America/Chicago", every_day(0, 1440), HolidaySet(list(US_FEDERAL))
)


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)  # type: ignore[misc]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


# --- DST --------------------------------------------------------------------------------------


def test_24x7_spring_forward_day_has_23_business_hours_and_fall_back_day_25() -> None:
    assert ALWAYS_LA.business_seconds(la(2026, 3, 8), la(2026, 3, 9)) == 23 * H
    assert ALWAYS_LA.business_seconds(la(2026, 11, 1), la(2026, 11, 2)) == 25 * H


def test_24x7_adds_elapsed_time_not_wall_clock_time_across_dst() -> None:
    assert ALWAYS_LA.add(la(2026, 3, 8), 24 * H) == la(2026, 3, 9, 1)
    assert ALWAYS_LA.add(la(2026, 11, 1), 24 * H) == la(2026, 11, 1, 23)


def test_24x5_over_a_dst_weekend_counts_friday_and_monday_only() -> None:
    # 2026-03-08 is the Sunday clocks spring forward in New York.
    assert WEEKDAYS_NY.business_seconds(ny(2026, 3, 6, 12), ny(2026, 3, 9, 12)) == 24 * H
    assert WEEKDAYS_NY.add(ny(2026, 3, 6, 23), 2 * H) == ny(2026, 3, 9, 1)
    # 2026-11-01, fall back: same answer, the extra hour falls on a closed Sunday.
    assert WEEKDAYS_NY.add(ny(2026, 10, 30, 23), 2 * H) == ny(2026, 11, 2, 1)


def test_a_window_over_the_spring_forward_gap_holds_only_the_hours_that_exist() -> None:
    cal = BusinessCalendar("nights", "America/Los_Angeles", every_day(60, 300))  # 01:00-05:00
    assert cal.business_seconds(la(2026, 3, 8), la(2026, 3, 9)) == 3 * H
    assert cal.business_seconds(la(2026, 11, 1), la(2026, 11, 2)) == 5 * H


def test_wall_clock_hours_stay_put_across_dst() -> None:
    # 06:00 Pacific is 14:00Z in winter and 13:00Z in summer.
    assert DATA_INSIGHTS.next_opening(la(2026, 3, 6, 20)) == datetime(2026, 3, 9, 13, tzinfo=UTC)
    assert DATA_INSIGHTS.next_opening(la(2026, 10, 30, 20)) == datetime(2026, 11, 2, 14, tzinfo=UTC)


def test_next_closing_is_the_end_of_the_open_period_or_now_when_closed() -> None:
    # Friday 2026-11-20 10:00 Pacific: open until 18:00 Pacific (02:00Z Saturday).
    assert DATA_INSIGHTS.next_closing(la(2026, 11, 20, 10)) == datetime(2026, 11, 21, 2, tzinfo=UTC)
    assert DATA_INSIGHTS.next_closing(la(2026, 11, 20, 19)) == la(2026, 11, 20, 19)
    # A 24x5 week is one open period from Monday 00:00 to Saturday 00:00.
    assert WEEKDAYS_NY.next_closing(ny(2026, 11, 17, 9)) == ny(2026, 11, 21, 0)


# --- midnight, 24:00, windows that cross midnight -------------------------------------------


def test_24x7_is_open_at_midnight_and_has_no_gap_there() -> None:
    assert ALWAYS_LA.is_open(la(2026, 11, 24, 0, 0))
    assert ALWAYS_LA.business_seconds(la(2026, 11, 24, 23, 59), la(2026, 11, 25, 0, 1)) == 120
    assert ALWAYS_LA.business_seconds(la(2026, 12, 31, 23), la(2027, 1, 1, 1)) == 2 * H  # and at New Year


def test_24_00_ends_the_day_and_joins_the_next_days_opening() -> None:
    cal = BusinessCalendar(
        "evenings",
        "America/New_York",
        [*[WeeklyWindow(d, 18 * 60, 1440) for d in range(7)], *[WeeklyWindow(d, 0, 6 * 60) for d in range(7)]],
    )
    assert cal.add(ny(2026, 11, 24, 23), 2 * H) == ny(2026, 11, 25, 1)
    assert cal.is_open(ny(2026, 11, 25, 0)) and not cal.is_open(ny(2026, 11, 25, 6))


def test_a_window_crossing_midnight_runs_into_the_next_morning() -> None:
    cal = BusinessCalendar("night shift", "America/New_York", [WeeklyWindow(0, 22 * 60, 6 * 60)])  # Mon 22-06
    assert cal.add(ny(2026, 11, 23, 22), 3 * H) == ny(2026, 11, 24, 1)
    assert cal.add(ny(2026, 11, 23, 22), 8 * H) == ny(2026, 11, 24, 6)  # used up at closing: due then
    assert not cal.is_open(ny(2026, 11, 24, 6))
    assert cal.add(ny(2026, 11, 23, 22), 9 * H) == ny(2026, 11, 30, 23)


def test_several_windows_a_day() -> None:
    cal = BusinessCalendar("split", "America/Los_Angeles", weekdays(8 * 60, 12 * 60) + weekdays(13 * 60, 17 * 60))
    assert cal.add(la(2026, 11, 23, 11), 2 * H) == la(2026, 11, 23, 14)
    assert cal.business_seconds(la(2026, 11, 23), la(2026, 11, 24)) == 8 * H


# --- the closing-time rule, closed starts, zero ---------------------------------------------


def test_a_target_used_up_exactly_at_closing_time_is_due_at_closing_time() -> None:
    assert DATA_INSIGHTS.add(la(2026, 11, 23, 16), 2 * H) == la(2026, 11, 23, 18)
    assert DATA_INSIGHTS.add(la(2026, 11, 23, 16), 2 * H + 1) == la(2026, 11, 24, 6, 0, 1)


def test_a_clock_started_while_closed_starts_counting_at_the_next_opening() -> None:
    assert DATA_INSIGHTS.add(la(2026, 11, 21, 10), H) == la(2026, 11, 23, 7)  # Saturday
    assert DATA_INSIGHTS.add(la(2026, 11, 23, 5), 30 * 60) == la(2026, 11, 23, 6, 30)


def test_zero_business_time_is_due_at_once() -> None:
    assert DATA_INSIGHTS.add(la(2026, 11, 21, 10), 0) == la(2026, 11, 21, 10)


# --- holidays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 7, 3), False),  # Independence Day on a Saturday: observed Friday
        (date(2027, 7, 5), False),  # on a Sunday: observed Monday
        (date(2021, 12, 24), False),  # Christmas 2021 on a Saturday
        (date(2027, 12, 31), False),  # New Year's Day 2028 is a Saturday: observed the Friday before
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), False),  # the day after Thanksgiving
        (date(2026, 11, 25), True),
        (date(2026, 1, 19), False),  # Martin Luther King Jr. Day: third Monday of January
        (date(2026, 5, 25), False),  # Memorial Day: last Monday of May
        (date(2026, 5, 18), True),
        (date(2026, 9, 7), False),  # Labor Day
        (date(2026, 10, 12), True),  # Columbus Day is not one of the holidays of docs/policies.md#seed-000
        (date(2026, 11, 11), True),  # nor is Veterans Day
    ],
)
def test_seed_000_holidays_close_the_observed_day(day: date, open_: bool) -> None:
    assert DATA_INSIGHTS.is_open(datetime(day.year, day.month, day.day, 10, tzinfo=LA)) is open_


def test_deadlines_skip_thanksgiving_and_the_day_after() -> None:
    assert DATA_INSIGHTS.add(la(2026, 11, 25, 17), 2 * H) == la(2026, 11, 30, 7)


def test_a_partial_day_closes_early_and_one_off_dates_close() -> None:
    holidays = HolidaySet(
        [
            Holiday(FixedDate("Christmas Eve", 12, 24), hours=((6 * 60, 14 * 60),)),
            Holiday(FixedDate("Christmas Day", 12, 25)),
            Holiday(OneOff("Office move", date(2026, 12, 28))),
        ]
    )
    cal = BusinessCalendar("x", "America/Los_Angeles", weekdays(6 * 60, 18 * 60), holidays)
    assert cal.is_open(la(2026, 12, 24, 13, 59)) and not cal.is_open(la(2026, 12, 24, 14))
    assert cal.add(la(2026, 12, 24, 13), 2 * H) == la(2026, 12, 29, 7)


# --- pauses -----------------------------------------------------------------------------------


def test_a_pause_spanning_closed_time_only_removes_business_time_inside_it() -> None:
    opened = la(2026, 11, 20, 16)  # Friday
    paused = [(la(2026, 11, 20, 17), la(2026, 11, 23, 8))]  # to Monday 08:00
    assert DATA_INSIGHTS.add(opened, 3 * H) == la(2026, 11, 23, 7)
    assert DATA_INSIGHTS.add(opened, 3 * H, paused) == la(2026, 11, 23, 10)
    assert DATA_INSIGHTS.business_seconds(opened, la(2026, 11, 23, 10), paused) == 3 * H


def test_overlapping_pauses_count_once_and_a_pause_before_the_start_changes_nothing() -> None:
    opened = la(2026, 11, 23, 6)
    pauses = [
        (la(2026, 11, 23, 8), la(2026, 11, 23, 10)),
        (la(2026, 11, 23, 9), la(2026, 11, 23, 11)),
        (la(2026, 11, 20, 8), la(2026, 11, 20, 9)),
    ]
    assert DATA_INSIGHTS.add(opened, 4 * H, pauses) == la(2026, 11, 23, 13)


def test_a_target_reached_right_at_a_pause_is_due_when_the_pause_starts() -> None:
    opened = la(2026, 11, 23, 6)
    assert DATA_INSIGHTS.add(opened, 2 * H, [(la(2026, 11, 23, 8), la(2026, 11, 23, 12))]) == la(2026, 11, 23, 8)


# --- errors and range -------------------------------------------------------------------------


def test_instants_must_be_aware_and_calendars_must_open() -> None:
    with pytest.raises(ValueError, match="naive"):
        DATA_INSIGHTS.add(datetime(2026, 11, 23, 9), H)
    with pytest.raises(CalendarNeverOpens):
        BusinessCalendar("never", "UTC", [])


def test_any_year_works_in_either_direction() -> None:
    cal = BusinessCalendar("y", "America/Los_Angeles", weekdays(6 * 60, 18 * 60))
    assert cal.add(la(2031, 6, 6, 17), 2 * H) == la(2031, 6, 9, 7)
    assert cal.add(la(2019, 6, 7, 17), 2 * H) == la(2019, 6, 10, 7)
    assert cal.add(la(2031, 6, 6, 17), 2 * H) == la(2031, 6, 9, 7)  # after rebuilding for 2019


# --- properties -------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC))
durations = st.integers(min_value=1, max_value=400 * H)
calendars = st.sampled_from([DATA_INSIGHTS, WEEKDAYS_NY, ALWAYS_LA, ALWAYS_CHICAGO_BUT_FEDERAL])


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations)
def test_adding_then_measuring_a_business_duration_round_trips(
    cal: BusinessCalendar, start: datetime, seconds: int
) -> None:
    due = cal.add(start, seconds)
    assert due > start
    assert cal.business_seconds(start, due) == pytest.approx(seconds, abs=1e-3)
    # Earliest: a second before the due instant, the target was not yet reached.
    assert cal.business_seconds(start, due - timedelta(seconds=1)) < seconds


@settings(max_examples=200, deadline=None)
@given(calendars, instants, durations, durations, st.lists(st.tuples(instants, durations), max_size=4))
def test_deadlines_never_come_earlier_for_more_time_or_with_pauses(
    cal: BusinessCalendar, start: datetime, a: int, b: int, pause_specs: list[tuple[datetime, int]]
) -> None:
    small, large = sorted((a, b))
    assert cal.add(start, small) <= cal.add(start, large)
    pauses = [(p, p + timedelta(seconds=n)) for p, n in pause_specs]
    due = cal.add(start, small, pauses)
    assert due >= cal.add(start, small)
    assert cal.business_seconds(start, due, pauses) == pytest.approx(small, abs=1e-3)
