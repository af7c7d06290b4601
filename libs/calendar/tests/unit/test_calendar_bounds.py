"""A calendar answers only inside its supported range, and a question that fails leaves it as it
was (opened_at 9999-12-31 once left the year table half-extended and every later question failed)."""

from datetime import UTC, datetime, timedelta

import pytest

from supportdesk_calendar.calendar import EARLIEST, LATEST, BusinessCalendar, InstantOutOfRange, WeeklyWindow

MONDAY = datetime(2026, 11, 30, 17, tzinfo=UTC)  # Monday 09:00 Pacific


def weekdays_la() -> BusinessCalendar:
    """A fresh calendar (no tables built yet): 06:00-18:00 Pacific on weekdays."""
    return BusinessCalendar("w", "America/Los_Angeles", [WeeklyWindow(d, 6 * 60, 18 * 60) for d in range(5)])


@pytest.mark.parametrize(
    "instant",
    [
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        LATEST + timedelta(seconds=1),
        EARLIEST - timedelta(seconds=1),
    ],
)
def test_out_of_range_instants_are_refused_and_the_calendar_still_answers(instant: datetime) -> None:
    cal = weekdays_la()
    expected = cal.add(MONDAY, 3600)
    for _ in range(2):  # the second call is the one that found the corrupted table
        with pytest.raises(InstantOutOfRange):
            cal.add(instant, 3600)
        with pytest.raises(InstantOutOfRange):
            cal.business_seconds(MONDAY, instant)
    assert cal.add(MONDAY, 3600) == expected == MONDAY + timedelta(hours=1)
    assert cal.is_open(MONDAY) and cal.next_opening(MONDAY) == MONDAY


def test_the_edges_of_the_range_are_answered() -> None:
    cal = weekdays_la()
    assert cal.add(EARLIEST, 3600) > EARLIEST
    due = cal.add(LATEST, 10 * 12 * 3600)  # due after the range's end: answered, not refused
    assert due > LATEST
    assert cal.business_seconds(EARLIEST, LATEST) > 0  # the whole range at once, bounded work
    assert cal.add(MONDAY, 3600) == MONDAY + timedelta(hours=1)
