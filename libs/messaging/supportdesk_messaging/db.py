"""Each service's database: its own read model beside the two tables every service has.

- `events`: everything the service has decided, in order. It is the service's outbox: the relay
  publishes rows with `published_at IS NULL`. A unique `event_id` makes derived events idempotent.
  A row that can never be published is parked (`failed_at`, `failure_reason`); later rows of its
  ticket wait behind it, other tickets' rows flow. `trace_context` carries the recording span's
  W3C trace context to the relay when tracing is on.
- `inbox`: ids of events this service has consumed, written in the same transaction as their effect.
- `dead_letters`: messages the consumer could not apply, raw (key, value, headers) with the reason and
  where they came from; a redrive is recorded on the row (see `redrive`).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

T = TypeVar("T")

OUTBOX_CHANNEL = "supportdesk_outbox"
PARKED = "failed_at IS NOT NULL AND published_at IS NULL"


def plumbing_tables(metadata: MetaData) -> tuple[Table, Table]:
    events = Table(
        "events",
        metadata,
        Column("position", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("ticket_id", Text, nullable=False),
        # Set by services that keep aggregates: (ticket_id, stream_version) unique serialises
        # concurrent commands on one ticket.
        Column("stream_version", Integer, nullable=True),
        Column("event_type", Text, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # Database time, not the service's clock: the outbox's age is about the infrastructure.
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("failed_at", DateTime(timezone=True), nullable=True),
        Column("failure_reason", Text, nullable=True),
        # W3C trace context (traceparent, tracestate) of the span that recorded the row, for the
        # relay's Kafka headers; NULL when tracing is off (tracing.py).
        Column("trace_context", JSONB(none_as_null=True), nullable=True),
        Index("events_unpublished", "position", postgresql_where=text("published_at IS NULL")),
        Index("events_parked", "ticket_id", "position", postgresql_where=text(PARKED)),
        Index("events_by_ticket", "ticket_id", "position"),
        Index(
            "events_stream_version",
            "ticket_id",
            "stream_version",
            unique=True,
            postgresql_where=text("stream_version IS NOT NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    dead_letter_table(metadata)  # every consumer keeps its dead letters (see `redrive`)
    return events, inbox


PENDING = "redriven_at IS NULL"


def dead_letter_table(metadata: MetaData) -> Table:
    """One row per message the consumer dead-lettered, kept whole (the dead-letter topic may hold a
    truncated copy), unique by where it came from so a re-delivered failure is one row."""
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("consumer", Text, nullable=False),
        Column("source_topic", Text, nullable=False),
        Column("source_partition", Integer, nullable=False),
        Column("source_offset", BigInteger, nullable=False),
        Column("source_timestamp_ms", BigInteger, nullable=True),
        Column("event_id", UUID(as_uuid=True), nullable=True),  # none when the message could not be read
        Column("event_type", Text, nullable=True),
        Column("ticket_id", Text, nullable=True),
        Column("reason_class", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=True),
        # [[name, base64 of the value]]: header values are bytes, kept as they came.
        Column("headers", JSONB, nullable=False),
        Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
        Column("redriven_at", DateTime(timezone=True), nullable=True),
        Column("redriven_by", Text, nullable=True),
        Column("redrive_outcome", Text, nullable=True),  # applied, duplicate, ignored
        Column("redrive_attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_redrive_error", Text, nullable=True),
        UniqueConstraint("consumer", "source_topic", "source_partition", "source_offset", name="dead_letters_source"),
        Index("dead_letters_pending", "id", postgresql_where=text(PENDING)),
    )


def service_url(server_url: str, database: str) -> URL:
    """The async SQLAlchemy URL of `database` on the server of `server_url`."""
    return make_url(server_url).set(drivername="postgresql+asyncpg", database=database)


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# libpq's TLS parameters, as operators write them in a DATABASE_URL (`?sslmode=verify-full&sslrootcert=...`).
LIBPQ_TLS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class DatabaseTlsError(ValueError):
    """A DATABASE_URL's TLS parameters make no sense; the message names the parameter."""


