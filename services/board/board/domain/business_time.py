"""Business-time countdowns: how much of a clock's business time is left at an instant, and when
the calendar is open from then on, so the dashboard ticks only while the calendar is open.

The calendars are sla-clock's own (its `BusinessCalendar`, loaded from the same policy files
through sla-clock's package), not a copy: the board counts down in exactly the time sla-clock
computed the due instant in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supportdesk_calendar.calendar import BusinessCalendar

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
    valid_until: datetime  # the end of the last period listed: after it, read again

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


def countdown(calendar: BusinessCalendar, due_at: datetime, now: datetime) -> Countdown:
    # Past due, the business time since the due instant counts as negative (overdue).
    remaining = calendar.business_seconds(now, due_at) if due_at >= now else -calendar.business_seconds(due_at, now)
    periods: list[tuple[datetime, datetime]] = []
    cursor = now
    for _ in range(OPEN_PERIODS):
        opens = calendar.next_opening(cursor)
        closes = calendar.next_closing(opens)
        periods.append((opens, closes))
        cursor = closes
    return Countdown(
        calendar=calendar.name,
        as_of=now,
        remaining_seconds=round(remaining),
        open=calendar.is_open(now),
        open_periods=tuple(periods),
        valid_until=periods[-1][1],
    )
