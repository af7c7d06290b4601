"""Working hours as configured (the people file, the admin API) and as events carry them.

A calendar here is a zone, weekly hours and the names of public-holiday sets, in the spelling of
sla-clock's policy calendars (`hours: {mon-fri: [["09:00", "17:00"]]}`, `holiday_sets: [us-federal,
{country: DE, subdiv: BE}]`). Events carry it as a `CalendarDefinition` (the calendar library's
exact data, holidays as dates), so a consumer counts shifts without our files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_calendar.definition import define, defined_span
from supportdesk_calendar.holidays import US_FEDERAL, Holiday, HolidaySet
from supportdesk_calendar.spelling import days_of, minutes_of
from supportdesk_contract.catalogue import CalendarDefinition

NAMED_SETS: dict[str, tuple[Holiday, ...]] = {"us-federal": US_FEDERAL}


def _check_time(v: str) -> str:
    minutes_of(v)
    return v


def _check_day_key(v: str) -> str:
    days_of(v)
    return v


TimeOfDay = Annotated[str, AfterValidator(_check_time)]
DayKey = Annotated[str, AfterValidator(_check_day_key)]


@dataclass(frozen=True)
class PackagedHolidays:
    """A public-holiday set of the `holidays` package: a country with an optional subdivision."""

    country: str
    subdiv: str | None = None

    @property
    def name(self) -> str:
        return f"{self.country}-{self.subdiv}" if self.subdiv else self.country

    def in_year(self, year: int) -> dict[date, str]:
        import holidays  # here: start-up time only calendars naming a packaged set pay

        try:
            return dict(holidays.country_holidays(self.country, subdiv=self.subdiv, years=year).items())
        except NotImplementedError as e:
            raise ValueError(f"{e} (in the holidays package)") from None


class PackagedSetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    country: str = Field(min_length=2, max_length=3)
    subdiv: str | None = Field(None, max_length=10)

    @model_validator(mode="after")
    def _known(self) -> PackagedSetSpec:
        PackagedHolidays(self.country, self.subdiv).in_year(2000)  # unknown: refused here, naming the entry
        return self


class CalendarSpec(BaseModel):
    """Working hours: `zone`, `hours` by day (`mon-fri`, `sat`, `daily`) and the public-holiday sets
    that close them (`us-federal`, or the holidays package's `{country: DE, subdiv: BE}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(None, min_length=1, max_length=100)
    zone: str
    hours: dict[DayKey, list[tuple[TimeOfDay, TimeOfDay]]] = Field(min_length=1)
    holiday_sets: list[str | PackagedSetSpec] = []

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return v

    @field_validator("holiday_sets")
    @classmethod
    def _named(cls, v: list[str | PackagedSetSpec]) -> list[str | PackagedSetSpec]:
        for entry in v:
            if isinstance(entry, str) and entry not in NAMED_SETS:
                raise ValueError(
                    f"{entry!r} is not a holiday set; known: {', '.join(NAMED_SETS)}, or {{country, subdiv}}"
                )
        return v

    @model_validator(mode="after")
    def _opens(self) -> CalendarSpec:
        self.to_calendar("check")  # a calendar that never opens is refused here
        return self

    def to_calendar(self, default_name: str) -> BusinessCalendar:
        windows = [
            WeeklyWindow(day, minutes_of(s), minutes_of(e))
            for key, spans in self.hours.items()
            for day in days_of(key)
            for s, e in spans
        ]
        named = [h for s in self.holiday_sets if isinstance(s, str) for h in NAMED_SETS[s]]
        packaged = [PackagedHolidays(s.country, s.subdiv) for s in self.holiday_sets if isinstance(s, PackagedSetSpec)]
        return BusinessCalendar(self.name or default_name, self.zone, windows, HolidaySet(named, packaged))


def definition(spec: CalendarSpec, default_name: str, instant: datetime) -> CalendarDefinition:
    """The calendar as events carry it, its holidays listed for the years a definition made at
    `instant` covers (this year and next: the same all year, so an unchanged spec is an unchanged
    event until the year turns)."""
    return _definition(spec.model_dump_json(), default_name, *defined_span(spec.to_calendar(default_name), instant))


@lru_cache(maxsize=256)
def _definition(spec_json: str, default_name: str, first: date, last: date) -> CalendarDefinition:
    calendar = CalendarSpec.model_validate_json(spec_json).to_calendar(default_name)
    d = define(calendar, first, last)
    return CalendarDefinition(
        name=d.name,
        zone=d.zone,
        hours=tuple((w.weekday, w.start, w.end) for w in d.windows),
        holidays_from=d.first_day,
        holidays_until=d.last_day,
        holidays={day: hours for day, hours in d.holidays},
    )
