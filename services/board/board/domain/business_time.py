"""Business-time countdowns: how much of a clock's business time is left at an instant, and when
the calendar is open from then on, so the dashboard ticks only while the calendar is open.

The calendar is the one sla-clock computed the due instant in, as its clock events carry it
(`calendar_definition`: the zone, the weekly hours, two years of holidays as dates), rebuilt by the
calendar library: the board needs neither sla-clock's policy files nor its package. No countdown
is given when the time left (or overdue) spans a date outside the dates the definition lists (its
holidays there are unknown), nor for a clock whose events carry no calendar (written before they
did); the open periods a countdown lists stop where the listed dates end."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from supportdesk_calendar.calendar import BusinessCalendar, InstantOutOfRange, WeeklyWindow
from supportdesk_calendar.definition import CalendarDefinition
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar

# How many of the calendar's coming open periods a countdown carries; the page reads the list
# again once the last one is over (a working week of a 5-day calendar).
OPEN_PERIODS = 5


@dataclass(frozen=True)
class Countdown:
    calendar: str
    as_of: datetime
    remaining_seconds: int  # business seconds from as_of to the due instant; negative once overdue
    open: bool  # is the calendar open at as_of
    open_periods: tuple[tuple[datetime, datetime], ...]  # from as_of on (the first clipped to it)
    valid_until: datetime  # the end of the last period listed (or of the calendar's dates): after it, read again

    def as_json(self) -> dict[str, Any]:
        return {
            "calendar": self.calendar,
            "as_of": self.as_of.isoformat(),
            "remaining_seconds": self.remaining_seconds,
            "open": self.open,
            "open_periods": [[s.isoformat(), e.isoformat()] for s, e in self.open_periods],
            "valid_until": self.valid_until.isoformat(),
        }

    def remaining_at(self, instant: datetime) -> float:
        """Business seconds left at `instant` (as_of <= instant <= valid_until): the time before
        it spent inside the listed open periods is all that counts down."""
        spent = sum(
            max(0.0, (min(end, instant) - max(start, self.as_of)).total_seconds()) for start, end in self.open_periods
        )
        return self.remaining_seconds - spent


def calendar_id(carried: CarriedCalendar) -> str:
    """The name the board keeps a carried calendar under: the sha256 of its content, so equal
    calendars (every clock started in a year under one policy version) are stored once.

    Every field of the carried model takes part: a field added to `CalendarDefinition` later, even
    with a default, gives old events new ids, so a rebuild would differ from the live board's
    `board_calendars` until both are rebuilt. Add such a field with `exclude_if` (absent -> left
    out) or leave it out of the dump here."""
    canonical = json.dumps(carried.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def definition_of(carried: CarriedCalendar) -> CalendarDefinition:
    """The calendar library's definition of a carried calendar; ValueError if it is not a valid
    one (a window out of range, a zone this machine's time-zone database lacks)."""
    definition = CalendarDefinition(
        name=carried.name,
        zone=carried.zone,
        windows=tuple(WeeklyWindow(*hours) for hours in carried.hours),
        first_day=carried.holidays_from,
        last_day=carried.holidays_until,
        holidays=tuple(sorted(carried.holidays.items())),
    )
    try:
        definition.calendar()  # built (and kept) here, so an invalid one fails here
    except ZoneInfoNotFoundError as e:
        raise ValueError(f"no time zone {carried.zone!r} in this machine's time-zone database") from e
    return definition


def countdown_in(definition: CalendarDefinition, due_at: datetime, now: datetime) -> Countdown | None:
    """The countdown in a carried calendar; None when the time left (or overdue) spans a date the
    definition does not list holidays for. Its open periods stop where the listed dates end (the
    page reads again there)."""
    if not definition.covers(min(now, due_at), max(now, due_at)):
        return None
    try:
        return countdown(definition.calendar(), due_at, now, until=definition.ends_at)
    except InstantOutOfRange:
        return None


def countdown(calendar: BusinessCalendar, due_at: datetime, now: datetime, until: datetime | None = None) -> Countdown:
    """The countdown as of `now`, with the calendar's next OPEN_PERIODS open periods, none of them
    past `until` (where the calendar's answers end: a period running over it is cut there)."""
    # Past due, the business time since the due instant counts as negative (overdue).
    remaining = calendar.business_seconds(now, due_at) if due_at >= now else -calendar.business_seconds(due_at, now)
    periods: list[tuple[datetime, datetime]] = []
    cursor = now
    for _ in range(OPEN_PERIODS):
        opens = calendar.next_opening(cursor)
        if until is not None and opens >= until:
            break
        closes = calendar.next_closing(opens)
        if until is not None and closes >= until:
            periods.append((opens, until))
            break
        periods.append((opens, closes))
        cursor = closes
    # Fewer periods only when stopped at `until`: what is listed holds until then.
    valid_until = until if len(periods) < OPEN_PERIODS else periods[-1][1]
    assert valid_until is not None
    return Countdown(
        calendar=calendar.name,
        as_of=now,
        remaining_seconds=round(remaining),
        open=calendar.is_open(now),
        open_periods=tuple(periods),
        valid_until=valid_until,
    )
