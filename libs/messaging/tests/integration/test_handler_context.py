"""What a handler queues on its HandlerContext and what the flush does with it: events recorded
with `record` (the caller told which were new), a batch's `state` that writes itself once at the
flush, and `discard` forgetting both when a message fails."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import scalar
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.db import plumbing_tables
from supportdesk_messaging.handler_context import HandlerContext

pytestmark = pytest.mark.integration

metadata = MetaData()
plumbing_tables(metadata)
counts = Table("counts", metadata, Column("ticket_id", Text, primary_key=True), Column("n", Integer))
UPSERT = insert(counts)
UPSERT = UPSERT.on_conflict_do_update(index_elements=["ticket_id"], set_={"n": UPSERT.excluded.n})
CLOCK = ManualClock(datetime(2026, 11, 23, 17, tzinfo=UTC))


@pytest.fixture
def tables() -> MetaData:
    return metadata


async def test_record_tells_which_queued_events_were_new(engine: AsyncEngine) -> None:
    known, fresh = envelope(opened(), "t-1", clock=CLOCK), envelope(opened(), "t-2", clock=CLOCK)
    told: list[list[Any]] = []
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, CLOCK, "probe")
        ctx.record([known])
        await ctx.flush()
        ctx.record([known, fresh, fresh], then=told.append)
        ctx.record([envelope(opened(), "t-3", clock=CLOCK)])  # queued without asking: not told
        await ctx.flush()
        assert told == []  # not before the commit: a commit that fails would have told too soon
    ctx.committed()
    assert [[e.event_id for e in batch] for batch in told] == [[fresh.event_id]]
    assert await scalar(engine, "SELECT count(*) FROM events") == 3


async def test_what_a_failed_message_recorded_is_never_told(engine: AsyncEngine) -> None:
    told: list[list[Any]] = []
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, CLOCK, "probe")
        async with conn.begin_nested() as savepoint:
            ctx.record([envelope(opened(), "t-4", clock=CLOCK)], then=told.append)
            await ctx.flush()
            await savepoint.rollback()  # the message failed after its flush (as a retry one by one does)
        ctx.discard()
    ctx.committed()
    assert told == []


class Counts:
    """A batch state: counts read once per batch, kept in memory, written once per ticket at the flush."""

    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    async def queue(self, ctx: HandlerContext) -> None:
        for ticket_id, n in self.n.items():
            ctx.write(ticket_id, UPSERT, {"ticket_id": ticket_id, "n": n})


async def count(ctx: HandlerContext, ticket_id: str) -> None:
    state = ctx.state(Counts)
    if ticket_id not in state.n:
        found = (await ctx.conn.execute(select(counts.c.n).where(counts.c.ticket_id == ticket_id))).scalar()
        state.n[ticket_id] = found or 0
    state.n[ticket_id] += 1


async def test_a_batch_state_is_written_once_at_each_flush_and_discard_forgets_it(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ctx = HandlerContext(
            conn, CLOCK, "probe", [envelope(opened(), "a", clock=CLOCK), envelope(opened(), "b", clock=CLOCK)]
        )
        assert ctx.tickets == {"a", "b"}
        first = ctx.state(Counts)
        assert ctx.state(Counts) is first  # one per batch
        for ticket_id in ("a", "b", "a"):
            await count(ctx, ticket_id)
        await ctx.flush()
        assert ctx.state(Counts) is not first  # dropped at the flush: the next reads the database
        await count(ctx, "a")
        await ctx.flush()
        await count(ctx, "b")
        ctx.record([envelope(opened(), "b", clock=CLOCK)])
        ctx.discard()  # this message failed: nothing it queued or kept survives
        await ctx.flush()
    async with engine.connect() as conn:
        rows = {r.ticket_id: r.n for r in await conn.execute(select(counts))}
    assert rows == {"a": 3, "b": 1}
    assert await scalar(engine, "SELECT count(*) FROM events") == 0
