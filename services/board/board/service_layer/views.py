"""What the board's routes read: a page of the list, one ticket with its timeline, the summary,
and the changes the live stream sends; each on the live board or, with `as_of`, on the board as it
stood then (`as_of.board_as_of`: the same queries run on either), each row with its business-time
countdown (`countdowns`). The queries are `adapters.views`'."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.clock import Clock

from ..adapters import views
from ..domain.ticket_filter import Sort, TicketFilter
from . import people
from .as_of import board_as_of
from .countdowns import COUNTDOWNS
from .people import PeopleFilter


def _board(
    engine: AsyncEngine, as_of: datetime | None, ticket_id: str | None = None
) -> AbstractAsyncContextManager[AsyncConnection]:
    """The live board, or the board as of an instant: the same reads run on either."""
    if as_of is None:
        return engine.connect()
    return board_as_of(engine, as_of, ticket_id=ticket_id)


async def ticket_page(
    engine: AsyncEngine,
    clock: Clock,
    flt: TicketFilter,
    sort: Sort,
    limit: int,
    cursor: str | None,
    as_of: datetime | None,
    asked: PeopleFilter | None = None,
    caller: str = "",
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the list and the cursor of the next (None on the last); `BadCursor` when the
    cursor is not one of this sort's, `people.UnknownValue` for a people filter the directory
    cannot resolve for `caller`. With `as_of`, the filters, the directory and countdowns are as
    of then."""
    async with _board(engine, as_of) as conn:
        now = as_of or clock.now()
        if asked:
            flt = await people.resolve(conn, flt, asked, caller)
        rows, next_cursor = await views.list_tickets(conn, flt, sort, limit, cursor, now)
        await COUNTDOWNS.add_to(conn, rows, now)
        await people.add_names(conn, rows, now)
    return rows, next_cursor


async def ticket(engine: AsyncEngine, clock: Clock, ticket_id: str, as_of: datetime | None) -> dict[str, Any] | None:
    """One ticket's row and its timeline; None when the board has none (as of `as_of`)."""
    async with _board(engine, as_of, ticket_id) as conn:
        found = await views.ticket_with_timeline(conn, ticket_id)
        if found is not None:
            await COUNTDOWNS.add_to(conn, [found], as_of or clock.now())
            await people.add_names(conn, [found], as_of or clock.now())
    return found


async def summary(
    engine: AsyncEngine, clock: Clock, zone: ZoneInfo, at_risk_window: int, as_of: datetime | None
) -> dict[str, Any]:
    async with _board(engine, as_of) as conn:
        return await views.summary(conn, as_of or clock.now(), zone, at_risk_window)


async def latest_change(engine: AsyncEngine) -> int:
    """The newest change id: where a stream without `Last-Event-ID` starts."""
    async with engine.connect() as conn:
        return await views.latest_change(conn)


async def changes_after(
    engine: AsyncEngine, after: int, flt: TicketFilter, now: datetime
) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """The tickets matching `flt` changed after change `after` (change id, row with its countdown),
    and the change id read up to (`after` when nothing changed)."""
    async with engine.connect() as conn:
        rows, upto = await views.changes_after(conn, after, flt, now)
        await COUNTDOWNS.add_to(conn, [row for _, row in rows], now)
        await people.add_names(conn, [row for _, row in rows], now)
    return rows, upto


async def resolved(engine: AsyncEngine, flt: TicketFilter, asked: PeopleFilter, caller: str) -> TicketFilter:
    """The stream's filter with its people filters resolved once, on the live directory, as it starts."""
    if not asked:
        return flt
    async with engine.connect() as conn:
        return await people.resolve(conn, flt, asked, caller)


async def workload(engine: AsyncEngine, clock: Clock, as_of: datetime | None) -> dict[str, Any]:
    async with _board(engine, as_of) as conn:
        return await people.workload(conn, as_of or clock.now())


async def directory(engine: AsyncEngine, as_of: datetime | None) -> dict[str, Any]:
    async with _board(engine, as_of) as conn:
        return await people.directory(conn)


async def me(engine: AsyncEngine, caller: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await people.me(conn, caller)
