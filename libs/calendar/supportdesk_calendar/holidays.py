"""Holidays by rule: fixed dates, nth weekday of a month, days after another holiday, one-off dates;
and dated sets kept by someone else (a country's or a market's public holidays), named by the policy.

A holiday closes its whole local date, or, with `hours`, replaces that date's opening hours
(a partial day such as "close at 14:00 on Dec 24").
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol

Minutes = tuple[int, int]  # [start, end) in minutes after local midnight; end may be 1440 (24:00)


class Observance(StrEnum):
    ACTUAL = "actual"  # the date itself, whatever weekday it falls on
    # US federal rule: Saturday -> also the Friday before, Sunday -> also the Monday after. The date
    # itself stays a holiday too (it matters only to calendars open at weekends, e.g. 24x7 "except
    # US national holidays"), as in the `holidays` package's US set, which our rules agree with.
    FEDERAL = "federal"


@dataclass(frozen=True)
class FixedDate:
    name: str
    month: int
    day: int
    observance: Observance = Observance.ACTUAL
    since: int | None = None  # the first year it is a holiday (Juneteenth: 2021)

    def actual(self, year: int) -> date | None:
        if self.since is not None and year < self.since:
            return None
        return date(year, self.month, self.day)


@dataclass(frozen=True)
class NthWeekday:
    """The nth (1-5) or last (-1) given weekday (0 = Monday) of a month."""

    name: str
    month: int
    weekday: int
    nth: int

    def actual(self, year: int) -> date:
        days = [
            d
            for d in range(1, _stdcal.monthrange(year, self.month)[1] + 1)
            if date(year, self.month, d).weekday() == self.weekday
        ]
        if self.nth == -1:
            return date(year, self.month, days[-1])
        if not 1 <= self.nth <= len(days):
            raise ValueError(f"{self.name}: there is no weekday #{self.nth} in {year}-{self.month:02d}")
        return date(year, self.month, days[self.nth - 1])


@dataclass(frozen=True)
class DaysAfter:
    """A number of days after another holiday's actual date (e.g. the day after Thanksgiving)."""

    name: str
    of: str
    days: int = 1


@dataclass(frozen=True)
class OneOff:
    name: str
    on: date


@dataclass(frozen=True)
class Listed:
    """A date from a dated set (see DatedHolidays): `name` as the set calls it, `source` the set."""

    name: str
    source: str


HolidayRule = FixedDate | NthWeekday | DaysAfter | OneOff | Listed


class DatedHolidays(Protocol):
    """A set of holidays someone else keeps by date (a country's public holidays, a market's)."""

    @property
    def name(self) -> str: ...

    def in_year(self, year: int) -> dict[date, str]: ...


@dataclass(frozen=True)
class Holiday:
    rule: HolidayRule
    hours: tuple[Minutes, ...] | None = None  # None: closed all day; else the hours open that day


def observed(day: date, observance: Observance) -> date:
    if observance is Observance.FEDERAL:
        if day.weekday() == 5:
            return day - timedelta(days=1)
        if day.weekday() == 6:
            return day + timedelta(days=1)
    return day


class HolidaySet:
    """Resolves the rules to dated holidays, year by year. Our own rules come first (they may give a
    date partial hours); the dated sets close every other date they list."""

    def __init__(self, holidays: list[Holiday], dated: Sequence[DatedHolidays] = ()) -> None:
        self.holidays = list(holidays)
        self.dated = tuple(dated)
        names = [h.rule.name for h in holidays]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"holiday names must be unique: {sorted(duplicates)}")
        self._by_name = {h.rule.name: h for h in holidays}
        for h in holidays:
            if isinstance(h.rule, DaysAfter) and h.rule.of not in self._by_name:
                raise ValueError(f"{h.rule.name}: refers to unknown holiday {h.rule.of!r}")
        self._cache: dict[int, dict[date, Holiday]] = {}

    def _actual(self, name: str, year: int, seen: tuple[str, ...] = ()) -> date | None:
        if name in seen:
            raise ValueError(f"holiday rules refer to each other in a circle: {' -> '.join((*seen, name))}")
        rule = self._by_name[name].rule
        match rule:
            case FixedDate() | NthWeekday():
                return rule.actual(year)
            case DaysAfter():
                base = self._actual(rule.of, year, (*seen, name))
                return None if base is None else base + timedelta(days=rule.days)
            case OneOff():
                return rule.on if rule.on.year == year else None
        raise AssertionError(rule)  # Listed dates come from their set, never from a rule

    def in_year(self, year: int) -> dict[date, Holiday]:
        """Observed dates falling in `year` (a Saturday Jan 1 is observed on Dec 31 before it)."""
        if year not in self._cache:
            dated: dict[date, Holiday] = {}
            for y in (year - 1, year, year + 1):
                for h in self.holidays:
                    actual = self._actual(h.rule.name, y)
                    if actual is None:
                        continue
                    days = {actual}
                    if isinstance(h.rule, FixedDate):
                        days.add(observed(actual, h.rule.observance))
                    for day in sorted(days):
                        if day.year == year:
                            dated.setdefault(day, h)
            for s in self.dated:
                for day, name in sorted(s.in_year(year).items()):
                    if day.year == year:
                        dated.setdefault(day, Holiday(Listed(name, s.name)))
            self._cache[year] = dated
        return self._cache[year]

    def on(self, day: date) -> Holiday | None:
        return self.in_year(day.year).get(day)


# The eleven US federal holidays (5 U.S.C. 6103), observed by the federal weekend rule.
US_FEDERAL: tuple[Holiday, ...] = (
    Holiday(FixedDate("New Year's Day", 1, 1, Observance.FEDERAL)),
    Holiday(NthWeekday("Martin Luther King Jr. Day", 1, 0, 3)),
    Holiday(NthWeekday("Washington's Birthday", 2, 0, 3)),
    Holiday(NthWeekday("Memorial Day", 5, 0, -1)),
    Holiday(FixedDate("Juneteenth National Independence Day", 6, 19, Observance.FEDERAL, since=2021)),
    Holiday(FixedDate("Independence Day", 7, 4, Observance.FEDERAL)),
    Holiday(NthWeekday("Labor Day", 9, 0, 1)),
    Holiday(NthWeekday("Columbus Day", 10, 0, 2)),
    Holiday(FixedDate("Veterans Day", 11, 11, Observance.FEDERAL)),
    Holiday(NthWeekday("Thanksgiving Day", 11, 3, 4)),
    Holiday(FixedDate("Christmas Day", 12, 25, Observance.FEDERAL)),
)
