"""Business calendars: exact to the second, in the calendar's own wall-clock zone.

A calendar is an IANA zone, weekly opening windows (minute precision, several a day, `24:00` as
end of day, windows that cross midnight) and holidays. Business time is time inside open windows,
outside holidays and outside pauses.

How it stays fast and exact: each year is turned once into its open intervals as UTC epoch
seconds (wall-clock local times converted with the zone's DST rules), adjacent intervals merged
(so a 24x7 calendar has no gap at midnight), with the running total of business seconds at each
interval's end. "How much business time by t" and "when is a total reached" are then bisections
of those arrays, not walks.

Only instants from EARLIEST to LATEST (1970-01-01 to 2200-12-31, UTC) are answered. A calendar
may be shared by threads and by the consumer: its table is built beside the one in use and then
swapped in, so a question that fails half-way leaves nothing half-built.
"""

from __future__ import annotations

import threading
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
# The instants a calendar answers about. Bounded so that no question (say, one about the year
# 9999) can make it build thousands of years of tables; outside: InstantOutOfRange.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)
_EARLIEST_EPOCH = EARLIEST.timestamp()
_LATEST_EPOCH = LATEST.timestamp()
# Table years: a year either side of the range (local dates differ from UTC ones) and room for a
# due instant searched up to MAX_SEARCH_YEARS after the latest start.
_FIRST_TABLE_YEAR = EARLIEST.year - 1
_LAST_TABLE_YEAR = LATEST.year + MAX_SEARCH_YEARS + 1
# A table is widened to cover a new instant this close to it; farther, a fresh one is built.
_NEAR_YEARS = 10


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


