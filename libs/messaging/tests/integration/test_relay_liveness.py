"""The relay keeps the pipeline moving on the real broker and database: a row that can never be
published is parked without blocking other tickets, a broker outage is waited out (never parked),
a stuck outbox says so, and two relays through a PostgreSQL restart publish each event once."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import MAX_EVENT_BYTES, TicketReopened
from supportdesk_contract.envelope import Envelope, decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import OutOfStepProducer, Sandbox, eventually, free_port, read_topic
from supportdesk_devstack.testing.events import envelope, reopened
from supportdesk_messaging.db import asyncpg_dsn
from supportdesk_messaging.outbox import record
from supportdesk_messaging.relay import OutboxRelay
from supportdesk_messaging.timers import pause

pytestmark = pytest.mark.integration


def unbounded(ticket_id: str, reason: str) -> Envelope[Any]:
    """An envelope built around the bounding, as rows recorded before events were bounded are."""
    return Envelope[TicketReopened](
        event_id=uuid.uuid4(),
        event_type="TicketReopened",
        schema_version=1,
        ticket_id=ticket_id,
        occurred_at=datetime.now(UTC),
        producer="probe",
        causation_id=None,
        correlation_id=uuid.uuid4(),
        payload=TicketReopened(by="agent", reason=reason),
    )


async def run_relays(relays: list[OutboxRelay]) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    """Run relays the way ServiceRuntime does: a loop that stops unexpectedly is restarted."""
    stop = asyncio.Event()

    async def supervised(relay: OutboxRelay) -> None:
        while not stop.is_set():
            try:
                await relay.run(stop)
            except Exception:
                await pause(stop, 2.0)

    return stop, [asyncio.create_task(supervised(r)) for r in relays]


async def stop_relays(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)


def relay(space: Sandbox, engine: AsyncEngine, **options: Any) -> OutboxRelay:
    settings: dict[str, Any] = {"idle_poll_seconds": 30, "stats_seconds": 0.2, **options}
    bootstrap = settings.pop("bootstrap_servers", space.servers.bootstrap_servers)
    return OutboxRelay(engine, service="probe", bootstrap_servers=bootstrap, topic_prefix=space.prefix, **settings)


async def rows(engine: AsyncEngine, where: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(f"SELECT * FROM events WHERE {where} ORDER BY position"))).all())


async def test_a_row_that_can_never_be_published_is_parked_its_ticket_waits_and_other_tickets_flow(
    space: Sandbox, engine: AsyncEngine
) -> None:
    big = unbounded("ticket-big", "\U0001f600" * 300_000)  # 1.2 MB of UTF-8: over every limit
    async with engine.begin() as conn:
        await record(conn, [big])
        await record(conn, [envelope(reopened(reason="after the big one"), "ticket-big", producer="probe")])
        await record(conn, [envelope(reopened(reason=str(n)), f"ticket-{n}", producer="probe") for n in range(5)])
    r = relay(space, engine)
    stop, tasks = await run_relays([r])
    try:
        got = await read_topic(space, Topic.LIFECYCLE, expect=5, timeout=30)
        assert sorted(m.key for m in got) == [f"ticket-{n}".encode() for n in range(5)]
        parked = await eventually(lambda: rows(engine, "failed_at IS NOT NULL"), what="the big row parked")
        assert [p.event_id for p in parked] == [big.event_id]
        assert parked[0].published_at is None
        assert f"over the {MAX_EVENT_BYTES}-byte event limit" in parked[0].failure_reason
        # Its ticket's next event waits behind it (per-ticket order); it is neither sent nor parked.
        (held,) = await rows(engine, "ticket_id = 'ticket-big' AND failed_at IS NULL")
        assert held.published_at is None
        assert len(await read_topic(space, Topic.LIFECYCLE, expect=6, timeout=3)) == 5

        stats = await r.refresh_stats()
        assert (stats.waiting, stats.held, stats.parked) == (0, 1, 1)
        assert REGISTRY.get_sample_value("supportdesk_outbox_parked_rows", {"service": "probe"}) == 1
        assert REGISTRY.get_sample_value("supportdesk_outbox_held_rows", {"service": "probe"}) == 1
        health = r.health()
        assert health.state == "degraded" and "1 events parked" in health.detail

        # Later events of other tickets keep flowing past the parked row.
        async with engine.begin() as conn:
            await record(conn, [envelope(reopened(reason="late"), "ticket-late", producer="probe")])
        got = await read_topic(space, Topic.LIFECYCLE, expect=6, timeout=30)
        assert b"ticket-late" in {m.key for m in got}
    finally:
        await stop_relays(stop, tasks)


async def test_a_broker_that_is_down_is_waited_out_degraded_never_parked(space: Sandbox, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await record(conn, [envelope(reopened(reason=str(n)), f"ticket-{n}", producer="probe") for n in range(3)])
    nowhere = free_port()  # nothing listens there
    r = relay(space, engine, bootstrap_servers=f"127.0.0.1:{nowhere}")
    stop, tasks = await run_relays([r])
    try:

        async def degraded() -> bool:
            return r.health().state == "degraded" and r.stats is not None and r.stats.waiting == 3

        await eventually(degraded, timeout=20, what="relay health degraded while Kafka is unreachable")
        assert "Kafka unreachable" in r.health().detail
        await asyncio.sleep(1)  # it keeps retrying: still nothing parked
        assert await rows(engine, "failed_at IS NOT NULL") == []
    finally:
        await stop_relays(stop, tasks)
    # The outbox buffered: a relay that reaches the broker publishes all of it.
    r = relay(space, engine)
    stop, tasks = await run_relays([r])
    try:
        got = await read_topic(space, Topic.LIFECYCLE, expect=3, timeout=30)
        assert sorted(m.key for m in got) == [f"ticket-{n}".encode() for n in range(3)]
    finally:
        await stop_relays(stop, tasks)


class RelayWhoseFirstProducerIsOutOfStep(OutboxRelay):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.producers_made = 0

    def _new_producer(self) -> AIOKafkaProducer:
        self.producers_made += 1
        if self.producers_made == 1:
            return OutOfStepProducer(self.bootstrap_servers)
        return super()._new_producer()


async def test_a_producer_out_of_step_with_the_broker_is_replaced_and_the_outbox_drains(
    space: Sandbox, engine: AsyncEngine
) -> None:
    """Seen in the broker-restart chaos scenario: intake's relay retried OutOfOrderSequenceNumber
    once a second for minutes while the broker was fine, and no ticket reached Kafka."""
    async with engine.begin() as conn:
        await record(conn, [envelope(reopened(reason=str(n)), f"ticket-{n}", producer="probe") for n in range(3)])
    r = RelayWhoseFirstProducerIsOutOfStep(
        engine,
        service="probe",
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        idle_poll_seconds=30,
        stats_seconds=0.2,
    )
    renewed_before = REGISTRY.get_sample_value("supportdesk_outbox_producer_renewals_total", {"service": "probe"}) or 0
    stop, tasks = await run_relays([r])
    try:
        got = await read_topic(space, Topic.LIFECYCLE, expect=3, timeout=30)
        assert sorted(m.key for m in got) == [f"ticket-{n}".encode() for n in range(3)]
        assert r.producers_made == 2

        async def all_marked() -> bool:
            return len(await rows(engine, "published_at IS NOT NULL")) == 3

        await eventually(all_marked, what="the three rows marked published")
    finally:
        await stop_relays(stop, tasks)
    renewed = REGISTRY.get_sample_value("supportdesk_outbox_producer_renewals_total", {"service": "probe"})
    assert renewed == renewed_before + 1
    assert await rows(engine, "failed_at IS NOT NULL") == []  # a producer's trouble never parks a row


async def test_an_outbox_nobody_drains_is_failing_and_recovers_when_the_lock_holder_goes(
    space: Sandbox, engine: AsyncEngine
) -> None:
    # A hung replica: it holds the relay lock and publishes nothing.
    zombie = await asyncpg.connect(asyncpg_dsn(engine.url))
    from supportdesk_messaging.relay import _RELAY_LOCK_KEY

    assert await zombie.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY)
    r = relay(space, engine, stall_seconds=1.0, idle_poll_seconds=0.2)
    stop, tasks = await run_relays([r])
    try:
        async with engine.begin() as conn:
            await record(conn, [envelope(reopened(reason="stuck"), "ticket-stuck", producer="probe")])

        async def failing() -> bool:
            return r.health().state == "failing"

        await eventually(failing, timeout=20, what="relay health failing while nothing drains the outbox")
        assert "1 events waiting" in r.health().detail
        await zombie.close()
        await read_topic(space, Topic.LIFECYCLE, expect=1, timeout=30)

        async def ok() -> bool:
            return r.active and r.health().state == "ok"

        await eventually(ok, timeout=20, what="relay health ok once it publishes")
    finally:
        if not zombie.is_closed():
            await zombie.close()
        await stop_relays(stop, tasks)


async def test_two_relays_through_a_postgres_restart_publish_each_event_once_and_resume_promptly(
    space: Sandbox, engine: AsyncEngine
) -> None:
    if space.servers.postgres is None:
        pytest.skip("PostgreSQL is external: this test restarts the embedded server")
    # Both idle-poll only every 60 s: publishing within seconds needs a live LISTEN on the lock holder.
    relays = [relay(space, engine, idle_poll_seconds=60), relay(space, engine, idle_poll_seconds=60)]
    stop, tasks = await run_relays(relays)
    try:
        await eventually(lambda: _one_active(relays), what="one relay active")
        for n in range(20):
            async with engine.begin() as conn:
                await record(conn, [envelope(reopened(reason=f"before-{n}"), f"ticket-{n % 4}", producer="probe")])
        await read_topic(space, Topic.LIFECYCLE, expect=20, timeout=30)

        await asyncio.to_thread(space.servers.restart_postgres)

        for n in range(20):
            async with engine.begin() as conn:
                await record(conn, [envelope(reopened(reason=f"after-{n}"), f"ticket-{n % 4}", producer="probe")])
        got = await read_topic(space, Topic.LIFECYCLE, expect=40, timeout=15)
        assert len(got) == 40, f"only {len(got)} of 40 events published within 15 s of the restart"
        await eventually(lambda: _one_active(relays), what="exactly one relay active after the restart")
        # Nothing more arrives: each event once.
        got = await read_topic(space, Topic.LIFECYCLE, expect=41, timeout=3)
        ids = [decode(m.value).event_id for m in got]
        assert len(ids) == len(set(ids)) == 40
        for t in range(4):  # and in order per ticket
            reasons = [decode(m.value).payload.reason for m in got if m.key == f"ticket-{t}".encode()]  # type: ignore[attr-defined]
            assert reasons == [f"{p}-{n}" for p in ("before", "after") for n in range(t, 20, 4)]
    finally:
        await stop_relays(stop, tasks)


async def _one_active(relays: list[OutboxRelay]) -> bool:
    return sum(r.active for r in relays) == 1
