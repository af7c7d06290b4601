"""Agents, teams and shifts: who is working at an instant, and since when an agent has not been.

An agent's shift is their own working hours if they have any, else the calendar of the team the
question is about (an agent in two teams may be on shift for one and not the other); neither:
around the clock. Calendars are the business-calendar library's, rebuilt from the definitions the
people events carry (`calendar_of`), so shifts follow the zone's DST rules and the listed holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

from supportdesk_calendar.calendar import BusinessCalendar, CalendarNeverOpens, InstantOutOfRange, WeeklyWindow
from supportdesk_calendar.definition import CalendarDefinition
from supportdesk_contract.catalogue import AssignmentRule, Availability
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar

# Farther back than any grace before hand-back: "off since long ago" when the start is unknown.
LONG_AGO = timedelta(days=366)
# How far back the last closing is looked for: a week holds a weekly calendar's last open period;
# a month or a year one closed by holidays.
_LOOK_BACK = (timedelta(days=8), timedelta(days=40), LONG_AGO)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    email: str
    subject: str | None  # the identity provider's `sub`, if known
    teams: frozenset[str]
    skills: frozenset[str]
    languages: frozenset[str]
    capacity: int  # weighted open tickets they may hold (choosing.LOAD_WEIGHT)
    time_zone: str  # IANA
    working_hours: BusinessCalendar | None  # None: the calendar of the team in question
    active: bool
    availability: Availability


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    members: tuple[str, ...]  # agent ids, in the order round-robin walks them
    lead: str | None
    queues: tuple[str, ...]
    calendar: BusinessCalendar | None  # None: around the clock
    escalation_tier: int | None
    rule: AssignmentRule
    hand_back_after: timedelta  # grace before an absent agent's tickets go back to the pool
    active: bool


def calendar_of(carried: CarriedCalendar) -> BusinessCalendar:
    """The calendar library's calendar for a calendar carried by an event (equal definitions give
    the same calendar object, whose tables are kept). ValueError if it is not a valid one.

    Holidays are known only for the dates the definition lists; outside them the weekly hours hold.
    For a shift that is the honest reading (a team's hours are its hours), unlike a due instant."""
    definition = CalendarDefinition(
        name=carried.name,
        zone=carried.zone,
        windows=tuple(WeeklyWindow(*hours) for hours in carried.hours),
        first_day=carried.holidays_from,
        last_day=carried.holidays_until,
        holidays=tuple(sorted(carried.holidays.items())),
    )
    try:
        return definition.calendar()
    except ZoneInfoNotFoundError as e:
        raise ValueError(f"no time zone {carried.zone!r} in this machine's time-zone database") from e


def shift_calendar(agent: Agent, team: Team) -> BusinessCalendar | None:
    """The calendar the agent works in for this team: their own hours, else the team's; None:
    around the clock."""
    return agent.working_hours if agent.working_hours is not None else team.calendar


def on_shift(agent: Agent, team: Team, at: datetime) -> bool:
    """Is the agent on shift for this team at `at`: inside their own working hours if set, else the
    team's calendar; neither: always. An inactive agent never is. Availability is not a shift."""
    if not agent.active:
        return False
    calendar = shift_calendar(agent, team)
    return calendar is None or calendar.is_open(at)


def shift_ended_at(agent: Agent, team: Team, at: datetime) -> datetime | None:
    """When the agent's current absence from shift began (the end of the last open period before
    `at`); None if on shift at `at`. The grace before hand-back counts from here, in wall-clock
    time.

    An inactive agent has been off since an unknown time: `at` minus LONG_AGO, so any grace has
    run out. So has one whose calendar has not opened in the LONG_AGO before `at`."""
    if not agent.active:
        return at - LONG_AGO
    calendar = shift_calendar(agent, team)
    if calendar is None or calendar.is_open(at):
        return None
    return last_closing(calendar, at)


def last_closing(calendar: BusinessCalendar, at: datetime) -> datetime:
    """The end of the calendar's last open period before `at` (closed at `at`), looked for in
    widening spans up to LONG_AGO back; `at - LONG_AGO` if it did not open in all that time."""
    for span in _LOOK_BACK:
        cursor = at - span
        ended: datetime | None = None
        try:
            # Walk forward over the open periods between at - span and at: a week holds a handful.
            while (opens := calendar.next_opening(cursor)) < at:
                ended = calendar.next_closing(opens)
                cursor = ended
        except (CalendarNeverOpens, InstantOutOfRange):
            pass  # no opening to find after cursor: the last one found, if any, is the answer
        if ended is not None:
            return ended
    return at - LONG_AGO
