"""A calendar as data: the definition lists the holidays of its span and nothing else, and the
calendar rebuilt from it answers as the original does for instants inside the span."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_calendar.definition import DEFINED_YEARS, define, defined_span
from supportdesk_calendar.holidays import US_FEDERAL, FixedDate, Holiday, HolidaySet

LA = ZoneInfo("America/Los_Angeles")
H = 3600
ORIGINAL = BusinessCalendar(
    "la-weekdays",
    "America/Los_Angeles",
    [*(WeeklyWindow(d, 6 * 60, 18 * 60) for d in range(5)), WeeklyWindow(4, 22 * 60, 2 * 60)],  # Friday night shift
    HolidaySet([*US_FEDERAL, Holiday(FixedDate("Christmas Eve", 12, 24), hours=((6 * 60, 12 * 60),))]),
)
FIRST, LAST = date(2026, 1, 1), date(2027, 12, 31)
DEFINED = define(ORIGINAL, FIRST, LAST)
REBUILT = DEFINED.calendar()


def test_the_definition_lists_every_holiday_of_its_span_with_its_hours_and_no_other() -> None:
    listed = dict(DEFINED.holidays)
    assert min(listed) >= FIRST and max(listed) <= LAST
    assert listed[date(2026, 11, 26)] == ()  # Thanksgiving: closed
    assert listed[date(2026, 12, 24)] == ((6 * 60, 12 * 60),)  # a short day keeps its hours
    assert date(2026, 7, 3) in listed  # Independence Day on a Saturday, observed the Friday
    expected = {d for y in (2026, 2027) for d in ORIGINAL.holidays.in_year(y)}
    assert set(listed) == expected
    assert DEFINED.windows == ORIGINAL.windows and DEFINED.zone == "America/Los_Angeles"


def test_the_span_is_whole_years_from_the_local_year_of_the_instant() -> None:
    # 2026-12-31 23:30 in Los Angeles is already 2027 in UTC: the local year counts.
    first, last = defined_span(ORIGINAL, datetime(2027, 1, 1, 7, 30, tzinfo=UTC))
    assert (first, last) == (date(2026, 1, 1), date(2026 + DEFINED_YEARS - 1, 12, 31))


def test_covers_only_instants_whose_local_dates_are_in_the_span() -> None:
    assert DEFINED.covers(datetime(2026, 1, 1, tzinfo=LA), datetime(2027, 12, 31, 23, 59, tzinfo=LA))
    assert not DEFINED.covers(datetime(2025, 12, 31, 23, tzinfo=LA), datetime(2026, 6, 1, tzinfo=LA))
    # 2028-01-01 07:00 UTC is still 2027-12-31 in Los Angeles.
    assert DEFINED.covers(datetime(2026, 6, 1, tzinfo=UTC), datetime(2028, 1, 1, 7, tzinfo=UTC))
    assert not DEFINED.covers(datetime(2026, 6, 1, tzinfo=UTC), datetime(2028, 1, 1, 8, tzinfo=UTC))
    assert DEFINED.ends_at == datetime(2028, 1, 1, 8, tzinfo=UTC)  # midnight in Los Angeles


def test_equal_definitions_share_one_calendar() -> None:
    assert define(ORIGINAL, FIRST, LAST).calendar() is REBUILT


def test_outside_its_span_a_rebuilt_calendar_does_not_know_the_holidays() -> None:
    # Why `covers` must be asked: Thanksgiving 2028 is an ordinary Thursday to the rebuilt calendar.
    thanksgiving = datetime(2028, 11, 23, 10, tzinfo=LA)
    assert not ORIGINAL.is_open(thanksgiving) and REBUILT.is_open(thanksgiving)


instants = st.datetimes(min_value=datetime(2026, 1, 2), max_value=datetime(2027, 11, 30), timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)
@given(instants, st.integers(min_value=1, max_value=300 * H))
def test_inside_its_span_the_rebuilt_calendar_answers_as_the_original(start: datetime, seconds: int) -> None:
    due = ORIGINAL.add(start, seconds)
    assume(due.date() < LAST - timedelta(days=2))  # beyond the span: the case above
    assert REBUILT.add(start, seconds) == due
    assert REBUILT.business_seconds(start, due) == pytest.approx(ORIGINAL.business_seconds(start, due), abs=1e-6)
    assert REBUILT.is_open(start) == ORIGINAL.is_open(start)
    assert REBUILT.next_opening(start) == ORIGINAL.next_opening(start)
    assert REBUILT.next_closing(start) == ORIGINAL.next_closing(start)
