"""The idempotent consumer on the real broker and database: duplicates, poison, dead letters."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, encode, new_envelope
from supportdesk_contract.topics import Topic, dead_letter_topic
from supportdesk_devstack.testing import Sandbox, consuming, eventually, produce, read_topic
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import plumbing_tables
from supportdesk_messaging.handler_context import HandlerContext

pytestmark = pytest.mark.integration

metadata = MetaData()
plumbing_tables(metadata)
applied = Table("applied", metadata, Column("ticket_id", Text, primary_key=True), Column("times", Integer))


async def count_once_per_delivery(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Deliberately not idempotent by itself: only the inbox keeps `times` at one."""
    if env.payload.subject == "poison":
        await ctx.conn.execute(insert(applied).values(ticket_id=env.ticket_id, times=100))
        raise RuntimeError("cannot handle this ticket")
    if env.payload.subject == "twice":  # a unique violation whose key is an opened personal field
        for _ in range(2):
            await ctx.conn.execute(insert(applied).values(ticket_id=env.payload.requester_email, times=1))
    stmt = insert(applied).values(ticket_id=env.ticket_id, times=1)
    await ctx.conn.execute(
        stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={"times": applied.c.times + 1})
    )


@pytest.fixture
def tables() -> MetaData:
    return metadata


@pytest.fixture
async def consumer(space: Sandbox, engine: AsyncEngine) -> AsyncIterator[EventConsumer]:
    async with consuming(space, engine, "probe", {"TicketOpened": count_once_per_delivery}, SystemClock()) as c:
        yield c


def wire(env: Envelope[Any]) -> tuple[bytes, bytes]:
    key, value, _ = encode(env)
    return key, value


async def times_applied(engine: AsyncEngine, ticket_id: str) -> int | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(applied.c.times).where(applied.c.ticket_id == ticket_id))).scalar()


async def test_the_same_event_delivered_twice_changes_the_read_model_once(
    space: Sandbox, engine: AsyncEngine, consumer: EventConsumer
) -> None:
    twice = envelope(opened(), "dup")
    sentinel = envelope(opened(), "after")
    await produce(space, Topic.LIFECYCLE, [wire(twice), wire(twice), wire(sentinel)])
    # Same key, same partition: once the sentinel is applied, both copies have been through.
    await eventually(lambda: times_applied(engine, "after"), what="the event after the duplicates")
    assert await times_applied(engine, "dup") == 1
    async with engine.connect() as conn:
        inbox = (
            await conn.execute(text("SELECT count(*) FROM inbox WHERE event_id = :id"), {"id": twice.event_id})
        ).scalar()
    assert inbox == 1


async def test_a_malformed_message_is_dead_lettered_and_the_next_good_one_is_processed(
    space: Sandbox, engine: AsyncEngine, consumer: EventConsumer
) -> None:
    good = envelope(opened(), "good")
    key = good.ticket_id.encode()  # same key as the good one: same partition, right before it
    await produce(space, Topic.LIFECYCLE, [(key, b"{not json"), wire(good)])
    assert await eventually(lambda: times_applied(engine, "good"), what="the good message") == 1
    dead = await read_topic(space, dead_letter_topic("probe"), expect=1)
    assert [m.value for m in dead] == [b"{not json"]
    headers = dict(dead[0].headers)
    assert b"not JSON" in headers["dlq.reason"]
    assert headers["dlq.consumer"] == b"probe"
    assert headers["dlq.source"].startswith(f"{space.prefix}{Topic.LIFECYCLE}/".encode())


async def test_a_handler_failure_is_rolled_back_dead_lettered_and_the_partition_moves_on(
    space: Sandbox, engine: AsyncEngine, consumer: EventConsumer
) -> None:
    poison = envelope(opened(subject="poison"), "poison")
    after = envelope(opened(), "poison-next")
    unknown = (b"poison", b'{"event_type": "TicketTeleported", "schema_version": 1}')
    await produce(space, Topic.LIFECYCLE, [wire(poison), unknown, wire(after)])
    await eventually(lambda: times_applied(engine, "poison-next"), what="the message after the poison")
    assert await times_applied(engine, "poison") is None  # its partial effect was rolled back
    dead = await read_topic(space, dead_letter_topic("probe"), expect=2)
    reasons = sorted(dict(m.headers)["dlq.reason"].decode() for m in dead)
    assert reasons[0].startswith("TicketOpened handler failed: RuntimeError: cannot handle this ticket")
    assert reasons[1] == "unknown event type 'TicketTeleported'"
    # A poisoned event is not marked processed: re-driving it after a fix applies it.
    async with engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM inbox WHERE event_id = :id"), {"id": poison.event_id})
        ).scalar() == 0


async def test_a_database_error_s_dead_letter_reason_names_the_failure_but_never_the_values(
    space: Sandbox, engine: AsyncEngine, consumer: EventConsumer, caplog: pytest.LogCaptureFixture
) -> None:
    email = "dora.personal@example.org"
    failing = envelope(opened(subject="twice", requester_email=email), "twice")
    await produce(space, Topic.LIFECYCLE, [wire(failing), wire(envelope(opened(), "twice-next"))])
    await eventually(lambda: times_applied(engine, "twice-next"), what="the message after the failing one")
    dead = await read_topic(space, dead_letter_topic("probe"), expect=1)
    reason = dict(dead[0].headers)["dlq.reason"].decode()
    assert email not in reason and "dora" not in reason  # neither the bound parameter nor PostgreSQL's DETAIL
    assert reason.startswith("TicketOpened handler failed: IntegrityError (UniqueViolationError, sqlstate 23505")
    assert "constraint applied_pkey" in reason
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT reason FROM dead_letters WHERE consumer = 'probe'"))).scalars().all()
    assert kept == [reason]
    logged = [f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''}" for r in caplog.records]
    assert any(reason in line for line in logged)  # the failure is logged, as the dead letter words it
    assert not [line for line in logged if "dora" in line]


async def test_events_of_types_the_service_does_not_handle_are_skipped_quietly(
    space: Sandbox, engine: AsyncEngine, consumer: EventConsumer
) -> None:
    from supportdesk_contract.catalogue import TicketReopened

    other = new_envelope(TicketReopened(by="a", reason="r"), ticket_id="x", producer="t", clock=SystemClock())
    after = envelope(opened(), "x")
    await produce(space, Topic.LIFECYCLE, [wire(other), wire(after)])
    await eventually(lambda: times_applied(engine, "x"), what="the handled event")
    assert await read_topic(space, dead_letter_topic("probe"), expect=1, timeout=2) == []
