"""The board as it stood at an instant, from its own tables and its timeline.

The reads (`reads.ticket_with_timeline`, `reads.list_tickets`, `reads.summary`) run unchanged on
temporary tables and views that shadow the board's tables for one transaction (PostgreSQL looks in
the session's temporary schema first), holding the board as of the instant; the transaction is
rolled back and the shadows are gone. All in one snapshot of the live tables (repeatable read):

- A ticket whose latest event (`updated_at`, a max over every event applied) had occurred by the
  instant is, as of then, what it is now: the views `board_tickets` and `board_sla_outcomes` read
  its row and its decided SLA outcomes from the live tables (with their indexes). As of a recent
  instant that is nearly every ticket, and nothing of it is copied.
- A ticket with events after the instant is folded again in memory from its timeline's events up to
  the instant, per topic in the order the board applied them (each topic's part of the view folds
  in its own order, whatever order the topics interleaved in), through the projection's own pure
  fold (`TicketView.apply`, `row`), and its rows are COPYed into the views' second halves.
- The counts the projection keeps in step (`board_open_counts`, `board_attainment`) are counted
  from those views, as migration 0004 fills attainment.
- The timeline is copied for one ticket's read only; the list and the summary do not read it.

What is exact: the answer is what had happened by the instant, as the log says, whenever the board
heard of it; the same after the board is rebuilt from the log. What a person reading the board live
at that instant saw differs only by events still on their way then (consumer lag, a producer that
published late): the board does not keep when it applied each event, since that is not in the log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, Row, column, insert, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from supportdesk_contract.catalogue import REGISTRY, Event, SlaBreached, SlaMet
from supportdesk_messaging.bulk import cycle_collection_paused

from ..adapters.tables import board_sla_outcomes, board_tickets
from ..domain.ticket_view import TicketView
from .projection import Fact, search_texts, search_vector_of

# What the fold writes and the reads read; board_changes (the live stream's sequence) is not folded.
SHADOWED = ("board_tickets", "board_timeline", "board_sla_outcomes", "board_open_counts", "board_attainment")
# Shadowed by views: the live rows of tickets finished by the instant, and the rows folded again.
_VIEWED = ("board_tickets", "board_sla_outcomes")
BATCH = 5_000


@cache
def _unpooled(engine: AsyncEngine) -> AsyncEngine:
    """Connections of their own for as-of reads, closed after each: a pooled connection could hold
    statements prepared against the live tables, which a temporary table of the same name created
    later does not invalidate, and its temporary schema must never meet a live read either.
    Repeatable read: what the views read and what is folded again come from one snapshot, so a ticket
    the live board changes meanwhile is in exactly one of the two."""
    return create_async_engine(engine.url, poolclass=NullPool, isolation_level="REPEATABLE READ", hide_parameters=True)


@dataclass
class _Refold:
    """One ticket folded again: its view, and its decided clocks as `_decide` keeps them."""

    view: TicketView = field(default_factory=TicketView)
    outcomes: dict[tuple[str, int], tuple[bool, datetime]] = field(default_factory=dict)

    def apply(self, fact: Fact) -> None:
        self.view.apply(fact.payload, fact.occurred_at)
        event = fact.payload
        if isinstance(event, SlaMet | SlaBreached):
            key, met = (event.clock.value, event.cycle), isinstance(event, SlaMet)
            earlier = self.outcomes.get(key)
            if earlier is None:
                self.outcomes[key] = (met, fact.occurred_at)
            elif earlier[0] and not met:  # a breach after a met stands; decided when first decided
                self.outcomes[key] = (False, earlier[1])


def refold(facts: Iterable[Fact]) -> dict[str, _Refold]:
    """Each ticket's facts (per topic, in the order applied) folded in memory."""
    tickets: dict[str, _Refold] = {}
    for fact in facts:
        folded = tickets.get(fact.ticket_id)
        if folded is None:
            folded = tickets[fact.ticket_id] = _Refold()
        folded.apply(fact)
    return tickets


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


def rows_of(tickets: dict[str, _Refold]) -> Folded:
    rows: list[tuple[Any, ...]] = []
    outcomes: list[tuple[Any, ...]] = []
    for ticket_id, folded in tickets.items():
        # JSON columns as JSON text: the driver's jsonb codec (SQLAlchemy's) takes text.
        row = {
            "ticket_id": ticket_id,
            **folded.view.row(),
            "state": json.dumps(folded.view.stored()),
        }
        values = [json.dumps(row[c]) if c == "clocks" else row[c] for c in _TICKET_COLUMNS]
        rows.append((*values, *search_texts(row)))
        outcomes += [(ticket_id, clock, cycle, met, at) for (clock, cycle), (met, at) in folded.outcomes.items()]
    return Folded(rows, outcomes)


def parse(event_type: str, payload: str) -> Event:
    return REGISTRY[event_type].model_validate_json(payload)


def fold_timeline(rows: Sequence[Row[Any]]) -> Folded:
    """The timeline's rows (event id, ticket, type, instant, producer, payload as JSON text; per
    ticket, per topic, in the order applied) parsed and folded again in memory."""
    with cycle_collection_paused():
        facts = [
            Fact(r.event_id, r.ticket_id, r.event_type, r.occurred_at, r.producer, parse(r.event_type, r.payload))
            for r in rows
        ]
        return rows_of(refold(facts))


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


@asynccontextmanager
async def board_as_of(
    engine: AsyncEngine, as_of: datetime, *, ticket_id: str | None = None
) -> AsyncIterator[AsyncConnection]:
    """A connection on which the board's tables hold the board as of `as_of` (only `ticket_id`'s
    row, and its timeline, when given; without it the timeline is left empty: the list and the
    summary do not read it); use the ordinary reads on it. Nothing it does outlives the block."""
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
            one = " AND t.ticket_id = :ticket_id" if ticket_id is not None else ""
            params = {"as_of": as_of, **({"ticket_id": ticket_id} if ticket_id is not None else {})}
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
            stream = await conn.stream(
                text(
                    "SELECT e.event_id, e.ticket_id, e.event_type, e.occurred_at, e.producer, e.payload::text"
                    f" FROM {live['board_timeline']} e JOIN {live['board_tickets']} t ON t.ticket_id = e.ticket_id"
                    f" WHERE t.updated_at > :as_of AND e.occurred_at <= :as_of{one}"
                    " ORDER BY e.ticket_id, e.topic, e.topic_seq"
                )
                .columns(event_id=UUID(as_uuid=True), occurred_at=DateTime(timezone=True))
                .execution_options(yield_per=BATCH),
                params,
            )
            # Fetched in batches (a switch into the driver per batch, not per row); parsed and
            # folded in a thread, so the service's other requests are served meanwhile.
            timeline = [r async for batch in stream.partitions() for r in batch]
            await write_folded(conn, await asyncio.to_thread(fold_timeline, timeline), suffix="_refolded")
            await count_kept_in_step(conn)
            if ticket_id is not None:
                await conn.execute(
                    text(
                        f"INSERT INTO board_timeline SELECT e.* FROM {live['board_timeline']} e"
                        " WHERE e.ticket_id = :ticket_id AND e.occurred_at <= :as_of"
                    ),
                    params,
                )
            yield conn
        finally:
            await tx.rollback()
