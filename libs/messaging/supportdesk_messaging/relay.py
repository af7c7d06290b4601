"""Relaying the outbox to Kafka in order (rows are recorded by `outbox.record`).

The `OutboxRelay` publishes unpublished rows in `position` order with an idempotent producer,
woken by LISTEN/NOTIFY. If it crashes between publishing and marking, rows are published again:
delivery is at least once, and every consumer's inbox makes that harmless.

Fencing: one relay per database publishes. It holds a session advisory lock on one dedicated
connection, which also LISTENs, reads the rows and marks them: if that connection is lost
(PostgreSQL restart), the lock is gone with it, so the relay stops, reconnects, re-LISTENs and
takes the lock again (or stands by) before publishing anything more.

Parking: a row that can never be published (over `catalogue.MAX_EVENT_BYTES`, refused by the
broker as too large) gets `failed_at` + `failure_reason` and is skipped; later rows of its ticket
wait behind it (per-ticket order), other tickets flow. A broker that is down is retried, never
parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import MAX_EVENT_BYTES
from supportdesk_contract.envelope import wire_headers
from supportdesk_contract.topics import MAX_MESSAGE_BYTES
from supportdesk_messaging.db import OUTBOX_CHANNEL, PARKED, connect
from supportdesk_messaging.kafka_security import kafka_client_options
from supportdesk_messaging.producers import needs_new_producer
from supportdesk_messaging.timers import first_of, pause
from supportdesk_observability import metrics, tracing
from supportdesk_observability.health import HEALTHY, Health

log = logging.getLogger(__name__)

# One relay per service database publishes; others wait on this lock (order needs one writer).
_RELAY_LOCK_KEY = 0x5D_0B_0C

# Errors that are about the record itself: retrying cannot help, so the row is parked.
_RECORD_FAULTS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)

_BATCH = """
SELECT e.position, e.topic, e.ticket_id, e.event_type, e.event_id::text AS event_id,
       e.envelope->>'schema_version' AS schema_version, e.envelope->>'correlation_id' AS correlation_id,
       e.envelope::text AS value, e.trace_context::text AS trace_context
FROM events e
WHERE e.published_at IS NULL AND e.failed_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM events p WHERE p.ticket_id = e.ticket_id AND p.position < e.position
        AND p.failed_at IS NOT NULL AND p.published_at IS NULL
  )
ORDER BY e.position
LIMIT $1
"""
_MARK_PUBLISHED = "UPDATE events SET published_at = now() WHERE position = ANY($1::bigint[])"
# The next read marks what the last batch published (a round trip less per batch while commits keep
# coming). Its SELECT sees the rows as they were before the CTE's UPDATE, so it leaves them out itself.
_MARK_AND_BATCH = _BATCH.replace(
    "SELECT e.position,",
    "WITH marked AS (UPDATE events SET published_at = now() WHERE position = ANY($2::bigint[]))\nSELECT e.position,",
).replace("WHERE e.published_at IS NULL AND", "WHERE e.published_at IS NULL AND e.position <> ALL($2::bigint[]) AND")
_MARK_PARKED = """
UPDATE events SET failed_at = now(), failure_reason = r.reason
FROM unnest($1::bigint[], $2::text[]) AS r(position, reason)
WHERE events.position = r.position
"""
_STATS = f"""
WITH parked AS (SELECT DISTINCT ticket_id FROM events WHERE {PARKED})
SELECT
  count(*) FILTER (WHERE e.failed_at IS NULL AND p.ticket_id IS NULL) AS waiting,
  count(*) FILTER (WHERE e.failed_at IS NULL AND p.ticket_id IS NOT NULL) AS held,
  count(*) FILTER (WHERE e.failed_at IS NOT NULL) AS parked,
  coalesce(extract(epoch FROM now() - min(e.recorded_at) FILTER (WHERE e.failed_at IS NULL AND p.ticket_id IS NULL)), 0)
    AS oldest_age,
  min(e.position) FILTER (WHERE e.failed_at IS NULL AND p.ticket_id IS NULL) AS oldest_position