class InstantOutOfRange(ValueError):
    """An instant outside EARLIEST..LATEST: the caller's input, not the calendar, is wrong."""

    def __init__(self, epoch: float) -> None:
        super().__init__(f"outside the supported range {EARLIEST.isoformat()} to {LATEST.isoformat()}")
        self.epoch = epoch


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
        self.windows = tuple(windows)  # as given: what a definition of this calendar carries
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
        # The year table in use: replaced whole, never changed in place, so a reader holding one
        # (another thread, or a failed extension) always sees a consistent table.
        self._table: _Table | None = None
        self._building = threading.Lock()
        self._years: dict[int, list[tuple[float, float]]] = {}  # one year's open intervals, kept

    def __getstate__(self) -> dict[str, object]:
        # Pickled (the compiled-policy cache) without its lock and its derived tables, which are
        # rebuilt on demand from the rules, so an unpickled calendar starts as a fresh one.
        state = self.__dict__.copy()
        del state["_building"]
        state["_table"], state["_years"] = None, {}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._building = threading.Lock()

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
        cached = self._years.get(year)
        if cached is not None:
            return cached
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
        self._years[year] = out
        return out

    def _build(self, first: int, last: int) -> _Table:
        """A new table of years first..last (inside the table years), published for later callers."""
        if first < _FIRST_TABLE_YEAR or last > _LAST_TABLE_YEAR:
            raise CalendarNeverOpens(
                f"calendar {self.name}: no table beyond the years {_FIRST_TABLE_YEAR}-{_LAST_TABLE_YEAR}"
            )
        starts: list[float] = []
        ends: list[float] = []
        cum_end: list[float] = []
        total = 0.0
        for year in range(first, last + 1):
            for a, b in self._year_intervals(year):
                if ends and a <= ends[-1]:  # contiguous across a year boundary (24x7 at New Year)
                    total += b - ends[-1]
                    ends[-1] = b
                    cum_end[-1] = total
                    continue
                total += b - a
                starts.append(a)
                ends.append(b)
                cum_end.append(total)
        table = _Table(first, last, _year_start(first + 1), _year_start(last), starts, ends, cum_end)
        self._table = table  # one assignment: the swap
        return table

    def _table_for(self, lo: float, hi: float) -> _Table:
        """A table covering instants lo..hi with a year of margin either side."""
        if not (lo >= _EARLIEST_EPOCH and hi <= _LATEST_EPOCH):
            raise InstantOutOfRange(lo if lo < _EARLIEST_EPOCH else hi)
        table = self._table
        if table is not None and table.lo <= lo and hi < table.hi:
            return table
        with self._building:
            table = self._table
            if table is not None and table.lo <= lo and hi < table.hi:
                return table
            first, last = _year_of(lo) - 1, _year_of(hi) + 1
            if table is not None and first - _NEAR_YEARS <= table.last_year and table.first_year <= last + _NEAR_YEARS:
                first, last = min(first, table.first_year), max(last, table.last_year)  # near: keep what is there
            return self._build(first, last)

    def _grown(self, table: _Table, since: float) -> _Table:
        """`table` and one more year, with the same first year, so running totals already read
        from `table` stay valid; CalendarNeverOpens when the search has gone far enough."""
        if table.last_year - _year_of(since) >= MAX_SEARCH_YEARS:
            raise CalendarNeverOpens(f"calendar {self.name} does not open again within {MAX_SEARCH_YEARS} years")
        with self._building:
            return self._build(table.first_year, table.last_year + 1)

    # --- the questions -------------------------------------------------------------------------

    def _instant_at(self, table: _Table, total: float, since: float) -> float:
        """The earliest instant at which the running total reaches `total`."""
        while not table.cum_end or total > table.cum_end[-1]:
            table = self._grown(table, since)
        i = bisect_left(table.cum_end, total)
        return table.ends[i] - (table.cum_end[i] - total)

    def is_open(self, t: datetime) -> bool:
        x = _epoch(t)
        table = self._table_for(x, x)
        i = bisect_right(table.starts, x) - 1
        return i >= 0 and x < table.ends[i]

    def is_open_on(self, day: date) -> bool:
        """Does the calendar open at all on this local date?"""
        return bool(self._local_hours(day))

    def next_opening(self, t: datetime) -> datetime:
        """t itself if open, else the next instant the calendar opens."""
        x = _epoch(t)
        table = self._table_for(x, x)
        i = bisect_right(table.starts, x) - 1
        if i >= 0 and x < table.ends[i]:
            return t.astimezone(UTC)
        while i + 1 >= len(table.starts):
            table = self._grown(table, x)
        return _from_epoch(table.starts[i + 1])

    def next_closing(self, t: datetime) -> datetime:
        """t itself if closed, else the instant the open period holding t ends (the board's
        countdowns stop ticking there)."""
        x = _epoch(t)
        table = self._table_for(x, x)
        i = bisect_right(table.starts, x) - 1
        if i >= 0 and x < table.ends[i]:
            return _from_epoch(table.ends[i])
        return t.astimezone(UTC)

    def business_seconds(self, start: datetime, end: datetime, pauses: Iterable[Pause] = ()) -> float:
        """Business time between two instants, less the business time inside pauses."""
        a, b = _epoch(start), _epoch(end)
        if b <= a:
            self._table_for(b, a)  # the same answer for instants out of range, whichever is first
            return 0.0
        table = self._table_for(a, b)
        total = table.elapsed_at(b) - table.elapsed_at(a)
        for ps, pe in _merged_pauses(pauses):
            lo, hi = max(ps, a), min(pe, b)
            if hi > lo:
                total -= table.elapsed_at(hi) - table.elapsed_at(lo)
        return total

    def add(self, start: datetime, seconds: float, pauses: Iterable[Pause] = ()) -> datetime:
        """The earliest instant at which `seconds` of business time since `start` are used up.

        Used up exactly at closing time: due at closing time, not at the next opening.
        """
        if isinstance(pauses, list | tuple) and not pauses:  # most calls: skip merging nothing
            return _from_epoch(self.add_epoch(_epoch(start), seconds))
        return _from_epoch(self.add_epoch(_epoch(start), seconds, _merged_pauses(pauses)))

    def add_epoch(self, start: float, seconds: float, pauses: Sequence[tuple[float, float]] = ()) -> float:
        """`add` on epoch seconds with pauses already merged and sorted: the fast path."""
        if seconds <= 0:
            return start
        last_pause_end = pauses[-1][1] if pauses else start
        table = self._table_for(start, max(start, last_pause_end))
        cursor, remaining = start, float(seconds)
        for ps, pe in pauses:
            if pe <= cursor:
                continue
            if ps > cursor:
                before = table.elapsed_at(ps) - table.elapsed_at(cursor)
                if before >= remaining:
                    break
                remaining -= before
            cursor = pe
        return self._instant_at(table, table.elapsed_at(cursor) + remaining, start)


@dataclass(frozen=True, eq=False)
class _Table:
    """Open intervals of whole years as UTC epoch seconds, with running totals. Never mutated."""

    first_year: int
    last_year: int
    lo: float  # instants in [lo, hi) have a year of table on either side
    hi: float
    starts: list[float]
    ends: list[float]
    cum_end: list[float]  # business seconds from the table's start to each interval's end

    def elapsed_at(self, t: float) -> float:
        """Business seconds from the table's start to instant t."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        end = self.ends[i]
        return self.cum_end[i] if t >= end else self.cum_end[i] - (end - t)


def _year_start(year: int) -> float:
    return datetime(year, 1, 1, tzinfo=UTC).timestamp()


def _year_of(x: float) -> int:
    return datetime.fromtimestamp(x, UTC).year


def in_supported_range(t: datetime) -> bool:
    return EARLIEST <= t <= LATEST


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
