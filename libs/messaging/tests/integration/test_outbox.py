"""The outbox relay on the real broker and database: order, atomicity, idempotent recording."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, read_topic
from supportdesk_devstack.testing.events import envelope, opened, reopened
from supportdesk_messaging.db import OUTBOX_CHANNEL, asyncpg_dsn
from supportdesk_messaging.outbox import record
from supportdesk_messaging.relay import OutboxRelay

pytestmark = pytest.mark.integration


@pytest.fixture
async def relay(space: Sandbox, engine: AsyncEngine) -> AsyncIterator[OutboxRelay]:
    r = OutboxRelay(
        engine,
        service="probe",
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        batch_size=50,
        idle_poll_seconds=30,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    yield r
    stop.set()
    await asyncio.wait_for(task, 30)


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NULL"))).scalar_one())


async def test_committed_events_are_published_in_order_per_ticket_and_rolled_back_ones_never(
    space: Sandbox, engine: AsyncEngine, relay: OutboxRelay
) -> None:
    envs = [envelope(reopened(reason=str(n)), "ticket-a", producer="probe") for n in range(120)]
    for i in range(0, 120, 10):  # many small transactions, as a service makes them
        async with engine.begin() as conn:
            await record(conn, envs[i : i + 10])
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await record(conn, [envelope(reopened(reason="999"), "ticket-a", producer="probe")])
            raise RuntimeError("the read-model change failed")
    # The relay idles for 30 s between polls here: only NOTIFY can wake it this fast.
    await eventually(lambda: _zero(engine), timeout=20, what="every event marked published")
    got = await read_topic(space, Topic.LIFECYCLE, expect=120)
    assert [decode(m.value).payload.reason for m in got] == [str(n) for n in range(120)]  # type: ignore[attr-defined]
    assert all(m.key == b"ticket-a" for m in got)
    assert await read_topic(space, Topic.LIFECYCLE, expect=121, timeout=2) == got


async def _zero(engine: AsyncEngine) -> bool:
    return await unpublished(engine) == 0


async def test_recording_the_same_event_twice_keeps_one_and_stream_versions_serialise_writers(
    space: Sandbox, engine: AsyncEngine
) -> None:
    env = envelope(opened(), "t", producer="probe")
    async with engine.begin() as conn:
        assert await record(conn, [env], stream_version=0) == [env]
    async with engine.begin() as conn:
        assert await record(conn, [env]) == []  # a re-derived event is dropped, not duplicated
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):  # a second writer that also read version 0 loses
        async with engine.begin() as conn:
            await record(conn, [envelope(reopened(reason="1"), "t", producer="probe")], stream_version=0)
    async with engine.begin() as conn:
        assert len(await record(conn, [envelope(reopened(reason="1"), "t", producer="probe")], stream_version=1)) == 1


async def test_one_call_records_its_events_in_one_statement_in_order_and_wakes_the_relay_once(
    space: Sandbox, engine: AsyncEngine
) -> None:
    earlier = envelope(reopened(reason="-1"), "ticket-b", producer="probe")
    async with engine.begin() as conn:
        await record(conn, [earlier])
    envs = [envelope(reopened(reason=str(n)), f"ticket-{n % 7}", producer="probe") for n in range(300)]
    # A re-derived event (already recorded) and a repeat within the call are each dropped.
    batch = [*envs[:150], earlier, envs[3], *envs[150:]]
    statements: list[str] = []
    woken: list[str] = []
    listener = await asyncpg.connect(asyncpg_dsn(engine.url))
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: woken.append(args[2]))

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with engine.begin() as conn:
            assert await record(conn, batch) == envs
            assert (
                await record(conn, [envelope(reopened(reason="1"), "ticket-c", producer="probe")]) != []
            )  # a second call, same transaction
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 2  # one round trip per call, however many events
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id FROM events ORDER BY position"))).scalars().all()
    assert rows[1:301] == [e.event_id for e in envs]  # the relay publishes in the order given
    await eventually(lambda: _woken(woken), timeout=10, what="the relay's channel notified")
    await asyncio.sleep(0.5)
    await listener.close()
    assert woken == [OUTBOX_CHANNEL]  # one wake-up for the transaction, not one per event


async def _woken(woken: list[str]) -> bool:
    return bool(woken)


async def test_commits_arriving_together_are_published_as_one_batch(space: Sandbox, engine: AsyncEngine) -> None:
    """A NOTIFY per commit, but the relay lingers after a wake-up: commits within the linger are
    read, sent and marked together (one `published_at` per mark) instead of one batch each."""
    relay = OutboxRelay(
        engine,
        service="probe",
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        idle_poll_seconds=30,
        wake_linger_seconds=3.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: _active(relay), what="the relay active")
        await asyncio.sleep(0.5)  # its first (empty) read is done: it waits for a NOTIFY
        for n in range(5):  # five requests 0.3 s apart, each its own transaction, all within the linger
            async with engine.begin() as conn:
                await record(conn, [envelope(reopened(reason=str(n)), f"ticket-{n}", producer="probe")])
            await asyncio.sleep(0.3)
        await eventually(lambda: _zero(engine), timeout=20, what="every event marked published")
        async with engine.connect() as conn:
            marks = (await conn.execute(text("SELECT count(DISTINCT published_at) FROM events"))).scalar_one()
        assert marks <= 2  # one, or two if the first commit's wake-up beat the others by the linger
        assert len(await read_topic(space, Topic.LIFECYCLE, expect=5)) == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _active(relay: OutboxRelay) -> bool:
    return relay.active
