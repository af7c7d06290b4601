"""No single message or outage stops the consumer, and batches are applied as sets.

All on the real broker and database: hostile messages produced raw to the topic, a real deadlock,
a real outage of the consumer's database (connections refused and terminated), statements counted
as SQLAlchemy sends them.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Column, Integer, MetaData, Table, Text, event, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import TicketReopened
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, encode, new_envelope
from supportdesk_contract.topics import Topic, dead_letter_topic
from supportdesk_devstack.testing import OutOfStepProducer, Sandbox, eventually, read_topic
from supportdesk_devstack.testing.events import envelope, opened, reopened
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import asyncpg_dsn, plumbing_tables
from supportdesk_messaging.dead_letters import read_dead_letters
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_observability import metrics

pytestmark = pytest.mark.integration

metadata = MetaData()
plumbing_tables(metadata)
# What each ticket's events did, in the order they were applied.
seen = Table("seen", metadata, Column("ticket_id", Text, primary_key=True), Column("subjects", ARRAY(Text)))
locks = Table("locks", metadata, Column("name", Text, primary_key=True), Column("n", Integer))

TOPIC = Topic.LIFECYCLE


async def remember(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Appends the subject to the ticket's list: not idempotent by itself, so duplicates show."""
    subject = env.payload.subject
    if subject == "poison":
        await ctx.conn.execute(insert(seen).values(ticket_id="poison-effect", subjects=["must be rolled back"]))
        raise RuntimeError("cannot handle this ticket")
    if subject == "deadlock":
        # Locks row a, then row b: the test holds b and then asks for a, so one of the two is chosen
        # by PostgreSQL as the deadlock victim (this side: it has the shorter deadlock_timeout).
        await ctx.conn.execute(update(locks).where(locks.c.name == "a").values(n=locks.c.n + 1))
        await ctx.conn.execute(update(locks).where(locks.c.name == "b").values(n=locks.c.n + 1))
    stmt = insert(seen).values(ticket_id=env.ticket_id, subjects=[subject])
    await ctx.conn.execute(
        stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={"subjects": seen.c.subjects.concat([subject])})
    )


@pytest.fixture
def tables() -> MetaData:
    return metadata


@pytest.fixture(autouse=True)
async def lock_rows(engine: AsyncEngine) -> None:
    """The two rows the deadlock test's handler and agent update in opposite orders."""
    async with engine.begin() as conn:
        await conn.execute(insert(locks).values([{"name": "a", "n": 0}, {"name": "b", "n": 0}]))


def make_consumer(space: Sandbox, engine: AsyncEngine, **options: Any) -> EventConsumer:
    return EventConsumer(
        engine,
        service="probe",
        handlers={"TicketOpened": remember},
        bootstrap_servers=space.servers.bootstrap_servers,
        clock=SystemClock(),
        topic_prefix=space.prefix,
        group_id=f"{space.prefix}probe",
        **options,
    )


@pytest.fixture
async def running() -> AsyncIterator[list[tuple[asyncio.Event, "asyncio.Task[None]"]]]:
    started: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
    yield started
    for stop, task in started:
        stop.set()
        await asyncio.wait_for(task, 30)


def start(consumer: EventConsumer, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]) -> None:
    stop = asyncio.Event()
    running.append((stop, asyncio.create_task(consumer.run(stop))))


