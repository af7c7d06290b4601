"""Agents, teams and shifts: who is working at an instant, and since when an agent has not been.

An agent's shift is their own working hours if they have any, else the calendar of the team the
question is about (an agent in two teams may be on shift for one and not the other); neither:
around the clock. Calendars are the business-calendar library's, rebuilt from the definitions the
people events carry (`calendar_of`), so shifts follow the zone's DST rules and the listed holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from supportdesk_calendar.calendar import BusinessCalendar
from supportdesk_contract.catalogue import AssignmentRule, Availability
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar


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
    the same calendar object, whose tables are kept). ValueError if it is not a valid one."""
    raise NotImplementedError


def shift_calendar(agent: Agent, team: Team) -> BusinessCalendar | None:
    """The calendar the agent works in for this team: their own hours, else the team's; None:
    around the clock."""
    return agent.working_hours if agent.working_hours is not None else team.calendar


def on_shift(agent: Agent, team: Team, at: datetime) -> bool:
    """Is the agent on shift for this team at `at`: inside their own working hours if set, else the
    team's calendar; neither: always. An inactive agent never is. Availability is not a shift."""
    raise NotImplementedError


def shift_ended_at(agent: Agent, team: Team, at: datetime) -> datetime | None:
    """When the agent's current absence from shift began (the end of the last open period before
    `at`); None if on shift at `at`. The grace before hand-back counts from here, in wall-clock
    time."""
    raise NotImplementedError
