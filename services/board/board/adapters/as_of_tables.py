"""The board's tables shadowed for one as-of read (see `service_layer.as_of`): temporary tables and
views of the same names, on a connection of their own, in one repeatable-read transaction that is
rolled back after the read. What is folded again is the service layer's; this module makes the
shadows, reads the events to fold again, and stores what was folded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, Row, column, insert, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from supportdesk_messaging.db import async_engine

from ..domain.ticket_view import TicketView
from .projection_store import search_texts, search_vector_of
from .tables import board_sla_outcomes, board_tickets

# What the fold writes and the reads read; board_changes (the live stream's sequence) is not folded.
# The directory (board_agents, board_teams) is folded again whole from the people log.
SHADOWED = (
    "board_tickets",
    "board_timeline",
    "board_sla_outcomes",
    "board_open_counts",
    "board_attainment",
    "board_agents",
    "board_teams",
)
# Shadowed by views: the live rows of tickets finished by the instant, and the rows folded again.
_VIEWED = ("board_tickets", "board_sla_outcomes")
BATCH = 5_000

# A ticket's decided clocks as the fold keeps them: (clock, cycle) -> (met, decided_at).
Outcomes = Mapping[tuple[str, int], tuple[bool, datetime]]


@cache
def _unpooled(engine: AsyncEngine) -> AsyncEngine:
    """Connections of their own for as-of reads, closed after each: a pooled connection could hold
    statements prepared against the live tables, which a temporary table of the same name created
    later does not invalidate, and its temporary schema must never meet a live read either.
    Repeatable read: what the views read and what is folded again come from one snapshot, so a ticket
    the live board changes meanwhile is in exactly one of the two."""
    return async_engine(engine.url, poolclass=NullPool, isolation_level="REPEATABLE READ")


# The folded rows are copied in (COPY, through the driver) to a staging table, the ticket's columns
# but the search vector, and its two texts; the vector is made from them by the projection's own
# expression as they move into board_tickets. Several times faster than inserting 10,000 rows.
_TICKET_COLUMNS = [c.name for c in board_tickets.c if c.name != "search"]
_STAGED = [*_TICKET_COLUMNS, "search_ids", "search_words"]
_SEARCH = search_vector_of(literal_column("search_ids"), literal_column("search_words"))
_STAGE = (
    "CREATE TEMPORARY TABLE board_tickets_staged (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP",
    "ALTER TABLE board_tickets_staged DROP COLUMN search, ADD COLUMN search_ids text, ADD COLUMN search_words text",
)
_OUTCOME_COLUMNS = [c.name for c in board_sla_outcomes.c]


@dataclass(frozen=True)
class Folded:
    """Folded tickets as the rows to insert: board_tickets' and board_sla_outcomes'."""

    tickets: list[tuple[Any, ...]]  # _TICKET_COLUMNS' values, then the search texts
    outcomes: list[tuple[Any, ...]]  # _OUTCOME_COLUMNS' values


def rows_of(tickets: Iterable[tuple[str, TicketView, Outcomes]]) -> Folded:
    """Each ticket folded again (its id, its view, its decided clocks) as the rows to insert."""
    rows: list[tuple[Any, ...]] = []
    outcomes: list[tuple[Any, ...]] = []
    for ticket_id, view, decided in tickets:
        # JSON columns as JSON text: the driver's jsonb codec (SQLAlchemy's) takes text.
        row = {
            "ticket_id": ticket_id,
            **view.row(),
            "state": json.dumps(view.stored()),
        }
        values = [json.dumps(row[c]) if c == "clocks" else row[c] for c in _TICKET_COLUMNS]
        rows.append((*values, *search_texts(row)))
        outcomes += [(ticket_id, clock, cycle, met, at) for (clock, cycle), (met, at) in decided.items()]
    return Folded(rows, outcomes)


async def write_folded(conn: AsyncConnection, folded: Folded, *, suffix: str = "") -> None:
    """Into the tables the bare names (with `suffix`) find: the as-of read's own tables; a bench
    fills a live board with it."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if folded.tickets:
        for statement in _STAGE:
            await conn.execute(text(statement.format(target=f"board_tickets{suffix}")))
        await driver.copy_records_to_table("board_tickets_staged", records=folded.tickets, columns=_STAGED)
        names = [*_TICKET_COLUMNS, "search"]
        staged = [*[literal_column(c) for c in _TICKET_COLUMNS], _SEARCH]
        await conn.execute(
            insert(table(f"board_tickets{suffix}", *[column(c) for c in names])).from_select(
                names, select(*staged).select_from(table("board_tickets_staged"))
            )
        )
    if folded.outcomes:
        await driver.copy_records_to_table(
            f"board_sla_outcomes{suffix}", records=folded.outcomes, columns=_OUTCOME_COLUMNS
        )