FROM events e LEFT JOIN parked p USING (ticket_id)
WHERE e.published_at IS NULL
"""


@dataclass(frozen=True)
class OutboxStats:
    waiting: int  # rows the relay may publish now
    held: int  # rows waiting behind a parked row of their ticket
    parked: int
    oldest_age: float  # seconds, of the oldest row in `waiting`
    oldest_position: int | None = None


class _ConnectionLost(Exception):
    """The relay's own connection (lock + LISTEN) closed: the lock is gone with it."""


_DATABASE_DOWN = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, _ConnectionLost)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        idle_poll_seconds: float = 2.0,
        stall_seconds: float = 60.0,
        reconnect_seconds: float = 0.5,
        stats_seconds: float = 5.0,
        max_event_bytes: int = MAX_EVENT_BYTES,
        wake_linger_seconds: float = 0.005,
    ) -> None:
        self.engine = engine
        self.wake_linger_seconds = wake_linger_seconds
        # Published, to be marked by the next batch's read, which follows at once (see publish_batch).
        self._unmarked: list[int] = []
        self.service = service
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.stall_seconds = stall_seconds
        self.reconnect_seconds = reconnect_seconds
        self.stats_seconds = stats_seconds
        self.max_event_bytes = max_event_bytes
        self.producer: AIOKafkaProducer | None = None
        self.active = False  # holds the lock on a live connection: the one publisher of this database
        self.stats: OutboxStats | None = None
        # Durations for health use the monotonic clock: they are about this process, not the domain.
        self._last_progress = time.monotonic()
        self._kafka_error: str | None = None
        self._database_error: str | None = None
        self._sending_since: float | None = None
        self._drained_seen = time.monotonic()
        # Set on every NOTIFY of a commit that recorded events (on standby replicas too): work
        # that must follow such commits (intake's key publisher) waits on it instead of polling.
        self.commits = asyncio.Event()

    # --- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        watcher = asyncio.create_task(self._watch(stop))
        try:
            self.producer = await self._start_producer(stop)
            if self.producer is None:
                return
            while not stop.is_set():
                try:
                    await self._session(stop)
                except _DATABASE_DOWN as e:
                    self._database_error = f"{type(e).__name__}: {e}"
                    log.warning("outbox relay lost its database connection; reconnecting: %s", self._database_error)
                    if await pause(stop, self.reconnect_seconds):
                        return
        finally:
            self._set_active(False)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if self.producer is not None:
                await self.producer.stop()
                self.producer = None  # intake's key publisher sends through it: not a stopped one

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            **kafka_client_options(),
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            compression_type="zstd",
            max_request_size=MAX_MESSAGE_BYTES,  # = the topics' max.message.bytes (admin.py)
            request_timeout_ms=15000,
        )

    async def _start_producer(self, stop: asyncio.Event) -> AIOKafkaProducer | None:
        """Started once and kept across database reconnects; a broker that is down is waited for."""
        while not stop.is_set():
            producer = self._new_producer()
            try:
                await producer.start()
                self._kafka_error = None
                return producer
            except KafkaError as e:
                await producer.stop()
                self._kafka_error = f"{type(e).__name__}: {e}"
                log.warning("outbox relay cannot reach Kafka; retrying: %s", self._kafka_error)
                if await pause(stop, 2.0):
                    return None
        return None

    async def _renew_producer(self, stop: asyncio.Event) -> None:
        """Replace a producer that lost step with the broker (see `producers`) by a new one."""
        old, self.producer = self.producer, None
        if old is not None:
            with contextlib.suppress(Exception):  # it may be unable to flush; its rows are not marked
                await asyncio.wait_for(old.stop(), 5)
        self.producer = await self._start_producer(stop)
        metrics.OUTBOX_PRODUCER_RENEWALS.labels(self.service).inc()

    async def _session(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection[Any] = await connect(self.engine.url, command_timeout=30)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        woken = asyncio.Event()
        try:

            def notified(*_: object) -> None:
                woken.set()
                self.commits.set()

            await conn.add_listener(OUTBOX_CHANNEL, notified)
            self._database_error = None
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                await first_of(self.idle_poll_seconds, stop, lost)
                if stop.is_set():
                    return
                if lost.is_set():
                    raise _ConnectionLost("while standing by")
            self._set_active(True)
            log.info("outbox relay active", extra={"service": self.service})
            self._unmarked = []  # a previous session's: published again (at least once)
            failures = 0
            while not stop.is_set():
                if lost.is_set():
                    raise _ConnectionLost("while publishing")
                woken.clear()
                try:
                    published = await self.publish_batch(conn, more=woken)
                except KafkaError as e:  # the broker, not the rows: retry, never park
                    failures += 1
                    self._kafka_error = f"{type(e).__name__}: {e}"
                    log.warning("outbox relay cannot publish to Kafka; retrying: %s", self._kafka_error)
                    if needs_new_producer(e, failures):
                        log.warning("outbox relay starts a new Kafka producer after %d failures", failures)
                        await self._renew_producer(stop)
                        failures = 0
                    await first_of(1.0, stop, lost)
                    continue
                failures = 0
                if published < self.batch_size:
                    await first_of(self.idle_poll_seconds, stop, woken, lost)
                    if woken.is_set() and self.wake_linger_seconds:
                        # Commits arriving together (one NOTIFY each) go out as one batch: one read
                        # and one mark for them all instead of per ticket.
                        await first_of(self.wake_linger_seconds, stop, lost)
        finally:
            self._set_active(False)
            if self._unmarked and not lost.is_set():
                with contextlib.suppress(*_DATABASE_DOWN, TimeoutError):  # else published again: at least once
                    await asyncio.wait_for(self._mark_unmarked(conn), 5)
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # a connection to a server that went away cannot close politely
                conn.terminate()

    async def _mark_unmarked(self, conn: asyncpg.Connection[Any]) -> None:
        await conn.execute(_MARK_PUBLISHED, self._unmarked)
        self._unmarked = []

    def _set_active(self, active: bool) -> None:
        self.active = active
        metrics.OUTBOX_RELAY_ACTIVE.labels(self.service).set(1 if active else 0)

    async def publish_batch(self, conn: asyncpg.Connection[Any], more: asyncio.Event | None = None) -> int:
        """Publish the next batch on the relay's own (lock-holding) connection; return how many
        rows were published. Rows that can never be published are parked, and the rest of their
        ticket's rows in this batch wait for the next (which skips them while the row is parked).
        If `more` is set once they are sent (commits notified meanwhile), the rows are marked by
        the next batch's read, which the caller runs at once: a round trip less while busy."""
        assert self.producer is not None
        if self._unmarked:
            rows = await conn.fetch(_MARK_AND_BATCH, self.batch_size, self._unmarked)
            self._unmarked = []
        else:
            rows = await conn.fetch(_BATCH, self.batch_size)
        if not rows:
            self._progress()
            return 0
        blocked: set[str] = set()
        parked: list[tuple[int, str]] = []
        sends: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        spans: dict[int, tracing.Span | None] = {}
        self._sending_since = time.monotonic()
        try:
            for row in rows:
                if row["ticket_id"] in blocked:
                    continue
                value = row["value"].encode("utf-8")
                reason = None
                if len(value) > self.max_event_bytes:
                    reason = f"the event is {len(value)} bytes, over the {self.max_event_bytes}-byte event limit"
                else:
                    headers = wire_headers(
                        row["event_type"], row["schema_version"], row["event_id"], row["correlation_id"]
                    )
                    topic = self.topic_prefix + row["topic"]
                    spans[row["position"]] = tracing.publish_span(row["trace_context"], topic, row, headers)
                    try:
                        future = await self.producer.send(
                            topic,
                            value=value,
                            key=row["ticket_id"].encode(),
                            headers=headers,
                        )
                    except _RECORD_FAULTS as e:
                        tracing.end_publish(spans.pop(row["position"]), e)
                        reason = f"Kafka refused it: {type(e).__name__}: {e}"
                    else:
                        sends.append((row, future))
                if reason is not None:
                    parked.append((row["position"], reason))
                    blocked.add(row["ticket_id"])
            results = await asyncio.gather(*(f for _, f in sends), return_exceptions=True)
        except BaseException as e:  # the broker, mid-batch: these rows are retried; their spans say why
            for span in spans.values():
                tracing.end_publish(span, e)
            raise
        finally:
            self._sending_since = None
        published: list[int] = []
        broker_error: BaseException | None = None
        for (row, _), result in zip(sends, results, strict=True):
            tracing.end_publish(spans.pop(row["position"], None), result)
            if isinstance(result, _RECORD_FAULTS):
                parked.append((row["position"], f"Kafka refused it: {type(result).__name__}: {result}"))
            elif isinstance(result, BaseException):
                broker_error = broker_error or result
            else:
                published.append(row["position"])
        # What reached Kafka is marked even when some sends failed: fewer duplicates on the retry.
        if parked:
            async with conn.transaction():
                if published:
                    await conn.execute(_MARK_PUBLISHED, published)
                await conn.execute(_MARK_PARKED, [p for p, _ in parked], [r for _, r in parked])
        elif published and broker_error is None and more is not None and more.is_set():
            self._unmarked = published
        elif published:  # one statement is its own transaction: no BEGIN and COMMIT round trips
            await conn.execute(_MARK_PUBLISHED, published)
        for position, reason in parked:
            log.error("outbox row %s parked: %s", position, reason, extra={"service": self.service})
        if parked:
            metrics.OUTBOX_PARKED_TOTAL.labels(self.service).inc(len(parked))
        if published:
            metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(published))
        if broker_error is not None:
            raise broker_error
        self._progress()
        return len(published)

    def _progress(self) -> None:
        self._last_progress = time.monotonic()
        self._kafka_error = None

    # --- what it says about itself ----------------------------------------------------------

    async def refresh_stats(self) -> OutboxStats:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(_STATS))).one()
        stats = OutboxStats(
            int(row.waiting), int(row.held), int(row.parked), float(row.oldest_age), row.oldest_position
        )
        if self.stats is None or stats.oldest_position != self.stats.oldest_position:
            self._drained_seen = time.monotonic()  # whoever holds the lock, the outbox moved
        self.stats = stats
        metrics.OUTBOX_UNPUBLISHED.labels(self.service).set(stats.waiting)
        metrics.OUTBOX_HELD.labels(self.service).set(stats.held)
        metrics.OUTBOX_PARKED.labels(self.service).set(stats.parked)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(stats.oldest_age)
        return stats

    async def _watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh_stats()
            except Exception as e:  # the database being down is reported by readiness; keep watching
                log.debug("outbox stats unavailable: %s", e)
            if not self.active and self.producer is not None:
                await self._probe_kafka()
            if await pause(stop, self.stats_seconds):
                return

    async def _probe_kafka(self) -> None:
        """A standby sends nothing, so it asks the broker for metadata to know whether it answers."""
        assert self.producer is not None
        try:
            async with asyncio.timeout(5):
                await self.producer.client.fetch_all_metadata()
            self._kafka_error = None
        except (KafkaError, TimeoutError) as e:
            self._kafka_error = f"{type(e).__name__}: {e}"

    def health(self) -> Health:
        """`failing`: rows wait longer than `stall_seconds` and nothing was published meanwhile;
        `degraded`: Kafka unreachable while the outbox buffers, rows parked, or reconnecting."""
        stats = self.stats
        waiting = "" if stats is None else f"; {stats.waiting} events waiting, oldest {stats.oldest_age:.0f}s"
        now = time.monotonic()
        if self._database_error is not None:
            return Health("degraded", f"reconnecting to the database ({self._database_error}){waiting}")
        if self._kafka_error is not None:
            return Health("degraded", f"Kafka unreachable, the outbox buffers ({self._kafka_error}){waiting}")
        if self._sending_since is not None and now - self._sending_since > self.stall_seconds / 2:
            return Health("degraded", f"waiting {now - self._sending_since:.0f}s for Kafka to acknowledge{waiting}")
        if stats is not None and stats.oldest_age > self.stall_seconds:
            if self.active:
                if now - self._last_progress > self.stall_seconds:
                    return Health("failing", f"nothing published for {now - self._last_progress:.0f}s{waiting}")
            elif now - self._drained_seen > self.stall_seconds:
                # A standby cannot publish, but the database's outbox is not draining: that is news.
                return Health("failing", f"not drained by the replica holding the relay lock{waiting}")
        if stats is not None and stats.parked:
            return Health(
                "degraded",
                f"{stats.parked} events parked, {stats.held} waiting behind them (GET /v1/ops/outbox/parked)",
            )
        if not self.active:
            return Health("ok", "standby: another replica holds the relay lock")
        return HEALTHY