def wire(env: Envelope[Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return encode(env)


async def produce_raw(
    space: Sandbox, messages: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]
) -> list[tuple[int, int]]:
    """Write messages as any producer could (this one allows 2 MiB); (partition, offset) of each."""
    producer = AIOKafkaProducer(
        bootstrap_servers=space.servers.bootstrap_servers, acks="all", max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    try:
        where = []
        for key, value, headers in messages:
            md = await producer.send_and_wait(space.prefix + TOPIC, value=value, key=key, headers=headers)
            where.append((md.partition, md.offset))
        return where
    finally:
        await producer.stop()


async def subjects(engine: AsyncEngine, ticket_id: str) -> list[str] | None:
    async with engine.connect() as conn:
        found = (await conn.execute(select(seen.c.subjects).where(seen.c.ticket_id == ticket_id))).scalar()
        return list(found) if found is not None else None


async def committed(space: Sandbox, partition: int) -> int:
    """The probe group's committed offset on the lifecycle topic's `partition` (-1: none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=space.servers.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(f"{space.prefix}probe")
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(space.prefix + TOPIC, partition))
    return found.offset if found is not None else -1


def counter(metric: Any, **labels: str) -> float:
    value: float = metric.labels(**labels)._value.get()
    return value


async def test_deeply_nested_json_is_a_dead_letter_and_the_partition_moves_on(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    start(make_consumer(space, engine), running)
    nested = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError, not a JSON error
    after = envelope(opened(subject="after"), "nested")
    where = await produce_raw(space, [(b"nested", nested, []), wire(after)])
    assert await eventually(lambda: subjects(engine, "nested"), what="the message after the nested one") == ["after"]
    dead = await read_topic(space, dead_letter_topic("probe"), expect=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert b"RecursionError" in headers["dlq.reason"]
    assert headers["dlq.reason_class"] == b"undecodable"
    assert headers["dlq.source"] == f"{space.prefix}{TOPIC}/{where[0][0]}/{where[0][1]}".encode()
    assert dead[0].value == nested  # small enough to be carried whole
    assert "dlq.truncated" not in headers
    await eventually(lambda: _past(space, where[1]), what="the offset committed past both messages")


async def _past(space: Sandbox, where: tuple[int, int]) -> bool:
    return await committed(space, where[0]) > where[1]


class ConsumerWhoseFirstDeadLetterProducerIsOutOfStep(EventConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.producers_made = 0

    def _dead_letter_producer(self) -> AIOKafkaProducer:
        self.producers_made += 1
        if self.producers_made == 1:
            return OutOfStepProducer(self.bootstrap_servers)
        return super()._dead_letter_producer()


async def test_a_dead_letter_producer_out_of_step_with_the_broker_is_replaced(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    """The relay's trouble after a broker restart (OutOfOrderSequenceNumber for ever) can hit the
    dead-letter producer too: the batch would be retried for ever and the partition never move."""
    consumer = ConsumerWhoseFirstDeadLetterProducerIsOutOfStep(
        engine,
        service="probe",
        handlers={"TicketOpened": remember},
        bootstrap_servers=space.servers.bootstrap_servers,
        clock=SystemClock(),
        topic_prefix=space.prefix,
        group_id=f"{space.prefix}probe",
    )
    start(consumer, running)
    after = envelope(opened(subject="after"), "out-of-step")
    where = await produce_raw(space, [(b"out-of-step", b"not json", []), wire(after)])
    dead = await read_topic(space, dead_letter_topic("probe"), expect=1)
    assert [d.value for d in dead] == [b"not json"]
    await eventually(lambda: _past(space, where[1]), what="the offset committed past both messages")
    assert consumer.producers_made == 2
    assert await subjects(engine, "out-of-step") == ["after"]  # applied once, though the batch ran twice


async def test_a_message_near_the_broker_limit_has_a_dead_letter_that_fits(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    start(make_consumer(space, engine), running)
    # 1,048,400 bytes: the broker takes it (max.message.bytes 1,048,588 for the whole batch), but
    # not with dlq.* headers added, and a producer with the default max_request_size refuses that.
    head = b'{"event_type": "TicketTeleported", "pad": "'
    big = head + b"x" * (1_048_400 - len(head) - 2) + b'"}'
    original_headers = [("origin", b"a raw producer")]
    after = envelope(opened(subject="after"), "big")
    where = await produce_raw(space, [(b"big", big, original_headers), wire(after)])
    assert await eventually(lambda: subjects(engine, "big"), what="the message after the big one") == ["after"]
    dead = await read_topic(space, dead_letter_topic("probe"), expect=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["dlq.source"] == f"{space.prefix}{TOPIC}/{where[0][0]}/{where[0][1]}".encode()
    assert headers["dlq.reason"] == b"unknown event type 'TicketTeleported'"
    assert headers["dlq.reason_class"] == b"unknown_type"
    assert headers["dlq.consumer"] == b"probe"
    assert headers["origin"] == b"a raw producer"
    truncated = dict(part.split("=") for part in headers["dlq.truncated"].decode().split())
    assert truncated["value_bytes"] == str(len(big))
    kept = int(truncated["kept_bytes"])
    assert 1_000_000 < kept < len(big)
    assert dead[0].value == big[:kept]
    assert dead[0].key == b"big"
    await eventually(lambda: _past(space, where[1]), what="the offset committed past both messages")
    # What `<service> dead-letters` prints.
    letters = await read_dead_letters(space.servers.bootstrap_servers, space.prefix + dead_letter_topic("probe"))
    assert [(d["source"], d["reason_class"], d["key"]) for d in letters] == [
        (headers["dlq.source"].decode(), "unknown_type", "big")
    ]
    assert letters[0]["truncated"].startswith(f"value_bytes={len(big)} kept_bytes={kept}")


async def test_a_poison_message_in_the_middle_of_a_batch_is_isolated_and_the_rest_applied_once(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    before = counter(metrics.DEAD_LETTERS, consumer="probe", reason="handler_failed")
    failures = counter(metrics.BATCH_FAILURES, consumer="probe", cause="message")
    # Produced before the consumer starts, so they arrive as one batch: 10 per ticket, poison at 5th.
    messages = []
    for i in range(10):
        for ticket in ("t1", "t2", "t3"):
            subject = "poison" if (ticket, i) == ("t2", 4) else f"{ticket}-{i}"
            messages.append(wire(envelope(opened(subject=subject), ticket)))
    where = await produce_raw(space, messages)
    start(make_consumer(space, engine), running)

    async def all_applied() -> bool:
        counts = [len(await subjects(engine, t) or []) for t in ("t1", "t2", "t3")]
        return counts == [10, 9, 10]

    await eventually(all_applied, what="every message but the poison applied")
    for ticket in ("t1", "t2", "t3"):
        expected = [f"{ticket}-{i}" for i in range(10) if (ticket, i) != ("t2", 4)]
        assert await subjects(engine, ticket) == expected  # once each, in order
    assert await subjects(engine, "poison-effect") is None  # its partial effect was rolled back
    dead = await read_topic(space, dead_letter_topic("probe"), expect=2, timeout=3)
    assert len(dead) == 1
    assert dict(dead[0].headers)["dlq.reason"].startswith(b"TicketOpened handler failed: RuntimeError")
    assert counter(metrics.DEAD_LETTERS, consumer="probe", reason="handler_failed") == before + 1
    assert counter(metrics.BATCH_FAILURES, consumer="probe", cause="message") >= failures + 1
    for last in {p: (p, o) for p, o in where}.values():
        await eventually(lambda last=last: _past(space, last), what=f"partition {last[0]} committed")


async def test_a_deadlock_is_retried_not_dead_lettered(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    """A deadlock is the world failing (the database chose a victim), not the message: retried."""
    start(make_consumer(space, engine), running)
    agent = await asyncpg.connect(asyncpg_dsn(engine.url))
    try:
        tx = agent.transaction()
        await tx.start()
        await agent.execute("SET LOCAL deadlock_timeout = '20s'")  # so the consumer is the victim
        await agent.execute("UPDATE locks SET n = n + 1 WHERE name = 'b'")
        await produce_raw(space, [wire(envelope(opened(subject="deadlock"), "dl"))])

        async def handler_waits_for_b() -> bool:
            return bool(
                await agent.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1",
                    engine.url.database,
                )
            )

        await eventually(handler_waits_for_b, what="the handler holding a and waiting for b")
        await agent.execute("UPDATE locks SET n = n + 1 WHERE name = 'a'")  # deadlock: the handler is aborted
        await tx.commit()
    finally:
        await agent.close()
    assert await eventually(lambda: subjects(engine, "dl"), what="the deadlocked message applied") == ["deadlock"]
    assert await read_topic(space, dead_letter_topic("probe"), expect=1, timeout=3) == []


async def _database_outage(admin_url: str, database: str, allow: bool) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await conn.close()


async def test_a_database_outage_retries_the_batch_skips_nothing_and_health_says_so(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    consumer = make_consumer(space, engine, stall_seconds=1.0, retry_max_seconds=0.5)
    start(consumer, running)
    await produce_raw(space, [wire(envelope(opened(subject="up"), "warm"))])
    await eventually(lambda: subjects(engine, "warm"), what="the consumer running")
    assert consumer.health().state == "ok"
    database = engine.url.database
    assert database is not None
    admin_url = space.servers.database_url
    await _database_outage(admin_url, database, allow=False)
    try:
        await produce_raw(space, [wire(envelope(opened(subject=f"during-{n}"), f"o{n % 3}")) for n in range(30)])

        async def failing() -> bool:
            return consumer.health().state == "failing"

        await eventually(failing, what="health failing while the database is down and messages wait")
        detail = consumer.health().detail
        assert "messages waiting" in detail and "no progress" in detail
        assert sum(consumer.lag().values()) > 0
        lag_gauges = [
            s.value
            for m in metrics.CONSUMER_LAG.collect()
            for s in m.samples
            if s.labels["consumer"] == "probe" and s.labels["topic"] == space.prefix + TOPIC
        ]
        assert sum(lag_gauges) > 0
        ages = [
            s.value
            for m in metrics.CONSUMER_PROGRESS_AGE.collect()
            for s in m.samples
            if s.labels["consumer"] == "probe"
        ]
        assert ages and ages[0] >= 1.0
    finally:
        await _database_outage(admin_url, database, allow=True)

    async def all_applied() -> bool:
        return sum([len(await subjects(engine, f"o{t}") or []) for t in range(3)]) == 30

    await eventually(all_applied, what="every message applied after the database came back")
    for t in range(3):
        assert await subjects(engine, f"o{t}") == [f"during-{n}" for n in range(30) if n % 3 == t]
    assert await read_topic(space, dead_letter_topic("probe"), expect=1, timeout=3) == []

    async def healthy() -> bool:
        return consumer.health().state == "ok"

    await eventually(healthy, what="health ok once the backlog is applied")


async def test_a_batch_is_applied_as_a_set_and_unhandled_events_never_touch_the_database(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    statements: list[str] = []
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    event.listen(engine.sync_engine.pool, "checkout", lambda *a: checkouts.append(1))
    # One ticket's events (one partition), with each of the first five delivered twice in a row.
    envs = [envelope(opened(subject=f"s{i}"), "set") for i in range(40)]
    messages = [wire(e) for e in envs[:5] for _ in range(2)] + [wire(e) for e in envs[5:]]
    await produce_raw(space, messages)
    start(make_consumer(space, engine, batch_size=500), running)
    expected = [f"s{i}" for i in range(40)]
    assert await eventually(lambda: _when(subjects(engine, "set"), expected), what="all 40 applied") == expected
    applying = [s for s in statements if "seen" in s or "inbox" in s or "SAVEPOINT" in s.upper()]
    inbox_inserts = [s for s in applying if s.startswith("INSERT INTO inbox")]
    assert 1 <= len(inbox_inserts) <= 2  # one per batch (the broker may hand them over in two)
    assert not [s for s in applying if "SAVEPOINT" in s.upper()]

    # Events the service has no handler for: skipped without a connection from the pool.
    statements.clear()
    checkouts.clear()
    others = [
        new_envelope(TicketReopened(by="a", reason="r"), ticket_id="set", producer="t", clock=SystemClock())
        for _ in range(20)
    ]
    where = await produce_raw(space, [wire(e) for e in others])
    await eventually(lambda: _past(space, where[-1]), what="the unhandled events committed past")
    assert checkouts == []
    assert statements == []


async def _when(probe: Any, expected: list[str]) -> list[str] | None:
    got = await probe
    return got if got == expected else None


class CountingCommits(EventConsumer):
    """Counts the offset commits it sends (each one a round trip to the broker)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits = 0

    async def _commit(
        self, consumer: Any, idle: dict[TopicPartition, int], offsets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        self.commits += 1
        return await super()._commit(consumer, idle, offsets)


async def test_events_that_are_not_ours_are_committed_with_the_next_batch_that_changes_something(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    """Batches of events the consumer has no handler for send no offset commit of their own."""
    consumer = CountingCommits(
        engine,
        service="probe",
        handlers={"TicketOpened": remember},
        bootstrap_servers=space.servers.bootstrap_servers,
        clock=SystemClock(),
        topic_prefix=space.prefix,
        group_id=f"{space.prefix}probe",
        idle_commit_seconds=3600,
    )
    start(consumer, running)
    ignored = []
    for _ in range(3):  # one at a time: batches of their own, most likely
        ignored += await produce_raw(space, [wire(envelope(reopened(), "not-ours"))])
        await asyncio.sleep(0.3)
    await produce_raw(space, [wire(envelope(opened(subject="ours"), "not-ours"))])
    assert await eventually(lambda: subjects(engine, "not-ours"), what="the event that is ours") == ["ours"]
    for where in ignored:
        await eventually(lambda where=where: _past(space, where), what="the offset committed past the skipped events")
    assert consumer.commits == 1


async def test_events_that_are_not_ours_are_committed_when_nothing_else_comes(
    space: Sandbox, engine: AsyncEngine, running: list[tuple[asyncio.Event, "asyncio.Task[None]"]]
) -> None:
    start(make_consumer(space, engine, idle_commit_seconds=0.5), running)
    where = await produce_raw(space, [wire(envelope(reopened(), "quiet")), wire(envelope(reopened(), "quiet"))])
    await eventually(lambda: _past(space, where[1]), what="the offset committed past the skipped events")
