"""The notifier's consumer applies a batch as a set: contact rows and parked events of its tickets
are read at once, every write goes at the end as one executemany per statement; an event parked in
an earlier batch is released by its ticket's TicketOpened, two events of one ticket in one batch
both reach the ledger, and a message whose handler fails is isolated without losing the others."""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.adapters.routing_file import load_routing
from notifier.adapters.templates import Templates
from notifier.service_layer.handlers import Notifier, handlers
from notifier.settings import Settings
from supportdesk_contract.catalogue import AgentResponded, Channel, Event, RequesterErased
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
POISONED = "ntf-0007"


def failing_response_of(real: Mapping[str, Handler], ticket_id: str) -> Mapping[str, Handler]:
    """The real handlers, but AgentResponded of one ticket raises: a message with a bug's worth of poison."""

    async def responded(ctx: HandlerContext, env: Envelope[Any]) -> None:
        if env.ticket_id == ticket_id:
            raise RuntimeError("poisoned")
        await real["AgentResponded"](ctx, env)

    return {**real, "AgentResponded": responded}


async def test_a_batch_releases_parked_events_and_a_poisoned_event_loses_nothing_else(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("notifier"))
    await asyncio.to_thread(migrate, settings, "notifier:migrations")
    engine: AsyncEngine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    notifier = Notifier(settings, load_routing(settings.routing_file), Templates(settings.template_dir))
    tickets = [f"ntf-{n:04d}" for n in range(TICKETS)]
    started = events.started(started_at=T0, target_seconds=4 * 3600, calendar="pacific")  # due T0 + 4 h
    # The first-response clock before the ticket is known: parked until its TicketOpened.
    await produce(space, Topic.SLA, as_messages([(t, started) for t in tickets], clock))

    with StatementLog(engine) as statements:
        async with consuming(space, engine, "notifier", failing_response_of(handlers(notifier), POISONED), clock):
            applied = "SELECT count(*) FROM inbox"
            await eventually(lambda: equals(engine, applied, TICKETS), timeout=90, what="the clocks parked")
            assert await scalar(engine, "SELECT count(*) FROM parked_events") == TICKETS
            assert await scalar(engine, "SELECT count(*) FROM deliveries") == 0
            # A read of the batch's contact rows and one executemany of parked events per batch, not
            # one of each per event.
            assert statements.count("INSERT INTO parked_events") < TICKETS // 2
            assert statements.count("SELECT ticket_contacts") < TICKETS // 2
            # Then the opening and an agent's answer of each ticket, in order on one partition: mostly in
            # the same batch.
            lifecycle: list[tuple[str, Event]] = []
            for n, t in enumerate(tickets):
                opened = events.opened(
                    number=f"TKT-{n}",
                    channel=Channel.EMAIL,
                    requester_email=f"requester{n}@customer.example",
                    opened_at=T0,
                )
                lifecycle.append((t, opened))
                lifecycle.append((t, AgentResponded(agent="agent@support.example", body=f"answer {n}")))
            await produce(space, Topic.LIFECYCLE, as_messages(lifecycle, clock))
            await eventually(lambda: equals(engine, applied, 3 * TICKETS - 1), timeout=90, what="every event applied")
            dead = "SELECT count(*) FROM dead_letters"
            await eventually(lambda: equals(engine, dead, 1), timeout=30, what="the poisoned event dead-lettered")
    try:
        assert await scalar(engine, "SELECT count(*) FROM parked_events") == 0
        acks = "SELECT count(*) FROM deliveries WHERE template = 'acknowledgement'"
        assert await scalar(engine, acks) == TICKETS  # the poisoned ticket's too: its opening stood
        answers = "SELECT count(*) FROM deliveries WHERE template = 'agent_responded'"
        assert await scalar(engine, answers) == TICKETS - 1
        assert await scalar(engine, f"{answers} AND ticket_id = '{POISONED}'") == 0
        # Each delivery went to its own ticket's requester, with its number.
        mismatched = (
            "SELECT count(*) FROM deliveries d JOIN ticket_contacts c USING (ticket_id) "
            "WHERE d.recipient <> c.requester_email OR d.context->>'ticket' <> c.number"
        )
        assert await scalar(engine, mismatched) == 0
        letter = "SELECT ticket_id || '/' || event_type FROM dead_letters"
        assert await scalar(engine, letter) == f"{POISONED}/AgentResponded"
    finally:
        await engine.dispose()


async def test_an_erasure_in_the_same_batch_as_the_tickets_earlier_events_leaves_nothing_of_the_requester(
    space: Sandbox,
) -> None:
    """TicketOpened (its contact row queued), an agent's answer (its mail to the requester queued)
    and the requester's erasure, in one batch: the erasure flushes what the earlier events queued
    before it scrubs, so neither the address nor the mail to it survives the batch."""
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("notifier"))
    await asyncio.to_thread(migrate, settings, "notifier:migrations")
    engine: AsyncEngine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    real = handlers(Notifier(settings, load_routing(settings.routing_file), Templates(settings.template_dir)))
    address = "gone@customer.example"
    batch = [
        events.envelope(events.opened(requester_email=address, opened_at=T0), "ntf-erased", clock=clock),
        new_envelope(AgentResponded(agent="ann", body="Fixed."), ticket_id="ntf-erased", producer="test", clock=clock),
        new_envelope(
            RequesterErased(requester_id="r-1", erased_at=T0), ticket_id="ntf-erased", producer="test", clock=clock
        ),
    ]
    try:
        async with engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "notifier", batch)
            for env in batch:
                await real[env.event_type](ctx, env)
            await ctx.flush()
        contacts = await scalar(engine, f"SELECT count(*) FROM ticket_contacts WHERE requester_email = '{address}'")
        mails = await scalar(engine, f"SELECT count(*) FROM deliveries WHERE recipient = '{address}'")
        known = await scalar(engine, "SELECT count(*) FROM ticket_contacts WHERE ticket_id = 'ntf-erased'")
    finally:
        await engine.dispose()
    assert known == 1  # the ticket is still known (its SLA facts are not personal)
    assert (contacts, mails) == (0, 0)