def tls_for(params: Mapping[str, Any]) -> ssl.SSLContext | str | None:
    """asyncpg's `ssl` argument for libpq's parameters, with libpq's meaning: `require` encrypts
    without checking the certificate (unless `sslrootcert` is given: then, as in libpq, it is
    `verify-ca`); `verify-ca` checks it against `sslrootcert`; `verify-full` also checks the host
    name. No `sslrootcert` (or `system`) means the system's CAs. None: nothing asked, asyncpg's
    default (`prefer`). `sslcert`/`sslkey` present a client certificate."""
    given = {k: str(params[k]) for k in LIBPQ_TLS if params.get(k) not in (None, "")}
    if not given:
        return None
    mode = given.get("sslmode", "prefer")
    if mode not in SSLMODES:
        raise DatabaseTlsError(f"DATABASE_URL's sslmode must be one of {', '.join(SSLMODES)}")
    if mode == "require" and "sslrootcert" in given:
        mode = "verify-ca"
    if mode in ("disable", "allow", "prefer"):
        return mode  # asyncpg reads these as libpq does (no certificate check)
    root = given.get("sslrootcert")
    context = ssl.create_default_context(cafile=None if root in (None, "system") else root)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.check_hostname = mode == "verify-full"
    if "sslcert" in given:
        context.load_cert_chain(given["sslcert"], given.get("sslkey"), given.get("sslpassword"))
    return context


def _libpq_tls(_dialect: object, _record: object, _cargs: object, cparams: dict[str, Any]) -> None:
    """SQLAlchemy hands a URL's query to asyncpg as keyword arguments, and asyncpg takes none of
    libpq's names (`sslmode=require` fails with a TypeError); translate them into its `ssl`."""
    params = {k: cparams.pop(k) for k in LIBPQ_TLS if k in cparams}
    tls = tls_for(params)
    if tls is not None:
        cparams["ssl"] = tls


def async_engine(url: URL | str, **options: Any) -> AsyncEngine:
    """Every engine of ours: libpq's TLS parameters honoured, and no bound values in error texts."""
    engine = create_async_engine(url, hide_parameters=True, **options)
    event.listen(engine.sync_engine, "do_connect", _libpq_tls)
    return engine


async def connect(url: URL | str, **options: Any) -> asyncpg.Connection[Any]:
    """A plain asyncpg connection (LISTEN, COPY, admin work) with the same TLS as the engines."""
    url = make_url(url)
    query = dict(url.query)
    tls = tls_for(query)
    dsn = asyncpg_dsn(url.set(query={k: v for k, v in query.items() if k not in LIBPQ_TLS}))
    return await asyncpg.connect(dsn, **({"ssl": tls} if tls is not None else {}), **options)


def create_engine(server_url: str, database: str) -> AsyncEngine:
    """The service's pool. No ping before each checkout (`pool_pre_ping` cost a round trip per
    request): a connection the server closed while it sat in the pool is already marked closed by
    asyncpg (the socket's EOF), so the checkout below swaps it for a fresh one at no cost; one that
    dies later fails its first statement, and `in_transaction` runs the work again on a fresh one."""
    # hide_parameters: an error's text never quotes the bound values (opened personal fields), so
    # logs and dead letters built from it carry none.
    engine = async_engine(service_url(server_url, database), pool_size=10, max_overflow=10)
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(_dbapi: object, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    driver = record.driver_connection
    if isinstance(driver, asyncpg.Connection) and driver.is_closed():
        raise DisconnectionError("closed by the server while pooled")  # the pool retries with a new one


async def in_transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work` in one transaction, run once more on a fresh connection if the connection turns out
    dead before the commit (nothing was committed: the server rolled it back when it closed). A
    failure of the COMMIT itself is not retried: the outcome is unknown, and the caller answers 503."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            result = await work(conn)
        except DBAPIError as e:
            if not e.connection_invalidated:
                raise
        else:
            await trans.commit()
            return result
    async with engine.begin() as conn:
        return await work(conn)


async def ensure_database(server_url: str, database: str) -> None:
    """Create the service's database on the server if it is not there yet."""
    conn = await connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def drop_database(server_url: str, database: str) -> None:
    conn = await connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
