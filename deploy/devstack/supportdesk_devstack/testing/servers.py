"""The real servers a test runs on: one Kafka broker and one PostgreSQL for the test session.

They start embedded (throw-away data, free ports) unless KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL
name servers of your own. Tests isolate themselves by topic prefix and database name, not by
fakes: each test gets its own topics and its own databases on the same real servers.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, event

from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.db import drop_database, plumbing_tables

from ..cli import Servers
from ..config import StackConfig
from ..process import free_port

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    # Not under pytest's basetemp: pytest deletes all but its three newest basetemps, so another
    # pytest run starting meanwhile would delete a live server's data directory.
    with tempfile.TemporaryDirectory(prefix="supportdesk-stack-") as data_dir:
        yield from _servers(Path(data_dir))


def _servers(data_dir: Path) -> Iterator[Servers]:
    env = StackConfig.from_env()
    config = StackConfig(
        data_dir=data_dir,
        cache_dir=env.cache_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        external_kafka=env.external_kafka,
        external_database_url=env.external_database_url,
    )
    stack = Servers(config, durable=False)
    stack.start()
    yield stack
    stack.stop()


@dataclass
class Sandbox:
    """One test's private corner of the shared servers: topic prefix and database names.
    Consumers named "probe" (plumbing tests) get a dead-letter topic too."""

    servers: Servers
    prefix: str
    databases: list[str] = field(default_factory=list)

    def database(self, service: str) -> str:
        name = f"t_{self.prefix.strip('.')}_{service.replace('-', '_')}"
        self.databases.append(name)
        return name

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.bootstrap_servers,
            "DATABASE_URL": self.servers.database_url,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            # Tests, benches and chaos push hundreds of tickets from 127.0.0.1: not rate limited.
            "SUPPORTDESK_RATE_LIMITS": "off",
        }


@pytest_asyncio.fixture
async def space(servers: Servers) -> AsyncIterator[Sandbox]:
    ts = Sandbox(servers, prefix=f"t{uuid.uuid4().hex[:10]}.")
    await ensure_topics(servers.bootstrap_servers, ts.prefix, partitions=3, extra_consumers=("probe",))
    yield ts
    for db in ts.databases:
        await drop_database(servers.database_url, db)


async def make_database(space: Sandbox, name: str, metadata: Any) -> Any:
    """A fresh database on the shared server with `metadata`'s tables: for plumbing tests that
    need tables but not a service's migrations. Returns its AsyncEngine; dispose it after."""
    from supportdesk_messaging.db import create_engine, ensure_database

    database = space.database(name)
    await ensure_database(space.servers.database_url, database)
    engine = create_engine(space.servers.database_url, database)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


@pytest.fixture
def tables() -> MetaData:
    """The tables the `engine` fixture's database gets: the plumbing tables (outbox, inbox) unless
    a test module overrides this fixture with its own MetaData."""
    metadata = MetaData()
    plumbing_tables(metadata)
    return metadata


@pytest_asyncio.fixture
async def engine(space: Sandbox, tables: MetaData) -> AsyncIterator[AsyncEngine]:
    """A fresh database with `tables` (no service's migrations), disposed after the test."""
    eng: AsyncEngine = await make_database(space, "engine", tables)
    yield eng
    await eng.dispose()


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    """One value read from a service's database (what a test observes, e.g. a count); None if no row."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def equals(engine: AsyncEngine, sql: str, expected: int) -> bool:
    """For `eventually`: whether `sql`'s one value is `expected` yet."""
    return bool(await scalar(engine, sql) == expected)


class StatementLog:
    """The SQL an engine sends while started (SQLAlchemy's `before_cursor_execute`), whitespace
    folded: how a test counts round trips."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sent: list[str] = []

    def start(self) -> StatementLog:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._seen)
        return self

    def stop(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._seen)

    def __enter__(self) -> StatementLog:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(" ".join(statement.split()))

    def count(self, start: str) -> int:
        """Statements beginning with `start`."""
        return sum(s.startswith(start) for s in self.sent)

    def containing(self, part: str) -> int:
        return sum(part in s for s in self.sent)


async def produce(space: Sandbox, topic: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    """Write raw (key, value) messages to `topic` (unprefixed name), as any producer could."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=space.servers.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(space.prefix + topic, value=value, key=key)
    finally:
        await producer.stop()


async def read_topic(space: Sandbox, topic: str, *, expect: int, timeout: float = 30.0) -> list[Any]:
    """Read `topic` (unprefixed name) from the start until `expect` messages are in, or time out."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        space.prefix + topic,
        bootstrap_servers=space.servers.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(msgs)
    finally:
        await consumer.stop()
    return got
