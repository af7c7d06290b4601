"""Triage's consumer applies a batch in a few round trips, and a handler that reads sees the rows
queued earlier in the same batch."""

import asyncio
from datetime import UTC, datetime

import pytest

from supportdesk_contract.catalogue import ClosureCode, SeverityChanged, TicketClosed
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, StatementLog, consuming, events, eventually, produce, scalar
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate
from triage.adapters.rule_files import load_rules
from triage.service_layer.handlers import handlers
from triage.settings import Settings

pytestmark = pytest.mark.integration

TICKETS = 60
T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)


async def test_a_batch_is_written_in_a_few_statements_and_reads_see_its_queued_rows(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("triage"))
    await asyncio.to_thread(migrate, settings, "triage:migrations")
    engine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    wire: list[tuple[bytes, bytes]] = []
    for n in range(TICKETS):
        ticket = f"ticket-{n}"
        opened = events.opened(number=f"TKT-{n}", severity=3, opened_at=T0)
        # Same key, same partition: the severity change (every tenth ticket) and the close follow
        # the opening in order, mostly inside the same batch.
        changed = [SeverityChanged(severity=1, previous=3, by="agent", reason="production down")] if n % 10 == 0 else []
        for payload in (opened, *changed, TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="agent")):
            wire.append(encode(new_envelope(payload, ticket_id=ticket, producer="intake", clock=clock))[:2])
    await produce(space, Topic.LIFECYCLE, wire)

    with StatementLog(engine) as statements:
        async with consuming(space, engine, "triage", handlers(load_rules()), clock):

            async def all_applied() -> bool:
                return await scalar(engine, "SELECT count(*) FROM inbox") == 2 * TICKETS + TICKETS // 10

            await eventually(all_applied, timeout=60, what="every event applied")
    try:
        # The severity change read the row its ticket's TicketOpened queued in the same batch.
        closed = "SELECT count(*) FROM ticket_triage WHERE NOT is_open"
        assert await scalar(engine, f"{closed} AND severity = 1") == TICKETS // 10
        assert await scalar(engine, f"{closed} AND severity = 3") == TICKETS - TICKETS // 10
        assert await scalar(engine, "SELECT count(*) FROM events WHERE event_type = 'TicketTriaged'") == TICKETS
        batches = statements.count("INSERT INTO inbox")
        inserts = statements.count("INSERT INTO ticket_triage")
        recorded = statements.containing("INSERT INTO events")
        # One executemany of triage rows and one outbox statement per batch (and per flush before the
        # read of a severity change), not one of each per ticket.
        assert batches < TICKETS // 3
        assert inserts + recorded < TICKETS
    finally:
        await engine.dispose()
