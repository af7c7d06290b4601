"""A business calendar as data, carried by the clock events that were computed in it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class CalendarDefinition(BaseModel):
    """A business calendar as data, so that a consumer counts business time exactly as sla-clock
    does without sla-clock's policy files (the calendar library rebuilds it): the IANA zone, the
    weekly opening hours, and for the local dates `holidays_from` to `holidays_until` each date a
    holiday closes or shortens, with the hours open that date (none: closed all day). Holidays
    travel as dates, not rules: the public-holiday sets a policy may name come from a package whose
    version a consumer need not share. Outside those dates a consumer cannot know the holidays."""

    model_config = ConfigDict(frozen=True)
    name: str
    zone: str
    # (weekday 0 = Monday, start, end) in minutes after local midnight; an end of 1440 is 24:00,
    # an end at or before the start crosses midnight
    hours: tuple[tuple[int, int, int], ...]
    holidays_from: date
    holidays_until: date
    holidays: dict[date, tuple[tuple[int, int], ...]] = {}

    def __hash__(self) -> int:
        # Frozen like every event, and hashable like them: pydantic's own hash would hash the dict.
        fields = (self.name, self.zone, self.hours, self.holidays_from, self.holidays_until)
        return hash((*fields, tuple(sorted(self.holidays.items()))))
