"""Triage's consumer killed mid-stream and started again: every ticket once, none missing."""

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import Channel
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, events, eventually, produce, scalar
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate
from triage.adapters.rule_files import load_rules
from triage.service_layer.handlers import handlers
from triage.settings import Settings

pytestmark = pytest.mark.integration

TICKETS = 400


def consumer(space: Sandbox, engine: AsyncEngine) -> EventConsumer:
    return EventConsumer(
        engine,
        service="triage",
        handlers=handlers(load_rules()),
        clock=SystemClock(),
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        batch_size=20,
        group_id=f"{space.prefix}triage",
    )


async def test_a_consumer_killed_mid_stream_and_restarted_triages_every_ticket_exactly_once(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("triage"))
    await asyncio.to_thread(migrate, settings, "triage:migrations")
    engine = create_engine(settings.database_url, settings.database_name)
    clock = SystemClock()
    opened = [
        events.envelope(
            events.opened(number=f"TKT-{n}", channel=Channel.EMAIL if n % 2 else Channel.WEB, clock=clock),
            f"ticket-{n}",
            producer="intake",
            clock=clock,
        )
        for n in range(TICKETS)
    ]
    await produce(space, Topic.LIFECYCLE, [encode(e)[:2] for e in opened])

    first = asyncio.create_task(consumer(space, engine).run(asyncio.Event()))
    await eventually(lambda: scalar(engine, "SELECT count(*) FROM ticket_triage"), what="some tickets triaged")
    first.cancel()  # a crash: whatever batch was in flight is neither committed nor acknowledged
    with pytest.raises(asyncio.CancelledError):
        await first
    before_restart = await scalar(engine, "SELECT count(*) FROM ticket_triage")
    assert 0 < before_restart < TICKETS, "the consumer must have been stopped mid-stream"

    stop = asyncio.Event()
    second = asyncio.create_task(consumer(space, engine).run(stop))
    try:

        async def all_triaged() -> bool:
            return await scalar(engine, "SELECT count(*) FROM ticket_triage") == TICKETS

        await eventually(all_triaged, timeout=60, what=f"all {TICKETS} tickets triaged")
    finally:
        stop.set()
        await asyncio.wait_for(second, 30)

    assert await scalar(engine, "SELECT count(DISTINCT ticket_id) FROM ticket_triage") == TICKETS
    # Each ticket's TicketTriaged was recorded exactly once, whatever was re-delivered.
    assert await scalar(engine, "SELECT count(*) FROM events WHERE event_type = 'TicketTriaged'") == TICKETS
    assert await scalar(engine, "SELECT count(DISTINCT ticket_id) FROM events") == TICKETS
    assert await scalar(engine, "SELECT count(*) FROM inbox") == TICKETS
    # Email tickets are Normal (docs/policies.md#seed-000); the rule that decided is on record.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM ticket_triage WHERE channel = 'email' "
            "AND priority = 'normal' AND rule = 'email-defaults-to-normal'",
        )
        == TICKETS // 2
    )
    await engine.dispose()