# Counted from the rows as the projection keeps them in step: open tickets per queue x priority x
# status x breached x level ('' = none); decided clocks per quarter hour x the ticket's plan x priority.
_COUNT_OPEN = text(
    "INSERT INTO board_open_counts (queue, priority, status, breached, escalation_level, tickets) "
    "SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level, count(*) "
    "FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5"
)
_COUNT_ATTAINMENT = text(
    "INSERT INTO board_attainment (bucket, plan, priority, clock, decided, met) "
    "SELECT date_bin('15 minutes', o.decided_at, TIMESTAMPTZ '2000-01-01 00:00+00'), coalesce(t.plan, ''),"
    " coalesce(t.priority, ''), o.clock, count(*), count(*) FILTER (WHERE o.met) "
    "FROM board_sla_outcomes o LEFT JOIN board_tickets t ON t.ticket_id = o.ticket_id GROUP BY 1, 2, 3, 4"
)


async def count_kept_in_step(conn: AsyncConnection) -> None:
    await conn.execute(_COUNT_OPEN)
    await conn.execute(_COUNT_ATTAINMENT)


@dataclass(frozen=True)
class Shadowed:
    """The board's tables shadowed on `conn`: the live tables by their qualified names in `live`."""

    conn: AsyncConnection
    live: dict[str, str]
    as_of: datetime
    ticket_id: str | None

    def _params(self) -> dict[str, Any]:
        return {"as_of": self.as_of, **({"ticket_id": self.ticket_id} if self.ticket_id is not None else {})}

    async def timeline_to_fold(self) -> Sequence[Row[Any]]:
        """The events up to the instant of the tickets with events after it (event id, ticket,
        type, instant, producer, payload as JSON text; per ticket, per topic, in the order applied)."""
        live = self.live
        one = " AND t.ticket_id = :ticket_id" if self.ticket_id is not None else ""
        stream = await self.conn.stream(
            text(
                "SELECT e.event_id, e.ticket_id, e.event_type, e.occurred_at, e.producer, e.payload::text"
                f" FROM {live['board_timeline']} e JOIN {live['board_tickets']} t ON t.ticket_id = e.ticket_id"
                f" WHERE t.updated_at > :as_of AND e.occurred_at <= :as_of{one}"
                " ORDER BY e.ticket_id, e.topic, e.topic_seq"
            )
            .columns(event_id=UUID(as_uuid=True), occurred_at=DateTime(timezone=True))
            .execution_options(yield_per=BATCH),
            self._params(),
        )
        # Fetched in batches (a switch into the driver per batch, not per row).
        return [r async for batch in stream.partitions() for r in batch]

    async def write(self, folded: Folded) -> None:
        """The tickets folded again, into the views' second halves; then the counts kept in step."""
        await write_folded(self.conn, folded, suffix="_refolded")
        await count_kept_in_step(self.conn)

    async def copy_timeline(self) -> None:
        """The one ticket's timeline up to the instant (the list and the summary do not read it)."""
        await self.conn.execute(
            text(
                f"INSERT INTO board_timeline SELECT e.* FROM {self.live['board_timeline']} e"
                " WHERE e.ticket_id = :ticket_id AND e.occurred_at <= :as_of"
            ),
            self._params(),
        )


@asynccontextmanager
async def shadowed(engine: AsyncEngine, as_of: datetime, ticket_id: str | None) -> AsyncIterator[Shadowed]:
    """A connection of its own on which the board's tables are empty temporary tables, but for
    `board_tickets` and `board_sla_outcomes`: views of the live rows of tickets finished by the
    instant (only `ticket_id`'s, when given) and the rows folded again. Rolled back after."""
    async with _unpooled(engine).connect() as conn:
        tx = await conn.begin()
        try:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            # The live tables by their qualified names: once shadowed, the bare names are the copies.
            live = {name: f'"{schema}".{name}' for name in SHADOWED}
            for name in SHADOWED:
                shadow = f"{name}_refolded" if name in _VIEWED else name
                await conn.execute(
                    text(f"CREATE TEMPORARY TABLE {shadow} (LIKE {live[name]} INCLUDING DEFAULTS) ON COMMIT DROP")
                )
            # Tickets finished by the instant are read from the live tables through temporary views
            # (a view takes no parameters: the instant and the ticket as literals, quoted by the server).
            quote = text("SELECT quote_literal(:value)")
            instant = (await conn.execute(quote, {"value": as_of.isoformat()})).scalar_one()
            done = f"t.updated_at <= {instant}::timestamptz"
            if ticket_id is not None:
                done += f" AND t.ticket_id = {(await conn.execute(quote, {'value': ticket_id})).scalar_one()}"
            await conn.execute(
                text(
                    f"CREATE TEMPORARY VIEW board_tickets AS SELECT t.* FROM {live['board_tickets']} t WHERE {done}"
                    " UNION ALL SELECT * FROM board_tickets_refolded"
                )
            )
            await conn.execute(
                text(
                    f"CREATE TEMPORARY VIEW board_sla_outcomes AS SELECT o.* FROM {live['board_sla_outcomes']} o"
                    f" JOIN {live['board_tickets']} t ON t.ticket_id = o.ticket_id WHERE {done}"
                    " UNION ALL SELECT * FROM board_sla_outcomes_refolded"
                )
            )
            yield Shadowed(conn, live, as_of, ticket_id)
        finally:
            await tx.rollback()
