"""The idempotent consumer every service runs.

Per batch from Kafka: one database transaction; per message a savepoint that inserts the event id
into the inbox (a duplicate stops there) and applies the service's handler. A message that cannot
be decoded, or whose handler raises, goes to the service's dead-letter topic with the reason and the
partition moves on. Offsets are committed only after the database commit (and the dead letters are
written), so a crash anywhere re-delivers, and the inbox makes re-delivery harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import metrics
from .catalogue import REGISTRY, Event
from .clock import Clock
from .envelope import Envelope, P, UndeliverableEvent, decode, derived_envelope
from .health import HEALTHY, Health
from .logs import event_context
from .outbox import INBOX, record
from .topics import dead_letter_topic

log = logging.getLogger(__name__)


@dataclass
class HandlerContext:
    """What a handler may touch: the transaction, the clock, and the service's outbox."""

    conn: AsyncConnection
    clock: Clock
    service: str

    async def emit(self, cause: Envelope[Any], payload: P, discriminator: str = "") -> Envelope[P]:
        """Record an event caused by `cause`, with an id derived from it (replay-safe)."""
        env = derived_envelope(cause, payload, producer=self.service, clock=self.clock, discriminator=discriminator)
        await record(self.conn, [env])
        return env


Handler = Callable[[HandlerContext, Envelope[Any]], Awaitable[None]]


class EventConsumer:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        handlers: Mapping[str, Handler],
        bootstrap_servers: str,
        clock: Clock,
        topic_prefix: str = "",
        batch_size: int = 200,
        group_id: str | None = None,
    ) -> None:
        unknown = set(handlers) - set(REGISTRY)
        if unknown:
            raise ValueError(f"handlers for event types that are not in the catalogue: {sorted(unknown)}")
        self.engine = engine
        self.service = service
        self.handlers = dict(handlers)
        self.bootstrap_servers = bootstrap_servers
        self.clock = clock
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        # Deployments sharing a cluster (KAFKA_TOPIC_PREFIX) must not share consumer groups either.
        self.group_id = group_id or topic_prefix + service
        self.topics = sorted({topic_prefix + REGISTRY[t].topic.value for t in handlers})
        self.dead_letter_topic = topic_prefix + dead_letter_topic(service)
        self.consumer: AIOKafkaConsumer | None = None

    def health(self) -> Health:
        """Whether the consumer is making progress (filled in by the liveness work: lag, stalls)."""
        return HEALTHY

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
        )
        dead_letters = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all", enable_idempotence=True)
        self.consumer = consumer
        await consumer.start()
        await dead_letters.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                if not batch:
                    continue
                try:
                    with metrics.BATCH_SECONDS.labels(self.service).time():
                        await self._apply(batch, dead_letters)
                    await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batch.items()})
                except CommitFailedError:
                    # A rebalance took the partitions; their new owner re-reads, the inbox dedupes.
                    log.warning("offset commit failed after rebalance; events will be re-delivered")
                except (KafkaError, OSError, Exception) as e:  # database or broker trouble: retry the batch
                    log.exception("batch failed, retrying from its first offsets: %s", e)
                    for tp, msgs in batch.items():
                        consumer.seek(tp, msgs[0].offset)
                    await asyncio.sleep(1.0)
        finally:
            await dead_letters.stop()
            await consumer.stop()

    async def _apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]], dead_letters: AIOKafkaProducer
    ) -> None:
        dead: list[tuple[ConsumerRecord[Any, Any], str]] = []
        outcomes: list[tuple[str, str]] = []
        async with self.engine.begin() as conn:
            for messages in batch.values():
                for msg in messages:
                    try:
                        env = decode(msg.value)
                    except UndeliverableEvent as e:
                        dead.append((msg, e.reason))
                        outcomes.append(("undecodable", "dead_lettered"))
                        continue
                    outcomes.append((env.event_type, await self._handle(conn, env, msg, dead)))
        # The database has committed: dead letters now, offsets after (by the caller).
        for msg, reason in dead:
            await dead_letters.send_and_wait(
                self.dead_letter_topic,
                value=msg.value,
                key=msg.key,
                headers=[
                    *[(k, v) for k, v in (msg.headers or ())],
                    ("dlq.reason", reason[:4000].encode()),
                    ("dlq.consumer", self.service.encode()),
                    ("dlq.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode()),
                ],
            )
            log.error("dead-lettered %s/%s/%s: %s", msg.topic, msg.partition, msg.offset, reason)
        for event_type, outcome in outcomes:
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc()

    async def _handle(
        self,
        conn: AsyncConnection,
        env: Envelope[Event],
        msg: ConsumerRecord[Any, Any],
        dead: list[tuple[ConsumerRecord[Any, Any], str]],
    ) -> str:
        handler = self.handlers.get(env.event_type)
        if handler is None:
            return "ignored"  # on our topic, not our business
        with event_context(env.ticket_id, env.correlation_id):
            try:
                async with conn.begin_nested():
                    first_time = (
                        await conn.execute(
                            insert(INBOX)
                            .values(consumer=self.service, event_id=env.event_id)
                            .on_conflict_do_nothing()
                            .returning(INBOX.c.event_id)
                        )
                    ).first()
                    if first_time is None:
                        return "duplicate"
                    await handler(HandlerContext(conn, self.clock, self.service), env)
            except Exception as e:
                # The savepoint rolled back this message's effects; the rest of the batch stands.
                log.exception("handler for %s failed", env.event_type)
                dead.append((msg, f"{env.event_type} handler failed: {type(e).__name__}: {e}"))
                return "dead_lettered"
        return "applied"
