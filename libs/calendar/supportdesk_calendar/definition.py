"""A business calendar as plain data, for another service to count in the same business time.

A definition is the calendar's zone, its weekly windows and, for a span of local dates, every date
its holidays close or shorten. Holidays travel as dates, not as rules: a dated set (a country's
public holidays) comes from a package the receiver need not have, in a version it need not share.
So a definition answers exactly only about instants inside its span (`covers`); a receiver asked
about others must say it does not know rather than count those dates as ordinary days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from .calendar import BusinessCalendar, WeeklyWindow
from .holidays import Holiday, HolidaySet, Minutes, OneOff

# How many calendar years a definition made at an instant lists holidays for: the instant's own
# local year and the next, so at least a year ahead (a clock's targets are hours to weeks).
DEFINED_YEARS = 2


@dataclass(frozen=True)
class CalendarDefinition:
    name: str
    zone: str
    windows: tuple[WeeklyWindow, ...]
    first_day: date  # holidays are listed for the local dates first_day..last_day
    last_day: date
    holidays: tuple[tuple[date, tuple[Minutes, ...]], ...]  # the hours open that date; () closed

    def calendar(self) -> BusinessCalendar:
        """The calendar this defines (the same one for equal definitions: its tables are kept)."""
        return _calendar(self)

    def covers(self, start: datetime, end: datetime) -> bool:
        """Are the local dates of start..end all inside the span whose holidays are listed?"""
        zone = self.calendar().zone
        return self.first_day <= start.astimezone(zone).date() and end.astimezone(zone).date() <= self.last_day

    @property
    def ends_at(self) -> datetime:
        """The instant the listed dates end: local midnight after the last one, in UTC."""
        after = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=self.calendar().zone)
        return after.astimezone(UTC)


def define(calendar: BusinessCalendar, first_day: date, last_day: date) -> CalendarDefinition:
    """The definition of `calendar` with its holidays from first_day to last_day."""
    listed: list[tuple[date, tuple[Minutes, ...]]] = []
    for year in range(first_day.year, last_day.year + 1):
        for day, holiday in sorted(calendar.holidays.in_year(year).items()):
            if first_day <= day <= last_day:
                listed.append((day, tuple(holiday.hours or ())))
    return CalendarDefinition(calendar.name, calendar.zone_name, calendar.windows, first_day, last_day, tuple(listed))


def defined_span(calendar: BusinessCalendar, instant: datetime) -> tuple[date, date]:
    """The dates a definition made at `instant` lists holidays for: DEFINED_YEARS whole years from
    the local year of `instant`."""
    year = instant.astimezone(calendar.zone).year
    return date(year, 1, 1), date(year + DEFINED_YEARS - 1, 12, 31)


@lru_cache(maxsize=256)
def _calendar(definition: CalendarDefinition) -> BusinessCalendar:
    holidays = [Holiday(OneOff(day.isoformat(), day), hours or None) for day, hours in definition.holidays]
    return BusinessCalendar(definition.name, definition.zone, definition.windows, HolidaySet(holidays))
