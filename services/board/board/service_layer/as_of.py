"""The board as it stood at an instant, folded again from its timeline.

The timeline keeps every event the board applied (its payload and its instant, `occurred_at`). To
answer a read as of an instant, the events that had occurred by then are put through the
projection's own fold (`projection.apply_fact`) into temporary tables that shadow the board's tables
for one transaction (PostgreSQL looks in the session's temporary schema first), and the ordinary
reads (`reads.ticket_with_timeline`, `reads.list_tickets`, `reads.summary`) run on them unchanged;
the transaction is rolled back and the shadows are gone. No second copy of the fold or of the reads.

What is exact: the answer is what had happened by the instant, as the log says, whenever the board
heard of it; the same after the board is rebuilt from the log. What a person reading the board live
at that instant saw differs only by events still on their way then (consumer lag, a producer that
published late): the board does not keep when it applied each event, since that is not in the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache

from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from supportdesk_events import REGISTRY

from ..adapters.tables import board_timeline
from .projection import Fact, apply_fact

# What the fold writes and the reads read; board_changes (the live stream's sequence) is not folded.
SHADOWED = ("board_tickets", "board_timeline", "board_sla_outcomes", "board_open_counts", "board_attainment")
BATCH = 2_000


@cache
def _unpooled(engine: AsyncEngine) -> AsyncEngine:
    """Connections of their own for as-of reads, closed after each: a pooled connection could hold
    statements prepared against the live tables, which a temporary table of the same name created
    later does not invalidate, and its temporary schema must never meet a live read either."""
    return create_async_engine(engine.url, poolclass=NullPool)


@asynccontextmanager
async def board_as_of(
    engine: AsyncEngine, as_of: datetime, *, ticket_id: str | None = None
) -> AsyncIterator[AsyncConnection]:
    """A connection on which the board's tables hold the board as of `as_of` (only `ticket_id`'s
    row when given); use the ordinary reads on it. Nothing it does outlives the block."""
    async with _unpooled(engine).connect() as conn:
        tx = await conn.begin()
        try:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            # The live timeline by its qualified name: once shadowed, the bare name is the copy.
            source = board_timeline.to_metadata(MetaData(), schema=schema)
            for name in SHADOWED:
                await conn.execute(
                    text(f'CREATE TEMPORARY TABLE {name} (LIKE "{schema}".{name} INCLUDING ALL) ON COMMIT DROP')
                )
            s = source.c
            query = select(s.event_id, s.ticket_id, s.event_type, s.occurred_at, s.producer, s.payload).where(
                s.occurred_at <= as_of
            )
            if ticket_id is not None:
                query = query.where(s.ticket_id == ticket_id)
            # Per ticket, per topic, in the order the board applied them: each topic's part of the
            # view folds in its own order, whatever order the topics interleaved in.
            query = query.order_by(s.ticket_id, s.topic, s.topic_seq)
            stream = await conn.stream(query.execution_options(yield_per=BATCH))
            facts = [
                Fact(
                    r.event_id,
                    r.ticket_id,
                    r.event_type,
                    r.occurred_at,
                    r.producer,
                    REGISTRY[r.event_type].model_validate(r.payload),
                )
                async for r in stream
            ]
            for fact in facts:
                await apply_fact(conn, fact, changes=False)
            yield conn
        finally:
            await tx.rollback()
