"""The board's consumer folds a batch as a set: its tickets' rows read at once, each written once,
the open counts moved by their net change; two events of one ticket in one batch both fold, and a
message whose handler fails is isolated without losing the others of its ticket."""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from board.service_layer.handlers import handlers
from board.settings import Settings
from supportdesk_contract.catalogue import AgentResponded, ClosureCode, Event, Priority, RequesterErased, TicketClosed
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import (
    Sandbox,
    StatementLog,
    as_messages,
    consuming,
    equals,
    events,
    eventually,
    produce,
    scalar,
)
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.handler_context import Handler, HandlerContext
from supportdesk_service.migrations import migrate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
TICKETS = 60
POISONED = "brd-0007"

# Open counts that differ from a recount of the tickets, either way: none when they are in step.
COUNTS_OFF = """
SELECT count(*) FROM (
  (SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level, count(*)::int
     FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5
   EXCEPT SELECT queue, priority, status, breached, escalation_level, tickets FROM board_open_counts)
  UNION ALL
  (SELECT queue, priority, status, breached, escalation_level, tickets FROM board_open_counts
   EXCEPT SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level, count(*)::int
     FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5)
) off"""


def failing_response_of(ticket_id: str) -> Mapping[str, Handler]:
    """The real handlers, but AgentResponded of one ticket raises: a message with a bug's worth of poison."""
    real = handlers()

    async def responded(ctx: HandlerContext, env: Envelope[Any]) -> None:
        if env.ticket_id == ticket_id:
            raise RuntimeError("poisoned")
        await real["AgentResponded"](ctx, env)

    return {**real, "AgentResponded": responded}


async def test_a_batch_folds_each_ticket_once_and_a_poisoned_event_loses_nothing_else(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("board"))
    await asyncio.to_thread(migrate, settings, "board:migrations")
    engine: AsyncEngine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    tickets = [f"brd-{n:04d}" for n in range(TICKETS)]
    triaged = events.triaged(priority=Priority.HIGH, severity=2, opened_at=T0)
    opened = [(t, events.opened(number=f"TKT-{n}", subject=f"s{n}", opened_at=T0)) for n, t in enumerate(tickets)]
    await produce(space, Topic.LIFECYCLE, as_messages(opened, clock))
    await produce(space, Topic.TRIAGE, as_messages([(t, triaged) for t in tickets], clock))

    with StatementLog(engine) as statements:
        async with consuming(space, engine, "board", failing_response_of(POISONED), clock):
            applied = "SELECT count(*) FROM inbox"
            await eventually(lambda: equals(engine, applied, 2 * TICKETS), timeout=90, what="the openings applied")
            # Each ticket row written once per batch, in the batch's one write, not once per event.
            assert statements.count("INSERT INTO board_tickets") < TICKETS // 2
            assert statements.count("SELECT board_tickets") < TICKETS // 2
            # Then an answer and, for every other ticket, the close, in order on one partition: mostly
            # in the same batch.
            later: list[tuple[str, Event]] = []
            for n, t in enumerate(tickets):
                later.append((t, AgentResponded(agent="agent@support.example", body=f"answer {n}")))
                if n % 2:
                    later.append((t, TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="agent")))
            await produce(space, Topic.LIFECYCLE, as_messages(later, clock))
            total = 3 * TICKETS + TICKETS // 2 - 1
            await eventually(lambda: equals(engine, applied, total), timeout=90, what="every event applied")
            dead = "SELECT count(*) FROM dead_letters"
            await eventually(lambda: equals(engine, dead, 1), timeout=30, what="the poisoned event dead-lettered")
    try:
        rows = "SELECT count(*) FROM board_tickets WHERE number IS NOT NULL AND queue = 'technical'"
        assert await scalar(engine, rows) == TICKETS
        answered = "SELECT count(*) FROM board_tickets WHERE agent_responses = 1"
        assert await scalar(engine, answered) == TICKETS - 1
        assert await scalar(engine, f"{answered} AND ticket_id = '{POISONED}'") == 0
        # The poisoned ticket's close, after the poisoned answer on its partition, still folded.
        closed = "SELECT count(*) FROM board_tickets WHERE NOT is_open"
        assert await scalar(engine, closed) == TICKETS // 2
        assert await scalar(engine, f"{closed} AND ticket_id = '{POISONED}'") == 1
        assert await scalar(engine, "SELECT count(*) FROM board_timeline") == total
        assert await scalar(engine, "SELECT count(*) FROM board_changes") == total
        assert await scalar(engine, "SELECT count(*) FROM board_open_counts") > 0
        assert await scalar(engine, COUNTS_OFF) == 0
        letter = "SELECT ticket_id || '/' || event_type FROM dead_letters"
        assert await scalar(engine, letter) == f"{POISONED}/AgentResponded"
    finally:
        await engine.dispose()


async def test_an_erasure_in_the_same_batch_as_the_tickets_opening_masks_that_timeline_line_too(
    space: Sandbox,
) -> None:
    """TicketOpened and the requester's erasure in one batch: the opening's timeline line is still
    queued when the erasure is folded, and must be written first so that it is masked with the rest."""
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("board"))
    await asyncio.to_thread(migrate, settings, "board:migrations")
    engine: AsyncEngine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    real = handlers()
    address = "gone@customer.example"
    batch = [
        events.envelope(events.opened(requester_email=address, opened_at=T0), "brd-erased", clock=clock),
        new_envelope(
            RequesterErased(requester_id="r-1", erased_at=T0), ticket_id="brd-erased", producer="test", clock=clock
        ),
    ]
    try:
        async with engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "board", batch)
            for env in batch:
                await real[env.event_type](ctx, env)
            await ctx.flush()
        lines = await scalar(engine, "SELECT count(*) FROM board_timeline WHERE ticket_id = 'brd-erased'")
        named = await scalar(engine, f"SELECT count(*) FROM board_timeline WHERE payload::text LIKE '%{address}%'")
        rows = await scalar(engine, f"SELECT count(*) FROM board_tickets WHERE requester_email = '{address}'")
    finally:
        await engine.dispose()
    assert lines == 2  # both folded
    assert (named, rows) == (0, 0)
