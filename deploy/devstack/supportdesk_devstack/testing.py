"""Pytest fixtures on real servers: one Kafka broker and one PostgreSQL for the test session.

They start embedded (throw-away data, free ports) unless KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL
name servers of your own. Tests isolate themselves by topic prefix and database name, not by
fakes: each test gets its own topics and its own databases on the same real servers.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber
from sqlalchemy import event

from supportdesk_contract.catalogue import Event
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.consumer import EventConsumer, Handler
from supportdesk_messaging.db import drop_database

from .cli import BIN, Servers
from .config import StackConfig
from .process import ManagedProcess, wait_until

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

TEST_API_KEY = "test-agent-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `probe` until it returns a truthy value; fail after `timeout` naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        last = value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@dataclass
class RunningService:
    name: str
    url: str
    process: ManagedProcess
    # What `restart` needs to bring the same replica back: same port, database and consumer group.
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def client(self, api_key: str | None = TEST_API_KEY) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    def kill(self) -> None:
        """SIGKILL, mid-whatever it was doing."""
        self.process.kill()

    def restart(self, *, wait: bool = True) -> None:
        self.process.stop()
        self.process = _serve(self.name, self.env, self.url, self.log or Path(f"{self.name}.log"), wait=wait)

    def ready(self) -> bool:
        return _ready(self.url)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _migrate(name: str, env: dict[str, str]) -> None:
    migrated = subprocess.run([str(BIN / name), "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise AssertionError(f"{name} migrate failed:\n{migrated.stdout}\n{migrated.stderr}")


def _serve(name: str, env: dict[str, str], url: str, log: Path, *, wait: bool = True) -> ManagedProcess:
    proc = ManagedProcess(name, [str(BIN / name), "serve"], log, env=env)
    if wait:
        wait_until(lambda: _ready(url), timeout=60, what=f"{name} service", alive=proc.alive, log=proc.log)
    return proc


def start_service(name: str, space: Sandbox, log_dir: Path, extra_env: dict[str, str] | None = None) -> RunningService:
    """Migrate and serve one service as a real process, the way `make run` does."""
    return start_replicas(name, space, log_dir, 1, extra_env)[0]


def start_replicas(
    name: str, space: Sandbox, log_dir: Path, replicas: int, extra_env: dict[str, str] | None = None
) -> list[RunningService]:
    """Migrate once, then serve `replicas` processes of one service: each on its own free port,
    all on the same database and consumer group (as `devstack run --replicas N`)."""
    package = name.replace("-", "_").upper()
    common = {
        **space.env(),
        f"{package}_DATABASE_NAME": space.database(name),
        f"{package}_API_KEYS": TEST_API_KEY,
        **(extra_env or {}),
    }
    _migrate(name, common)
    started: list[RunningService] = []
    for i in range(replicas):
        port = free_port()
        env = {**common, f"{package}_PORT": str(port)}
        url = f"http://127.0.0.1:{port}"
        log = log_dir / (f"{name}.log" if i == 0 else f"{name}-{i + 1}.log")
        started.append(RunningService(name, url, _serve(name, env, url, log), env, log))
    return started


@pytest.fixture
def services(space: Sandbox, tmp_path: Path) -> Iterator[Callable[..., RunningService]]:
    """Start services by name; all are stopped at the end of the test."""
    started: list[RunningService] = []

    def start(name: str, **extra_env: str) -> RunningService:
        svc = start_service(name, space, tmp_path, extra_env)
        started.append(svc)
        return svc

    yield start
    for svc in reversed(started):
        svc.process.stop()
    if sys.exc_info()[0] is not None:  # pragma: no cover - diagnostics only
        for svc in started:
            print(svc.process.log.read_text()[-3000:])


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


class SmtpSink:
    """A real SMTP server on a free loopback port (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []  # email.message.EmailMessage, parsed
        self.received_at: list[float] = []  # time.monotonic() of each message, in the same order
        self.recipients: list[str] = []  # envelope RCPT TO, in order
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.received_at.append(time.monotonic())
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


class OutOfStepProducer:
    """The state aiokafka's idempotent producer can be left in after a broker outage
    (aio-libs/aiokafka#1017): connected to the real broker, and every batch refused with
    OutOfOrderSequenceNumber. Stands in where an AIOKafkaProducer is made."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.real = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all")
        self.client = self.real.client

    async def start(self) -> None:
        await self.real.start()

    async def stop(self) -> None:
        await self.real.stop()

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refused.set_exception(OutOfOrderSequenceNumber())
        return refused

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self.send(*args, **kwargs))


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    body: bytes
    verified: bool  # the Standard Webhooks signature checks out with the sink's secret
    at: float  # time.monotonic() when it arrived


class WebhookSink:
    """A real HTTP endpoint on a free loopback port that keeps every webhook it receives and checks
    each signature with the reference `standardwebhooks` package (as a receiver would)."""

    def __init__(self, secret: str) -> None:
        import http.server
        import threading

        from standardwebhooks import Webhook

        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        verifier = Webhook(secret)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                sink.received.append(ReceivedWebhook(headers.get("webhook-id", ""), body, verified, time.monotonic()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    """One value read from a service's database (what a test observes, e.g. a count)."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def equals(engine: AsyncEngine, sql: str, expected: int) -> bool:
    """For `eventually`: whether `sql`'s one value is `expected` yet."""
    return bool(await scalar(engine, sql) == expected)


class CuttableLink:
    """A TCP path to a real server that a test can cut and restore: an outage of the network
    between one client and the server, the server itself untouched (other tests keep using it).
    `cut` drops every open connection and refuses new ones; `restore` listens again, same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CuttableLink:
        await self.restore()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._join, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()  # a reset, as a broken network shows it to the client
        self._pipes.clear()

    async def _join(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._pipes |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.transport.abort()
                self._pipes.discard(writer)

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


def as_messages(
    payloads: list[tuple[str, Event]], clock: Clock, producer: str = "test"
) -> list[tuple[bytes | None, bytes | None]]:
    """(ticket id, event payload) pairs as raw Kafka (key, value) messages for `produce`."""
    return [encode(new_envelope(p, ticket_id=t, producer=producer, clock=clock))[:2] for t, p in payloads]


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


@asynccontextmanager
async def consuming(
    space: Sandbox,
    engine: AsyncEngine,
    service: str,
    handlers: Mapping[str, Handler],
    clock: Clock,
    batch_size: int = 500,
) -> AsyncIterator[EventConsumer]:
    """`service`'s consumer with these handlers on the sandbox's topics (its own group), running
    until the block ends, then stopped and waited for."""
    stop = asyncio.Event()
    consumer = EventConsumer(
        engine,
        service=service,
        handlers=handlers,
        clock=clock,
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        batch_size=batch_size,
        group_id=f"{space.prefix}{service}",
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
