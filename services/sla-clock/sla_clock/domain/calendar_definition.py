"""The calendar a clock's due instant was computed in, as its events carry it
(`SlaClockStarted.calendar_definition`), for consumers that count down in business time (the
board) without sla-clock's policy files."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from supportdesk_calendar.calendar import BusinessCalendar
from supportdesk_calendar.definition import CalendarDefinition as Definition
from supportdesk_calendar.definition import define, defined_span
from supportdesk_contract.catalogue import CalendarDefinition


def definition_for(calendar: BusinessCalendar, instant: datetime) -> CalendarDefinition:
    """`calendar` with its holidays for the years a definition made at `instant` lists."""
    return _carried(calendar, *defined_span(calendar, instant))


# Made once per calendar and span: every clock started in a year shares one (calendars live as long
# as their policy book; a calendar is hashed by identity).
@lru_cache(maxsize=256)
def _carried(calendar: BusinessCalendar, first: date, last: date) -> CalendarDefinition:
    return as_event_data(define(calendar, first, last))


def as_event_data(d: Definition) -> CalendarDefinition:
    return CalendarDefinition(
        name=d.name,
        zone=d.zone,
        hours=tuple((w.weekday, w.start, w.end) for w in d.windows),
        holidays_from=d.first_day,
        holidays_until=d.last_day,
        holidays={day: hours for day, hours in d.holidays},
    )
