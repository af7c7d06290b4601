"""Quiet hours: non-urgent staff notifications wait for the staff's working hours (a weekly window
on the staff's wall clock, DST included); urgent ones, and anything for customers or named
emergency contacts, go at once, 24/7."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class StaffHours:
    zone: str
    weekdays: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def next_open(self, t: datetime) -> datetime:
        """t if the staff are working then, else when they next start."""
        tz = ZoneInfo(self.zone)
        local = t.astimezone(tz)
        if local.weekday() in self.weekdays and self.start <= local.time() < self.end:
            return t
        for days in range(0, 8):
            day = (local + timedelta(days=days)).date()
            opening = datetime.combine(day, self.start, tzinfo=tz)
            if day.weekday() in self.weekdays and opening > local:
                return opening.astimezone(UTC)
        return t  # no working days at all: never hold anything back
