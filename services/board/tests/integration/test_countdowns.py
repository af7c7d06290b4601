"""Business-time countdowns from the calendar a clock's events carry, on the real board process,
broker and database: the countdown the API gives equals the calendar library's for the calendar
sla-clock computed the due instant in; a clock whose events predate carried calendars has none
(`business_time` null: the page counts wall time, saying so); a calendar is stored once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from board.domain.business_time import countdown
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_calendar.definition import define
from supportdesk_calendar.holidays import FixedDate, Holiday, HolidaySet
from supportdesk_contract.catalogue import CalendarDefinition, ClockKind, Event, SlaClockStarted
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce
from supportdesk_messaging.db import create_engine

pytestmark = pytest.mark.integration

CLOCK = SystemClock()  # the board process runs on the system clock
NOW = CLOCK.now()
# Weekdays 09:00-17:00 in Berlin, with New Year's Eve closed: whatever day the test runs on, the
# countdown holds closed hours (nights at least) and the board must count them as the library does.
BERLIN = BusinessCalendar(
    "berlin-office",
    "Europe/Berlin",
    [WeeklyWindow(d, 9 * 60, 17 * 60) for d in range(5)],
    HolidaySet([Holiday(FixedDate("New Year's Eve", 12, 31))]),
)
_d = define(BERLIN, date(NOW.year, 1, 1), date(NOW.year + 1, 12, 31))
CARRIED = CalendarDefinition(
    name=_d.name,
    zone=_d.zone,
    hours=tuple((w.weekday, w.start, w.end) for w in _d.windows),
    holidays_from=_d.first_day,
    holidays_until=_d.last_day,
    holidays=dict(_d.holidays),
)
DUE = BERLIN.add(NOW, 20 * 3600)  # two and a half business days ahead


def clock_started(definition: CalendarDefinition | None) -> SlaClockStarted:
    return SlaClockStarted(
        clock=ClockKind.FIRST_RESPONSE,
        started_at=NOW,
        due_at=DUE,
        target_seconds=20 * 3600,
        calendar=BERLIN.name,
        policy_version="example-berlin@1",
        calendar_definition=definition,
    )


async def send(space: Sandbox, ticket: str, *events: Event) -> None:
    envs = [new_envelope(e, ticket_id=ticket, producer="sla-clock", clock=CLOCK) for e in events]
    await produce(space, Topic.SLA, [encode(env)[:2] for env in envs])


async def read(board: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await board.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_countdowns_come_from_the_carried_calendar_and_old_clocks_have_none(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board")
    ids = {name: f"tkt-{name}-{uuid.uuid4().hex[:6]}" for name in ("carried", "shared", "old")}
    await send(space, ids["carried"], clock_started(CARRIED))
    await send(space, ids["shared"], clock_started(CARRIED))
    await send(space, ids["old"], clock_started(None))  # as sla-clock wrote clocks before
    async with svc.client() as board:

        async def folded() -> bool:
            rows = [await board.get(f"/v1/board/tickets/{t}") for t in ids.values()]
            return all(r.status_code == 200 and r.json()["next_due_at"] for r in rows)

        await eventually(folded, what="the board to fold every clock")
        at = CLOCK.now()  # after every event: the rows read as they are
        expected = countdown(BERLIN, DUE, at).as_json()
        one = await read(board, f"/v1/board/tickets/{ids['carried']}", as_of=at.isoformat())
        assert one["business_time"] == expected
        listed = await read(board, "/v1/board/tickets", as_of=at.isoformat(), limit=200)
        by_id = {t["ticket_id"]: t for t in listed["tickets"]}
        assert by_id[ids["carried"]]["business_time"] == by_id[ids["shared"]]["business_time"] == expected
        # Before carried calendars: the due instant, no countdown.
        assert by_id[ids["old"]]["next_due_at"] is not None
        assert by_id[ids["old"]]["business_time"] is None
        live = await read(board, f"/v1/board/tickets/{ids['carried']}")
        assert live["business_time"]["calendar"] == BERLIN.name
        assert (await read(board, f"/v1/board/tickets/{ids['old']}"))["business_time"] is None
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT definition FROM board_calendars"))).scalars().all()
    finally:
        await engine.dispose()
    assert stored == [CARRIED.model_dump(mode="json")]  # two clocks, one calendar, stored once
