"""Shifts: who is working at an instant, in the calendar's own zone, and since when someone is not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from assignment.domain.people import LONG_AGO, Agent, Team, calendar_of, on_shift, shift_ended_at
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_contract.catalogue import AssignmentRule, Availability
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar

# Berlin, 10:00-18:00 on weekdays: 08:30 UTC is 10:30 in summer (CEST, +2) and 09:30 in winter (CET, +1).
BERLIN = BusinessCalendar("berlin", "Europe/Berlin", [WeeklyWindow(d, 600, 1080) for d in range(5)])
LOS_ANGELES = BusinessCalendar("la", "America/Los_Angeles", [WeeklyWindow(d, 540, 1020) for d in range(5)])
SUMMER_WEDNESDAY = date(2026, 7, 1)
WINTER_WEDNESDAY = date(2026, 1, 7)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def agent(hours: BusinessCalendar | None = None, active: bool = True) -> Agent:
    return Agent(
        id="pat",
        name="Pat",
        email="pat@desk.example",
        subject=None,
        teams=frozenset({"berlin"}),
        skills=frozenset(),
        languages=frozenset({"de"}),
        capacity=8,
        time_zone="Europe/Berlin",
        working_hours=hours,
        active=active,
        availability=Availability.ONLINE,
    )


def team(calendar: BusinessCalendar | None = BERLIN) -> Team:
    return Team(
        id="berlin",
        name="Berlin",
        members=("pat",),
        lead=None,
        queues=("technical",),
        calendar=calendar,
        escalation_tier=1,
        rule=AssignmentRule.LEAST_LOADED,
        hand_back_after=timedelta(minutes=15),
        active=True,
    )


def test_a_berlin_team_at_the_same_utc_instant_is_on_shift_in_summer_and_off_in_winter() -> None:
    # 08:30 UTC: 10:30 CEST (open) in July, 09:30 CET (not yet) in January.
    assert on_shift(agent(), team(), utc(SUMMER_WEDNESDAY, 8, 30))
    assert not on_shift(agent(), team(), utc(WINTER_WEDNESDAY, 8, 30))
    # 16:30 UTC: 18:30 CEST (closed) in July, 17:30 CET (open) in January.
    assert not on_shift(agent(), team(), utc(SUMMER_WEDNESDAY, 16, 30))
    assert on_shift(agent(), team(), utc(WINTER_WEDNESDAY, 16, 30))


def test_an_agents_own_hours_win_over_the_teams_calendar() -> None:
    at = utc(SUMMER_WEDNESDAY, 20)  # 22:00 in Berlin, 13:00 in Los Angeles
    assert not on_shift(agent(), team(), at)
    assert on_shift(agent(hours=LOS_ANGELES), team(), at)
    assert not on_shift(agent(hours=LOS_ANGELES), team(), utc(SUMMER_WEDNESDAY, 9))  # 02:00 in LA


def test_no_calendar_at_all_is_around_the_clock_and_an_inactive_agent_is_never_on_shift() -> None:
    sunday_night = datetime(2026, 7, 5, 2, tzinfo=UTC)
    assert on_shift(agent(), team(calendar=None), sunday_night)
    assert not on_shift(agent(active=False), team(calendar=None), sunday_night)
    assert shift_ended_at(agent(), team(calendar=None), sunday_night) is None


def test_the_shift_ended_at_the_last_closing_in_the_calendars_zone() -> None:
    assert shift_ended_at(agent(), team(), utc(SUMMER_WEDNESDAY, 12)) is None  # on shift
    # 19:00 UTC on a summer Wednesday: closed since 18:00 CEST = 16:00 UTC.
    assert shift_ended_at(agent(), team(), utc(SUMMER_WEDNESDAY, 19)) == utc(SUMMER_WEDNESDAY, 16)
    # The same in winter: 18:00 CET = 17:00 UTC.
    assert shift_ended_at(agent(), team(), utc(WINTER_WEDNESDAY, 19)) == utc(WINTER_WEDNESDAY, 17)
    # Monday 07:00 UTC, before opening: off since Friday 18:00 CEST.
    monday = date(2026, 7, 6)
    assert shift_ended_at(agent(), team(), utc(monday, 7)) == utc(date(2026, 7, 3), 16)


def test_the_last_closing_is_found_behind_a_long_closure() -> None:
    # Closed for the whole of August 2026 by holidays: on 1 September (a Tuesday) at 07:00 UTC the
    # shift ended on Friday 31 July, 18:00 CEST.
    carried = CarriedCalendar(
        name="berlin",
        zone="Europe/Berlin",
        hours=tuple((d, 600, 1080) for d in range(5)),
        holidays_from=date(2026, 1, 1),
        holidays_until=date(2027, 12, 31),
        holidays={date(2026, 8, 1) + timedelta(days=i): () for i in range(31)},
    )
    closed = team(calendar_of(carried))
    assert shift_ended_at(agent(), closed, utc(date(2026, 9, 1), 7)) == utc(date(2026, 7, 31), 16)


def test_an_inactive_agent_has_been_off_for_longer_than_any_grace() -> None:
    at = utc(SUMMER_WEDNESDAY, 12)
    assert shift_ended_at(agent(active=False), team(), at) == at - LONG_AGO


def test_a_carried_calendar_rebuilds_with_its_holidays() -> None:
    carried = CarriedCalendar(
        name="berlin",
        zone="Europe/Berlin",
        hours=tuple((d, 600, 1080) for d in range(5)),
        holidays_from=date(2026, 1, 1),
        holidays_until=date(2027, 12, 31),
        holidays={date(2026, 10, 5): (), date(2026, 10, 6): ((600, 720),)},  # closed; open 10-12 only
    )
    calendar = calendar_of(carried)
    assert calendar is calendar_of(carried)  # equal definitions share one calendar and its tables
    assert on_shift(agent(), team(calendar), utc(date(2026, 10, 7), 9))
    assert not on_shift(agent(), team(calendar), utc(date(2026, 10, 5), 9))
    assert on_shift(agent(), team(calendar), utc(date(2026, 10, 6), 9))  # 11:00 CEST
    assert not on_shift(agent(), team(calendar), utc(date(2026, 10, 6), 11))  # 13:00 CEST
    assert shift_ended_at(agent(), team(calendar), utc(date(2026, 10, 6), 11)) == utc(date(2026, 10, 6), 10)


def test_a_carried_calendar_in_an_unknown_zone_is_refused() -> None:
    carried = CarriedCalendar(
        name="nowhere",
        zone="Mars/Olympus_Mons",
        hours=((0, 540, 1020),),
        holidays_from=date(2026, 1, 1),
        holidays_until=date(2026, 12, 31),
    )
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        calendar_of(carried)
