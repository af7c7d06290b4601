"""The idempotent consumer every service runs; no single message can stop it.

Per batch from Kafka:
1. Decode every message. One that cannot be decoded (whatever the parser raises) is a dead letter.
   Events of types the service has no handler for are skipped without touching the database (by the
   `event_type` header when there is one, so they are not even parsed); an event id seen twice in
   the batch is applied once.
2. Apply the rest as a set, in one transaction: one INSERT of all their ids into the inbox, whose
   RETURNING says which are new, then each new event's handler in partition order (per-ticket order
   holds: a ticket's events share a partition), then the writes and events the handlers queued
   (`HandlerContext.flush`). No savepoint per message.
3. If that fails, decide whether *the world* failed or *a message* did. The world: the database or
   the broker is unreachable (connection errors, OSError, KafkaError, or the database not answering
   a probe right after): nothing is skipped; the batch is retried from its first offsets with
   backoff, for as long as it takes. A message: the batch is applied again one message at a time,
   each in a savepoint; a message whose handler raises is rolled back to its savepoint and becomes a
   dead letter, the others are applied.
4. After the database commit: dead letters (see `dead_letters`: they always fit), then offsets.
   A crash anywhere re-delivers; the inbox makes re-delivery harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import REGISTRY
from supportdesk_contract.clock import Clock
from supportdesk_contract.topics import dead_letter_topic
from supportdesk_messaging.dead_letters import DEAD_LETTER_MAX_BYTES, DeadLetter, coordinates_only, dead_letter
from supportdesk_messaging.handler_context import Handler
from supportdesk_messaging.inbox import InboxApplier, Opener
from supportdesk_messaging.kafka_security import kafka_client_options
from supportdesk_messaging.producers import needs_new_producer
from supportdesk_messaging.redrive import Failure, keep
from supportdesk_messaging.timers import pause
from supportdesk_observability import metrics
from supportdesk_observability.health import HEALTHY, Health

log = logging.getLogger(__name__)


class EventConsumer(InboxApplier):
    """The Kafka side: the loop that fetches batches, applies them (`InboxApplier`), dead-letters
    what a batch refused, commits offsets, and says how it is doing (`health`)."""

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
        stall_seconds: float = 60.0,
        dead_letter_max_bytes: int = DEAD_LETTER_MAX_BYTES,
        retry_max_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        opener: Opener | None = None,
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        idle_commit_seconds: float = 1.0,
        commit_interval_seconds: float = 0.5,
    ) -> None:
        super().__init__(
            engine,
            service=service,
            handlers=handlers,
            clock=clock,
            # Deployments sharing a cluster (KAFKA_TOPIC_PREFIX) must not share consumer groups either.
            group_id=group_id or topic_prefix + service,
            opener=opener,
        )
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.topics = sorted({topic_prefix + REGISTRY[t].topic.value for t in handlers})
        self.dead_letter_topic = topic_prefix + dead_letter_topic(service)
        self.stall_seconds = stall_seconds
        self.dead_letter_max_bytes = dead_letter_max_bytes
        self.retry_max_seconds = retry_max_seconds
        self.consumer: AIOKafkaConsumer | None = None
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_min_bytes = fetch_min_bytes
        self.idle_commit_seconds = idle_commit_seconds
        self.commit_interval_seconds = commit_interval_seconds
        # Progress is judged on a monotonic clock (elapsed time, not an instant), injectable for tests.
        self._monotonic = monotonic
        self._progress_at = monotonic()
        self._next_offset: dict[TopicPartition, int] = {}  # where each partition stands, applied
        self._lag: dict[TopicPartition, int] = {}
        self._lag_gauges: dict[TopicPartition, Gauge] = {}
        self._world_failure: str | None = None  # set while a batch is being retried
        metrics.CONSUMER_PROGRESS_AGE.labels(service).set_function(self.progress_age)

    # -- health --------------------------------------------------------------------------------

    def progress_age(self) -> float:
        """Seconds since the consumer last committed a batch or found nothing waiting."""
        return max(0.0, self._monotonic() - self._progress_at)

    def lag(self) -> dict[TopicPartition, int]:
        """Messages waiting per partition, as of the last fetch."""
        return dict(self._lag)

    def health(self) -> Health:
        """`failing` when messages are waiting and none was applied for `stall_seconds` (e.g. a
        batch retried while the database is down); `degraded` while a batch is being retried."""
        waiting = sum(self._lag.values())
        age = self.progress_age()
        if waiting > 0 and age >= self.stall_seconds:
            why = f"; retrying after {self._world_failure}" if self._world_failure else ""
            return Health("failing", f"no progress for {age:.0f}s with {waiting} messages waiting{why}")
        if self._world_failure is not None:
            return Health("degraded", f"retrying a batch from its first offsets after {self._world_failure}")
        return HEALTHY

    def _observe(self, consumer: AIOKafkaConsumer, fetched: Iterable[TopicPartition]) -> None:
        assigned = consumer.assignment()
        for tp in [tp for tp in self._next_offset if tp not in assigned]:
            del self._next_offset[tp]  # a rebalance gave it to another member
            self._lag.pop(tp, None)
            self._lag_gauges.pop(tp, None)
            with contextlib.suppress(KeyError):  # never measured
                metrics.CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))
        self._lag = {}
        for tp in self._next_offset:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self._lag[tp] = max(0, highwater - self._next_offset[tp])
                gauge = self._lag_gauges.get(tp)
                if gauge is None:  # labels() looked up once per partition, not twice per batch
                    gauge = self._lag_gauges[tp] = metrics.CONSUMER_LAG.labels(
                        self.service, tp.topic, str(tp.partition)
                    )
                gauge.set(self._lag[tp])
        if not fetched and not any(self._lag.values()):
            self._progress_at = self._monotonic()  # caught up: waiting is not stalling

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        freeze_startup_heap()
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            **kafka_client_options(),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            # The broker holds a fetch until this many bytes wait or the time is up: at a trickle, a
            # batch gathers what came in that time instead of paying the batch's fixed round trips
            # (fetch, BEGIN, inbox, COMMIT, offset commit) for every event or two.
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            fetch_min_bytes=self.fetch_min_bytes,
        )
        dead_letters = self._dead_letter_producer()
        self.consumer = consumer
        # A new member of the group (also after the supervisor restarted this loop): what the
        # previous one measured about its partitions is stale; a partition it is given again may
        # have been drained by another member meanwhile, which no batch here would ever show.
        self._next_offset.clear()
        self._lag = {}
        self._world_failure = None
        await consumer.start()
        await dead_letters.start()
        backoff = 0.5
        # Offsets are committed at most every `commit_interval_seconds` while batches apply
        # something, and after `idle_commit_seconds` when they only skipped events that are not ours
        # (e.g. intake's AutoCloseDue among every other sla event), not with a round trip of their
        # own per batch: at a steady trickle a batch is an event or two, and the commit (awaited
        # before the next fetch, and a write to __consumer_offsets on the broker) cost more than the
        # batch. The inbox, in each batch's transaction, makes the offset a hint: after a crash or
        # a rebalance the events past it are read again and skipped.
        idle: dict[TopicPartition, int] = {}
        applied_since_commit = False
        committed_at = self._monotonic()

        def commit_due() -> bool:
            wait = self.commit_interval_seconds if applied_since_commit else self.idle_commit_seconds
            return self._monotonic() - committed_at >= wait

        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                for tp, msgs in batch.items():
                    self._next_offset[tp] = msgs[0].offset
                self._observe(consumer, batch)
                if not batch:
                    if idle and commit_due():
                        try:
                            await self._commit(consumer, idle, {})
                        except KafkaError as e:  # a rebalance or the broker: the inbox skips what comes again
                            log.info("offsets not committed (%s)", e)
                        idle = {}
                        applied_since_commit = False
                        committed_at = self._monotonic()
                    continue
                try:
                    with metrics.BATCH_SECONDS.labels(self.service).time():
                        changed = await self._apply(batch, dead_letters)
                    offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
                    applied_since_commit = applied_since_commit or changed
                    if commit_due():
                        idle = await self._commit(consumer, idle, offsets)
                        applied_since_commit = False
                        committed_at = self._monotonic()
                    else:
                        idle.update(offsets)
                except (CommitFailedError, IllegalStateError) as e:
                    # A rebalance took the partitions (during the commit, or before it: aiokafka then
                    # refuses to commit a partition no longer assigned); their new owner re-reads, the
                    # inbox dedupes. Not a world failure: seeking a revoked partition would raise.
                    log.warning("offset commit failed after rebalance (%s); events will be re-delivered", e)
                    idle = {}
                    continue
                except Exception as e:
                    # Only the world gets here (a message's failure is isolated inside _apply): never
                    # skip, retry the batch from its first offsets once the database or broker is back.
                    metrics.BATCH_FAILURES.labels(self.service, "world").inc()
                    self._world_failure = f"{type(e).__name__}: {e}"[:500]
                    log.warning("batch failed (%s); retrying it from its first offsets in %.1fs", e, backoff)
                    assigned = consumer.assignment()
                    for tp, msgs in batch.items():
                        if tp in assigned:  # a revoked one is its new owner's to re-read
                            consumer.seek(tp, msgs[0].offset)
                        idle.pop(tp, None)  # not past this batch's first offset
                    if await pause(stop, backoff):
                        return
                    if needs_new_producer(e, 0):  # the dead-letter producer lost step with the broker
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(dead_letters.stop(), 5)
                        dead_letters = self._dead_letter_producer()
                        await dead_letters.start()
                    backoff = min(backoff * 2, self.retry_max_seconds)
                    continue
                backoff = 0.5
                self._world_failure = None
                for tp, msgs in batch.items():
                    self._next_offset[tp] = msgs[-1].offset + 1
                self._progress_at = self._monotonic()
                self._observe(consumer, ())
            if idle:  # stopping: what was skipped need not be read again
                with contextlib.suppress(Exception):
                    await self._commit(consumer, idle, {})
        finally:
            await dead_letters.stop()
            await consumer.stop()

    async def _commit(
        self, consumer: AIOKafkaConsumer, idle: dict[TopicPartition, int], offsets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Commit `offsets` with the idle ones still assigned here; returns the idle offsets left (none)."""
        assigned = consumer.assignment()
        await consumer.commit({**{tp: o for tp, o in idle.items() if tp in assigned}, **offsets})
        return {}

    def _dead_letter_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            **kafka_client_options(),
            acks="all",
            enable_idempotence=True,
            max_request_size=self.dead_letter_max_bytes,
        )

    async def _apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]], dead_letters: AIOKafkaProducer
    ) -> bool:
        """Apply a batch; whether it changed anything (applied or dead-lettered a message)."""
        applied = await self.apply_batch(batch)
        # The database has committed: dead letters now (kept whole in the database, where they can be
        # redriven, then to the topic), offsets after (by the caller).
        if applied.failed:
            async with self.engine.begin() as conn:
                await keep(conn, consumer=self.service, failures=applied.failed, now=self.clock.now())
        for f in applied.failed:
            await self._send_dead_letter(dead_letters, f)
        for (event_type, outcome), n in applied.outcomes.items():
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc(n)
        return applied.changed

    async def _send_dead_letter(self, producer: AIOKafkaProducer, f: Failure) -> None:
        described = dict(reason=f.reason, reason_class=f.reason_class, consumer=self.service)
        letter: DeadLetter = dead_letter(f.msg, max_bytes=self.dead_letter_max_bytes, **described)
        try:
            await producer.send_and_wait(
                self.dead_letter_topic, value=letter.value, key=letter.key, headers=letter.headers
            )
        except (MessageSizeTooLargeError, RecordTooLargeError) as e:
            # The dead-letter topic takes less than we were told: the coordinates and the reason still go.
            log.warning("dead letter of %d bytes refused (%s); sending its coordinates only", letter.size, e)
            letter = coordinates_only(f.msg, **described)
            await producer.send_and_wait(
                self.dead_letter_topic, value=letter.value, key=letter.key, headers=letter.headers
            )
        if letter.truncated:
            metrics.DEAD_LETTERS_TRUNCATED.labels(self.service).inc()
        metrics.DEAD_LETTERS.labels(self.service, f.reason_class).inc()
        metrics.DEAD_LETTERED.labels(self.service, f.reason_class, f.msg.topic).inc()
        msg = f.msg
        log.error(
            "dead-lettered %s/%s/%s%s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            " (truncated)" if letter.truncated else "",
            f.reason[:1000],
        )


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Move what the process holds by now (modules, classes, compiled statements: ~120,000 objects)
    out of the cyclic collector's reach, once per process. Every full collection walked all of it:
    ~0.1 s of the ~0.7 s of CPU sla-clock's consumer spent on 3,000 events. What is frozen is never
    collected, so the garbage of start-up is collected first; later objects are collected as
    before. The youngest generation is collected every 10,000 net allocations instead of 700: a
    batch's envelopes and rows are freed by reference counting long before that, so the ~150 young
    collections of those 3,000 events (~0.04 s) become one or two."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(10_000, older, oldest)
