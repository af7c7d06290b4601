"""Business calendars: exact to the second, in the calendar's own wall-clock zone.

A calendar is an IANA zone, weekly opening windows (minute precision, several a day, `24:00` as
end of day, windows that cross midnight) and holidays. Business time is time inside open windows,
outside holidays and outside pauses.

How it stays fast and exact: each year is turned once into its open intervals as UTC epoch
seconds (wall-clock local times converted with the zone's DST rules), adjacent intervals merged
(so a 24x7 calendar has no gap at midnight), with the running total of business seconds at each
interval's end. "How much business time by t" and "when is a total reached" are then bisections
of those arrays, not walks.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from .holidays import HolidaySet, Minutes

DAY_MINUTES = 1440
# A calendar must open at least once in this many years from any instant asked about.
MAX_SEARCH_YEARS = 50


@dataclass(frozen=True)
class WeeklyWindow:
    weekday: int  # 0 = Monday
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight; 1440 = 24:00; end <= start crosses midnight

    def __post_init__(self) -> None:
        if not (0 <= self.weekday <= 6 and 0 <= self.start < DAY_MINUTES and 0 < self.end <= DAY_MINUTES):
            raise ValueError(f"invalid window {self}")


Pause = tuple[datetime, datetime]


class CalendarNeverOpens(ValueError):
    pass


class BusinessCalendar:
    def __init__(
        self,
        name: str,
        zone: str,
        windows: Sequence[WeeklyWindow],
        holidays: HolidaySet | None = None,
        business_day_seconds: int | None = None,
    ) -> None:
        self.name = name
        self.zone_name = zone
        self.zone = ZoneInfo(zone)  # raises for an unknown zone
        self.holidays = holidays or HolidaySet([])
        self._by_weekday: list[list[Minutes]] = [[] for _ in range(7)]
        self._spill: list[list[Minutes]] = [[] for _ in range(7)]  # after midnight, from the day before
        for w in windows:
            if w.end > w.start:
                self._by_weekday[w.weekday].append((w.start, w.end))
            else:  # crosses midnight: the rest of this day, then the start of the next
                self._by_weekday[w.weekday].append((w.start, DAY_MINUTES))
                if w.end > 0:
                    self._spill[(w.weekday + 1) % 7].append((0, w.end))
        week = sum(e - s for day in self._by_weekday for s, e in day) + sum(
            e - s for day in self._spill for s, e in day
        )
        if week == 0:
            raise CalendarNeverOpens(f"calendar {name} has no opening hours")
        # N business days = N x this. Default: the longest regular day of the week.
        self.business_day_seconds = business_day_seconds or max(
            60 * sum(e - s for s, e in merge_spans(self._by_weekday[d] + self._spill[d])) for d in range(7)
        )
        self._first_year = 0
        self._last_year = -1
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._cum_end: list[float] = []  # business seconds from the table's start to each interval's end

    # --- building the table ------------------------------------------------------------------

    def _local_hours(self, day: date) -> list[Minutes]:
        holiday = self.holidays.on(day)
        if holiday is not None:
            return list(holiday.hours or ())
        return merge_spans(self._by_weekday[day.weekday()] + self._spill[day.weekday()])

    def _instant(self, day: date, minute: int) -> float:
        if minute == DAY_MINUTES:
            day, minute = day + timedelta(days=1), 0
        # A wall time that does not exist (the spring-forward gap) resolves with the offset in force
        # before the change, i.e. it lands that many minutes later on the clock; ambiguous fall-back
        # times take their first occurrence. zoneinfo does both with fold=0.
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.timestamp()

    def _year_intervals(self, year: int) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        day = date(year, 1, 1)
        while day.year == year:
            for s, e in self._local_hours(day):
                a, b = self._instant(day, s), self._instant(day, e)
                if b <= a:
                    continue  # a window swallowed by a DST gap
                if out and a <= out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
            day += timedelta(days=1)
        return out

    def _build(self, first: int, last: int) -> None:
        self._starts, self._ends, self._cum_end = [], [], []
        self._first_year, self._last_year = first, first - 1
        self._extend_to(last)

    def _cover(self, t: float) -> None:
        """Make sure the table covers instant t with a year of margin on either side."""
        year = datetime.fromtimestamp(t, UTC).year
        if self._last_year < self._first_year:
            self._build(year - 1, year + 1)
        elif year - 1 < self._first_year:
            self._build(year - 1, self._last_year)  # rebuilding shifts the running totals: callers re-read
        elif year + 1 > self._last_year:
            self._extend_to(year + 1)

    def _extend_to(self, last: int) -> None:
        total = self._cum_end[-1] if self._cum_end else 0.0
        for year in range(self._last_year + 1, last + 1):
            for a, b in self._year_intervals(year):
                if self._ends and a <= self._ends[-1]:  # contiguous across a year boundary (24x7 at New Year)
                    total += b - self._ends[-1]
                    self._ends[-1] = b
                    self._cum_end[-1] = total
                    continue
                total += b - a
                self._starts.append(a)
                self._ends.append(b)
                self._cum_end.append(total)
        self._last_year = last

    # --- the questions -------------------------------------------------------------------------

    def _elapsed_at(self, t: float) -> float:
        """Business seconds from the table's start to instant t."""
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            return 0.0
        end = self._ends[i]
        return self._cum_end[i] if t >= end else self._cum_end[i] - (end - t)

    def _instant_at(self, total: float) -> float:
        """The earliest instant at which the running total reaches `total`."""
        while not self._cum_end or total > self._cum_end[-1]:
            if self._last_year - self._first_year > MAX_SEARCH_YEARS:
                raise CalendarNeverOpens(f"calendar {self.name} does not open again within {MAX_SEARCH_YEARS} years")
            self._extend_to(self._last_year + 1)
        i = bisect_left(self._cum_end, total)
        return self._ends[i] - (self._cum_end[i] - total)

    def is_open(self, t: datetime) -> bool:
        x = _epoch(t)
        self._cover(x)
        i = bisect_right(self._starts, x) - 1
        return i >= 0 and x < self._ends[i]

    def is_open_on(self, day: date) -> bool:
        """Does the calendar open at all on this local date?"""
        return bool(self._local_hours(day))

    def next_opening(self, t: datetime) -> datetime:
        """t itself if open, else the next instant the calendar opens."""
        x = _epoch(t)
        self._cover(x)
        i = bisect_right(self._starts, x) - 1
        if i >= 0 and x < self._ends[i]:
            return t.astimezone(UTC)
        while i + 1 >= len(self._starts):
            if self._last_year - self._first_year > MAX_SEARCH_YEARS:
                raise CalendarNeverOpens(f"calendar {self.name} does not open again within {MAX_SEARCH_YEARS} years")
            self._extend_to(self._last_year + 1)
        return _from_epoch(self._starts[i + 1])

    def business_seconds(self, start: datetime, end: datetime, pauses: Iterable[Pause] = ()) -> float:
        """Business time between two instants, less the business time inside pauses."""
        a, b = _epoch(start), _epoch(end)
        if b <= a:
            return 0.0
        self._cover(a)
        self._cover(b)
        total = self._elapsed_at(b) - self._elapsed_at(a)
        for ps, pe in _merged_pauses(pauses):
            lo, hi = max(ps, a), min(pe, b)
            if hi > lo:
                total -= self._elapsed_at(hi) - self._elapsed_at(lo)
        return total

    def add(self, start: datetime, seconds: float, pauses: Iterable[Pause] = ()) -> datetime:
        """The earliest instant at which `seconds` of business time since `start` are used up.

        Used up exactly at closing time: due at closing time, not at the next opening.
        """
        return _from_epoch(self.add_epoch(_epoch(start), seconds, _merged_pauses(pauses)))

    def add_epoch(self, start: float, seconds: float, pauses: Sequence[tuple[float, float]] = ()) -> float:
        """`add` on epoch seconds with pauses already merged and sorted: the fast path."""
        if seconds <= 0:
            return start
        self._cover(start)
        cursor, remaining = start, float(seconds)
        for ps, pe in pauses:
            if pe <= cursor:
                continue
            self._cover(pe)
            if ps > cursor:
                before = self._elapsed_at(ps) - self._elapsed_at(cursor)
                if before >= remaining:
                    break
                remaining -= before
            cursor = pe
        return self._instant_at(self._elapsed_at(cursor) + remaining)


S = TypeVar("S", int, float, datetime)


def merge_spans(spans: Iterable[tuple[S, S]]) -> list[tuple[S, S]]:
    """Sorted, with overlapping and touching spans joined and empty ones dropped."""
    out: list[tuple[S, S]] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _merged_pauses(pauses: Iterable[Pause]) -> list[tuple[float, float]]:
    return merge_spans((_epoch(a), _epoch(b)) for a, b in pauses)


def _epoch(t: datetime) -> float:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t.isoformat()} where an aware instant is required")
    return t.timestamp()


def _from_epoch(x: float) -> datetime:
    return datetime.fromtimestamp(x, UTC)


def ceil_to_second(t: datetime) -> datetime:
    """A due instant shown in whole seconds: rounded up, so the target is reached by then."""
    if t.microsecond == 0:
        return t
    return t.replace(microsecond=0) + timedelta(seconds=1)
