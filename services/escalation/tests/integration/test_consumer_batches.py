"""Escalation's consumer applies a batch as a set: the escalations its events touch are loaded and
locked together and written once at the end, two events of one ticket in one batch both count,
and a message whose handler fails is isolated without losing the other events of its ticket."""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from escalation.adapters import directory
from escalation.service_layer.handlers import HANDLERS
from escalation.settings import Settings
from supportdesk_contract.catalogue import ClockKind, Event, Priority, SlaAtRisk, SlaBreached
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope
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
POISONED = "esc-0007"
DIRECTORY = directory.DirectorySpec.model_validate(
    {"tier_leads": {"technical": ["lead@support.example"]}, "account_managers": {"acme": ["am@acme.example"]}}
)


def failing_at_risk_of(ticket_id: str) -> Mapping[str, Handler]:
    """The real handlers, but SlaAtRisk of one ticket raises: a message with a bug's worth of poison."""

    async def at_risk(ctx: HandlerContext, env: Envelope[Any]) -> None:
        if env.ticket_id == ticket_id:
            raise RuntimeError("poisoned")
        await HANDLERS["SlaAtRisk"](ctx, env)

    return {**HANDLERS, "SlaAtRisk": at_risk}


async def test_a_batch_is_loaded_and_saved_at_once_and_a_poisoned_event_loses_nothing_else(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("escalation"))
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    engine: AsyncEngine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(T0)
    async with engine.begin() as conn:
        await directory.replace(conn, DIRECTORY, clock.now())
    tickets = [f"esc-{n:04d}" for n in range(TICKETS)]
    opened = events.opened(customer_id="acme", opened_at=T0)
    triaged = events.triaged(priority=Priority.HIGH, severity=2, opened_at=T0)
    # Facts first (so what the SLA signals decide does not depend on how topics interleave).
    await produce(space, Topic.LIFECYCLE, as_messages([(t, opened) for t in tickets], clock))
    await produce(space, Topic.TRIAGE, as_messages([(t, triaged) for t in tickets], clock))

    with StatementLog(engine) as statements:
        async with consuming(space, engine, "escalation", failing_at_risk_of(POISONED), clock):
            applied = "SELECT count(*) FROM inbox"
            await eventually(lambda: equals(engine, applied, 2 * TICKETS), timeout=90, what="the facts applied")
            # One executemany of escalation rows per batch, not one UPDATE per event.
            assert statements.count("UPDATE ticket_escalations") < TICKETS // 2
            # Then two signals per ticket on one partition, in order: mostly in the same batch.
            due = T0 + timedelta(hours=4)
            signals: list[tuple[str, Event]] = []
            for t in tickets:
                signals.append((t, SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=due)))
                signals.append((t, SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=due)))
            await produce(space, Topic.SLA, as_messages(signals, clock))
            await eventually(lambda: equals(engine, applied, 4 * TICKETS - 1), timeout=90, what="every event applied")
            dead = "SELECT count(*) FROM dead_letters"
            await eventually(lambda: equals(engine, dead, 1), timeout=30, what="the poisoned event dead-lettered")
    try:
        # The breach after the poisoned at-risk signal still took the poisoned ticket to the account manager.
        at_am = (
            "SELECT count(*) FROM ticket_escalations WHERE level = 2 AND last_sla_signal = 'SlaBreached:first_response'"
        )
        assert await scalar(engine, at_am) == TICKETS
        escalated = "SELECT count(*) FROM events WHERE event_type = 'TicketEscalated'"
        assert await scalar(engine, f"{escalated} AND envelope->'payload'->>'level' = '2'") == TICKETS
        level_one = f"{escalated} AND envelope->'payload'->>'level' = '1'"
        # Both signals of a ticket in one batch escalated in turn, each event caused by its own signal.
        assert await scalar(engine, level_one) == TICKETS - 1
        assert await scalar(engine, f"{level_one} AND ticket_id = '{POISONED}'") == 0
        causes = "SELECT count(DISTINCT envelope->>'causation_id') FROM events WHERE event_type = 'TicketEscalated'"
        assert await scalar(engine, causes) == 2 * TICKETS - 1
        letter = "SELECT ticket_id || '/' || event_type FROM dead_letters"
        assert await scalar(engine, letter) == f"{POISONED}/SlaAtRisk"
    finally:
        await engine.dispose()
