"""sla-clock applies a consumer's batch as a set: the batch's tickets read in two queries, each
changed row written once at the flush, the batch's events in one outbox statement. Whatever the
batch holds (several facts of one ticket, a held policy, a poison message among a ticket's other
facts), the outcome is the one of applying each fact in a transaction of its own."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.service_layer import policy_admin
from sla_clock.service_layer.handlers import handlers
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import (
    AgentResponded,
    Channel,
    CustomerReplied,
    Event,
    InfoRequested,
    Priority,
    PriorityChanged,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, StatementLog, consuming, equals, eventually, scalar
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.migrations import migrate

from .facts import OPENED, T0, TRIAGED, H, send

pytestmark = pytest.mark.integration

BOOK = PolicyBook("data-insights", "basic")
ON = handlers(BOOK)


async def sla_database(space: Sandbox, name: str) -> AsyncEngine:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database(name))
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    return create_engine(settings.database_url, settings.database_name)


@pytest.fixture
async def two(space: Sandbox) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """A database that gets the facts as one batch and one that gets them one transaction each."""
    batched, each = await sla_database(space, "batched"), await sla_database(space, "each")
    yield batched, each
    await batched.dispose()
    await each.dispose()


def facts(*items: tuple[str, Event, datetime]) -> list[Envelope[Any]]:
    return [new_envelope(e, ticket_id=t, producer="test", clock=ManualClock(at)) for t, e, at in items]


async def apply(engine: AsyncEngine, clock: ManualClock, envs: Sequence[Envelope[Any]]) -> None:
    """What the consumer does with a batch: the handlers in order on one context, then the flush."""
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, clock, "sla-clock", envs)
        for env in envs:
            await ON[env.event_type](ctx, env)
        await ctx.flush()


async def state(engine: AsyncEngine) -> dict[str, Any]:
    """Everything sla-clock keeps: facts, clock rows, recorded events (positions aside)."""
    async with engine.connect() as conn:

        async def rows(sql: str) -> list[Any]:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]

        return {
            "facts": await rows("SELECT ticket_id, facts, correlation_id, updated_at FROM sla_tickets ORDER BY 1"),
            "clocks": await rows("SELECT * FROM clocks ORDER BY ticket_id, clock, cycle"),
            "events": await rows("SELECT event_id, event_type, ticket_id, envelope FROM events ORDER BY event_id"),
        }


async def test_several_facts_of_one_ticket_in_a_batch_cost_one_read_and_one_write_and_end_as_one_by_one(
    two: tuple[AsyncEngine, AsyncEngine],
) -> None:
    batched, each = two
    clock = ManualClock(T0 + 3 * H)
    envs = facts(
        ("answered", opened(**OPENED), T0),
        ("answered", triaged(priority=Priority.HIGH, **TRIAGED), T0),
        ("answered", InfoRequested(agent="a", question="which export?"), T0 + H / 4),
        ("waiting", opened(**OPENED), T0),
        ("answered", CustomerReplied(channel=Channel.EMAIL, body="the nightly one"), T0 + H / 2),
        ("waiting", triaged(priority=Priority.URGENT, **TRIAGED), T0),
        ("answered", AgentResponded(agent="a", body="fixed"), T0 + H),
        ("waiting", PriorityChanged(priority=Priority.NORMAL, previous=Priority.URGENT, by="b", reason="r"), T0),
    )
    with StatementLog(batched) as sent:
        await apply(batched, clock, envs)
    for env in envs:
        await apply(each, clock, [env])
    assert await state(batched) == await state(each)
    # One read of each table for the batch, each row written once (one executemany per table).
    assert (sent.count("SELECT sla_tickets"), sent.count("SELECT clocks")) == (1, 1)
    assert (sent.count("INSERT INTO sla_tickets"), sent.count("INSERT INTO clocks")) == (1, 1)
    assert sent.containing("INSERT INTO events") == 1
    answered = await scalar(
        batched, "SELECT state || ' ' || met FROM clocks WHERE ticket_id = 'answered' AND clock = 'first_response'"
    )
    assert answered == "stopped true"
    waiting = await scalar(
        batched, "SELECT priority FROM clocks WHERE ticket_id = 'waiting' AND clock = 'first_response'"
    )
    assert waiting == "normal"


async def test_a_batch_under_a_deactivated_policy_starts_held_and_a_held_ticket_s_facts_batch_alike(
    two: tuple[AsyncEngine, AsyncEngine],
) -> None:
    batched, each = two
    clock = ManualClock(T0)
    for engine in two:
        await policy_admin.deactivate(engine, BOOK, clock, "data-insights", "ops@example.com", "contract paused")
    clock.set(T0 + H)
    first = facts(
        ("held-1", opened(**OPENED), T0),
        ("held-2", opened(**OPENED), T0),
        ("held-1", triaged(priority=Priority.HIGH, **TRIAGED), T0),
        ("held-2", triaged(priority=Priority.URGENT, **TRIAGED), T0),
    )
    # Facts of a ticket whose clocks are held already (suspended), in a later batch.
    later = facts(
        ("held-1", InfoRequested(agent="a", question="which export?"), T0 + 2 * H),
        ("held-1", CustomerReplied(channel=Channel.EMAIL, body="the nightly one"), T0 + 3 * H),
        ("held-1", AgentResponded(agent="a", body="fixed"), T0 + 4 * H),
        ("held-2", PriorityChanged(priority=Priority.LOW, previous=Priority.URGENT, by="b", reason="r"), T0 + 4 * H),
    )
    with StatementLog(batched) as sent:
        await apply(batched, clock, first)
    # Whether the policy is active: asked once for the batch (its lock is held until the commit).
    assert sent.count("SELECT pg_advisory_xact_lock_shared") == 1
    clock.set(T0 + 5 * H)
    await apply(batched, clock, later)
    clock.set(T0 + H)
    for env in first:
        await apply(each, clock, [env])
    clock.set(T0 + 5 * H)
    for env in later:
        await apply(each, clock, [env])
    assert await state(batched) == await state(each)
    suspended = "SELECT count(*) FROM events WHERE event_type = 'SlaClockSuspended'"
    assert await scalar(batched, suspended) == 2  # each ticket's first response (the open clock), once
    held = "SELECT ticket_id FROM clocks WHERE state = 'paused' AND next_check_at IS NULL AND breached_at IS NULL"
    assert await scalar(batched, held) == "held-2"
    met = "SELECT met FROM clocks WHERE ticket_id = 'held-1' AND clock = 'first_response' AND state = 'stopped'"
    assert await scalar(batched, met) is True  # answered while held: no business time ran


async def test_a_poison_fact_among_a_ticket_s_others_is_dead_lettered_alone(space: Sandbox) -> None:
    """The batch fails, is applied again one message at a time: the poison's changes (kept in the
    transaction's memory too) are forgotten, the ticket's facts before and after it still apply."""
    engine = await sla_database(space, "poison")
    await send(space, "mixed", Topic.LIFECYCLE, (opened(**OPENED), T0))
    await send(space, "other", Topic.LIFECYCLE, (opened(**OPENED), T0))
    # One partition for each ticket's triage facts: the poison sits between two good facts.
    poison = triaged(priority=Priority.URGENT, **TRIAGED).model_copy(update={"policy": "no-such-policy"})
    lowered = PriorityChanged(priority=Priority.NORMAL, previous=Priority.HIGH, by="b", reason="r")
    await send(
        space, "mixed", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0), (poison, T0), (lowered, T0)
    )
    await send(space, "other", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))
    async with consuming(space, engine, "sla-clock", ON, ManualClock(T0 + H / 2)):
        await eventually(lambda: equals(engine, "SELECT count(*) FROM inbox", 5), timeout=90, what="applied")
        await eventually(lambda: equals(engine, "SELECT count(*) FROM dead_letters", 1), what="dead-lettered")
    try:
        reason = await scalar(engine, "SELECT reason FROM dead_letters")
        assert reason.startswith("TicketTriaged handler failed: PolicyError: no shipped policy 'no-such-policy'")
        first_response = "SELECT priority FROM clocks WHERE clock = 'first_response' AND ticket_id = "
        assert await scalar(engine, first_response + "'mixed'") == "normal"  # the fact after the poison applied
        assert await scalar(engine, first_response + "'other'") == "high"
        policy = "SELECT facts ->> 'policy' FROM sla_tickets WHERE ticket_id = 'mixed'"
        assert await scalar(engine, policy) == "data-insights"
    finally:
        await engine.dispose()
