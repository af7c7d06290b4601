"""Each listed ticket's business-time countdown to its next due instant, in the calendar its
running clock's events carried (`calendar_definition`, kept in board_calendars by content). A
clock whose events carried none (written before they did), or a calendar this board cannot read,
has no countdown: the row's `business_time` is null and the page counts wall time, saying so."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_calendar.definition import CalendarDefinition
from supportdesk_contract.catalogue import CalendarDefinition as CarriedCalendar

from ..adapters.calendars import stored_calendars
from ..domain.business_time import countdown_in, definition_of

log = logging.getLogger(__name__)

# Calendars are kept as read (a calendar_id never changes its content); there are few of them, a
# handful per policy version and year, so this bound is a guard, not a working set.
KEPT = 1024


def due_clock_calendar(row: Mapping[str, Any]) -> str | None:
    """The calendar_id of the running clock that is due next (as `next_due_at` says), if it has one."""
    due = row.get("next_due_at")
    if not isinstance(due, datetime):
        return None
    for clock in (row.get("clocks") or {}).values():
        if clock.get("state") == "running" and _same_instant(clock.get("due_at"), due):
            key = clock.get("calendar_id")
            return key if isinstance(key, str) else None
    return None


class Countdowns:
    def __init__(self) -> None:
        self._calendars: dict[str, CalendarDefinition | None] = {}  # None: stored, but not readable here

    async def load(self, conn: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Read the calendars these rows' countdowns need that are not kept yet."""
        wanted = {key for row in rows if (key := due_clock_calendar(row)) is not None} - self._calendars.keys()
        if not wanted:
            return
        found = await stored_calendars(conn, wanted)
        if len(self._calendars) + len(wanted) > KEPT:
            self._calendars.clear()
        for key, stored in found:
            try:
                self._calendars[key] = definition_of(CarriedCalendar.model_validate(stored))
            except (ValidationError, ValueError) as e:
                log.warning("calendar %s cannot be read here, no countdowns in it: %s", key, e)
                self._calendars[key] = None

    def of(self, row: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
        """The countdown as the page reads it (its calendar loaded first); None without a running
        due clock, without a calendar carried for it, or when that calendar's listed dates end
        before the countdown would."""
        key = due_clock_calendar(row)
        definition = self._calendars.get(key) if key is not None else None
        due = row.get("next_due_at")
        if definition is None or not isinstance(due, datetime):
            return None
        counted = countdown_in(definition, due, now)
        return counted.as_json() if counted is not None else None

    async def add_to(self, conn: AsyncConnection, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        await self.load(conn, rows)
        for row in rows:
            row["business_time"] = self.of(row, now)
        return rows


def _instant(iso: Any) -> datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _same_instant(iso: Any, due: Any) -> bool:
    return isinstance(due, datetime) and _instant(iso) == due


# One per process: what it keeps is content-addressed, so every read may share it.
COUNTDOWNS = Countdowns()
