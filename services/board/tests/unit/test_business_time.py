"""Business-time countdowns in the calendar a clock's events carry: the time left to a due instant
counts only while that calendar is open, and equals what the calendar the due instant was computed
in (sla-clock's, a `supportdesk_calendar.BusinessCalendar`) gives, across a DST change, a holiday
and a weekend. A clock whose events carried no calendar (written before they did) has none."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from board.domain.business_time import calendar_id, countdown, countdown_in, definition_of
from board.domain.ticket_view import TicketView
from board.service_layer.countdowns import Countdowns, due_clock_calendar
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_calendar.definition import define
from supportdesk_calendar.holidays import US_FEDERAL, DaysAfter, FixedDate, Holiday, HolidaySet, NthWeekday
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar
from supportdesk_contract.catalogue import ClockKind, SlaClockRetargeted, SlaClockStarted
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import decode, encode, new_envelope

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
H = 3600

# The calendar of docs/policies.md#seed-000 as sla-clock's data-insights policy builds it: 06:00-18:00
# Pacific on weekdays, with Thanksgiving and the day after (and Christmas Eve short, to carry a partial day).
PACIFIC = BusinessCalendar(
    "data-insights-business-hours",
    "America/Los_Angeles",
    [WeeklyWindow(d, 6 * 60, 18 * 60) for d in range(5)],
    HolidaySet(
        [
            Holiday(NthWeekday("Thanksgiving Day", 11, 3, 4)),
            Holiday(DaysAfter("Day after Thanksgiving", "Thanksgiving Day")),
            Holiday(FixedDate("Christmas Eve", 12, 24), hours=((6 * 60, 12 * 60),)),
            Holiday(FixedDate("Christmas Day", 12, 25)),
        ]
    ),
)
# 24x7 Berlin except the US federal holidays: every hour counts, so a DST change shows.
ALWAYS_BERLIN = BusinessCalendar(
    "always-berlin", "Europe/Berlin", [WeeklyWindow(d, 0, 1440) for d in range(7)], HolidaySet(list(US_FEDERAL))
)


def carried(calendar: BusinessCalendar, year: int = 2026) -> CarriedCalendar:
    """The calendar as a clock event carries it, through the bytes of a real envelope: what sla-clock
    writes (a definition of two years of holidays) is what the board reads back."""
    d = define(calendar, date(year, 1, 1), date(year + 1, 12, 31))
    data = CarriedCalendar(
        name=d.name,
        zone=d.zone,
        hours=tuple((w.weekday, w.start, w.end) for w in d.windows),
        holidays_from=d.first_day,
        holidays_until=d.last_day,
        holidays=dict(d.holidays),
    )
    event = started(datetime(year, 3, 1, tzinfo=UTC), datetime(year, 3, 2, tzinfo=UTC), data)
    env = new_envelope(event, ticket_id="t-1", producer="sla-clock", clock=SystemClock())
    payload = decode(encode(env)[1], "SlaClockStarted").payload
    assert isinstance(payload, SlaClockStarted) and payload.calendar_definition is not None
    return payload.calendar_definition


def started(at: datetime, due: datetime, definition: CarriedCalendar | None) -> SlaClockStarted:
    return SlaClockStarted(
        clock=ClockKind.FIRST_RESPONSE,
        started_at=at,
        due_at=due,
        target_seconds=2 * H,
        calendar=definition.name if definition else "pacific",
        policy_version="data-insights@2026-11-22.1",
        calendar_definition=definition,
    )


def la(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LA).astimezone(UTC)


def berlin(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("calendar", "now", "due", "remaining"),
    [
        # A weekend: one hour on Friday before 18:00, one on Monday from 06:00 (wall time: 62 hours).
        (PACIFIC, la(11, 20, 17), la(11, 23, 7), 2 * H),
        # A holiday: Wednesday 17:00 to Monday 07:00 skips Thanksgiving, the day after and the weekend.
        (PACIFIC, la(11, 25, 17), la(11, 30, 7), 2 * H),
        # A short day: Christmas Eve closes at 12:00, Christmas Day is closed.
        (PACIFIC, la(12, 24, 11), la(12, 28, 7), 2 * H),
        # Overdue across a weekend: negative business time.
        (PACIFIC, la(11, 23, 7), la(11, 20, 17), -2 * H),
        # DST ends in Los Angeles on Sunday 1 November: the open periods move by an hour in UTC.
        (PACIFIC, la(10, 30, 17), la(11, 2, 7), 2 * H),
        # DST ends in Berlin on Sunday 25 October: that day has 25 hours of a 24x7 calendar.
        (ALWAYS_BERLIN, berlin(10, 25, 0), berlin(10, 26, 0), 25 * H),
        # and starts on 29 March: 23 hours.
        (ALWAYS_BERLIN, berlin(3, 29, 0), berlin(3, 30, 0), 23 * H),
        # A US federal holiday closes the 24x7 calendar: Thanksgiving, midnight to midnight Berlin time.
        (ALWAYS_BERLIN, berlin(11, 26, 0), berlin(11, 27, 12), 12 * H),
    ],
)
def test_a_countdown_in_the_carried_calendar_equals_the_original_calendars(
    calendar: BusinessCalendar, now: datetime, due: datetime, remaining: int
) -> None:
    expected = countdown(calendar, due, now)
    got = countdown_in(definition_of(carried(calendar)), due, now)
    assert got == expected
    assert got is not None and got.remaining_seconds == remaining


def test_a_countdown_stands_still_while_the_calendar_is_closed() -> None:
    friday_5pm, monday_7am = la(11, 20, 17), la(11, 23, 7)
    c = countdown_in(definition_of(carried(PACIFIC)), monday_7am, friday_5pm)
    assert c is not None and c.open and c.calendar == PACIFIC.name
    assert c.open_periods[0] == (friday_5pm, la(11, 20, 18))
    assert c.open_periods[1] == (la(11, 23, 6), la(11, 23, 18))
    assert c.remaining_at(la(11, 21, 12)) == H  # Saturday noon: stood still since Friday 18:00
    assert c.remaining_at(la(11, 23, 6, 30)) == H / 2
    saturday = la(11, 21, 9)
    closed = countdown_in(definition_of(carried(PACIFIC)), la(11, 23, 8), saturday)
    assert closed is not None and not closed.open and closed.remaining_seconds == 2 * H
    assert closed.remaining_at(saturday + timedelta(hours=40)) == 2 * H


def test_no_countdown_needs_a_date_the_carried_calendar_does_not_list() -> None:
    definition = definition_of(carried(PACIFIC))  # holidays listed for 2026 and 2027
    assert countdown_in(definition, la(12, 21, 7), la(12, 21, 6)) is not None
    # Overdue since before the listed dates, or read after them: their holidays are unknown.
    assert countdown_in(definition, datetime(2025, 12, 30, 18, tzinfo=UTC), la(1, 5, 9)) is None
    assert countdown_in(definition, la(11, 23, 7), datetime(2028, 1, 3, 18, tzinfo=UTC)) is None
    # Due on the last listed day: counted, and the open periods stop where the listed dates end
    # (the page reads again there, and then gets none).
    last_day = datetime(2027, 12, 31, 7, tzinfo=LA)
    c = countdown_in(definition, last_day, last_day - timedelta(hours=1))
    assert c is not None and c.remaining_seconds == H
    new_year = datetime(2028, 1, 1, tzinfo=LA)
    assert c.open_periods == ((last_day - timedelta(hours=1), datetime(2027, 12, 31, 18, tzinfo=LA)),)
    assert c.valid_until == new_year == definition.ends_at
    assert countdown_in(definition, last_day, new_year) is None


def test_a_calendar_open_around_the_clock_has_one_open_period_to_the_end_of_its_dates() -> None:
    always = BusinessCalendar("always", "UTC", [WeeklyWindow(d, 0, 1440) for d in range(7)])
    definition = definition_of(carried(always))
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    c = countdown_in(definition, now + timedelta(hours=4), now)
    assert c is not None and c.open and c.remaining_seconds == 4 * H
    assert c.open_periods == ((now, datetime(2028, 1, 1, tzinfo=UTC)),)
    assert c.remaining_at(now + timedelta(hours=1)) == 3 * H


def test_a_calendar_this_board_cannot_read_is_refused() -> None:
    unknown_zone = carried(PACIFIC).model_copy(update={"zone": "Mars/Olympus_Mons"})
    with pytest.raises(ValueError, match="time zone"):
        definition_of(unknown_zone)
    bad_window = carried(PACIFIC).model_copy(update={"hours": ((7, 0, 60),)})
    with pytest.raises(ValueError):
        definition_of(bad_window)


def fold(*events: SlaClockStarted | SlaClockRetargeted) -> dict[str, Any]:
    view = TicketView()
    for e in events:
        view.apply(e, datetime(2026, 11, 20, tzinfo=UTC))
    return view.row()  # as the board stores it: `clocks` as JSON, next_due_at an instant


def test_the_fold_names_the_carried_calendar_of_the_clock_due_next() -> None:
    data = carried(PACIFIC)
    row = fold(started(la(11, 20, 9), la(11, 23, 7), data))
    assert due_clock_calendar(row) == calendar_id(data)
    assert row["clocks"]["first_response"]["calendar_id"] == calendar_id(data)
    # Equal calendars share one id; another calendar has another.
    assert calendar_id(carried(PACIFIC)) == calendar_id(data) != calendar_id(carried(ALWAYS_BERLIN))


def test_a_retarget_moves_the_clock_to_the_calendar_it_carries_or_to_none() -> None:
    first, second = carried(PACIFIC), carried(ALWAYS_BERLIN)
    clock = started(la(11, 20, 9), la(11, 23, 7), first)

    def retargeted(definition: CarriedCalendar | None) -> SlaClockRetargeted:
        return SlaClockRetargeted(
            clock=ClockKind.FIRST_RESPONSE,
            from_version="data-insights@1",
            to_version="data-insights@2",
            previous_target_seconds=2 * H,
            target_seconds=H,
            previous_due_at=la(11, 23, 7),
            due_at=la(11, 23, 6, 30),
            by="ops",
            reason="new hours",
            calendar_definition=definition,
        )

    assert due_clock_calendar(fold(clock, retargeted(second))) == calendar_id(second)
    # Written without one (before events carried calendars): the new version's calendar is unknown.
    assert due_clock_calendar(fold(clock, retargeted(None))) is None


def test_a_clock_whose_events_predate_carried_calendars_has_no_countdown() -> None:
    row = fold(started(la(11, 20, 9), la(11, 23, 7), None))
    assert row["next_due_at"] == la(11, 23, 7)
    assert due_clock_calendar(row) is None
    assert Countdowns().of(row, la(11, 20, 17)) is None  # the page shows wall time, saying so
