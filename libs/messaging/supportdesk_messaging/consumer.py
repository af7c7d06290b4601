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
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
from prometheus_client import Gauge
from sqlalchemy import bindparam, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, P, UndeliverableEvent, decode, derived_envelope
from supportdesk_contract.topics import dead_letter_topic
from supportdesk_messaging.dead_letters import DEAD_LETTER_MAX_BYTES, DeadLetter, coordinates_only, dead_letter
from supportdesk_messaging.outbox import record, stored_trace_context
from supportdesk_messaging.personal import KeyNotArrived
from supportdesk_messaging.producers import needs_new_producer
from supportdesk_messaging.redrive import Failure, keep
from supportdesk_messaging.timers import pause
from supportdesk_observability import metrics, tracing
from supportdesk_observability.health import HEALTHY, Health
from supportdesk_observability.logs import event_context

log = logging.getLogger(__name__)


# Told, at a flush, which of the events queued with it were new to the outbox.
Recorded = Callable[[list[Envelope[Any]]], None]


class BatchState(Protocol):
    """What a service keeps for the length of a batch (e.g. the rows its events touch, loaded once
    for all of them); `queue` hands its writes to the context when the batch is flushed."""

    async def queue(self, ctx: HandlerContext) -> None: ...


S = TypeVar("S", bound=BatchState)


@dataclass
class HandlerContext:
    """What a handler may touch: the transaction, the clock, and the service's outbox.

    Round trips to the database are what a consumer pays for (each one a socket write and a wait),
    so what a handler only *writes* can wait for the end of the batch: `emit`, `record` and `write`
    queue, and the consumer calls `flush` before the commit (per message, inside its savepoint, when
    the batch is retried one by one). A handler that reads what it or an earlier handler of the
    batch wrote calls `flush` first.

    `batch` names the events being applied together (only this one when a batch is retried message
    by message), so a handler can load what all of them touch in one round trip and keep it in a
    `state` of the batch, which changes in memory and writes itself once at the flush: a row
    changed by several events of a batch is written once.
    """

    conn: AsyncConnection
    clock: Clock
    service: str
    batch: Sequence[Envelope[Any]] = ()
    _events: list[Envelope[Any]] = field(default_factory=list)
    _trace_contexts: list[str | None] = field(default_factory=list)
    _then: list[Recorded | None] = field(default_factory=list)
    _told: list[tuple[Recorded, list[Envelope[Any]]]] = field(default_factory=list)
    _writes: list[tuple[str, Executable, dict[str, Any]]] = field(default_factory=list)
    _states: dict[type[Any], Any] = field(default_factory=dict)

    @property
    def tickets(self) -> frozenset[str]:
        """The tickets of `batch`: what a handler may read in one query for the whole batch."""
        return frozenset(env.ticket_id for env in self.batch)

    def state(self, kind: type[S]) -> S:
        """The batch's one `kind` (made with `kind()` on first use); queued and forgotten at the flush,
        forgotten by `discard`: after either, the next use starts from what the database holds."""
        found = self._states.get(kind)
        if not isinstance(found, kind):
            found = self._states[kind] = kind()
        return found

    async def emit(self, cause: Envelope[Any], payload: P, discriminator: str = "") -> Envelope[P]:
        """Record an event caused by `cause`, with an id derived from it (replay-safe), at the next
        `flush`; a re-derived id is dropped then by the outbox's unique key."""
        env = derived_envelope(cause, payload, producer=self.service, clock=self.clock, discriminator=discriminator)
        self.record([env])
        return env

    def record(self, envelopes: Iterable[Envelope[Any]], then: Recorded | None = None) -> None:
        """Record `envelopes` (ids of the caller's making) at the next `flush`; an id recorded before
        is dropped then. `then` is called with those of them that were new once they are
        committed (`committed`): a batch that fails at its commit and is applied again does not
        tell twice."""
        context = stored_trace_context()  # the handler's span, not the flush's
        for env in envelopes:
            self._events.append(env)
            self._trace_contexts.append(context)
            self._then.append(then)

    def write(self, ticket_id: str, statement: Executable, params: dict[str, Any]) -> None:
        """Execute `statement` with `params` at the next `flush`. The writes of one ticket keep their
        order; those of different tickets touch different rows, so the flush may group them: each
        statement goes as one executemany (asyncpg pipelines it: one round trip) per round."""
        self._writes.append((ticket_id, statement, params))

    async def flush(self) -> None:
        states, self._states = list(self._states.values()), {}
        for state in states:
            await state.queue(self)
        writes, events, trace_contexts, then = self._writes, self._events, self._trace_contexts, self._then
        self._writes, self._events, self._trace_contexts, self._then = [], [], [], []
        # Round k holds the k-th queued write of every ticket, so a ticket's writes run in order
        # (its INSERT before its UPDATE); inside a round, one execute per distinct statement.
        rounds: list[dict[int, tuple[Executable, list[dict[str, Any]]]]] = []
        depth: dict[str, int] = {}
        for ticket_id, statement, params in writes:
            k = depth[ticket_id] = depth.get(ticket_id, -1) + 1
            if k == len(rounds):
                rounds.append({})
            # Keyed by identity: clause objects overload ==.
            rounds[k].setdefault(id(statement), (statement, []))[1].append(params)
        for statements in rounds:
            for statement, many in statements.values():
                await self.conn.execute(statement, many if len(many) > 1 else many[0])
        if not events:
            return
        new = {env.event_id for env in await record(self.conn, events, trace_contexts=trace_contexts)}
        told: dict[int, tuple[Recorded, list[Envelope[Any]]]] = {}
        for env, tell in zip(events, then, strict=True):
            if tell is not None and env.event_id in new:
                new.discard(env.event_id)  # a repeat in the queue is new once
                told.setdefault(id(tell), (tell, []))[1].append(env)
        self._told.extend(told.values())

    def committed(self) -> None:
        """Tell the `record(then=)` callbacks what the flushes recorded: call after the commit."""
        told, self._told = self._told, []
        for tell, recorded in told:
            tell(recorded)

    def discard(self) -> None:
        """Forget what is queued and kept, and what was to be told (its message failed and is
        rolled back)."""
        self._writes, self._events, self._trace_contexts, self._then, self._states = [], [], [], [], {}
        self._told = []


Handler = Callable[[HandlerContext, Envelope[Any]], Awaitable[None]]
# Opens a consumed event's sealed personal fields before its handler sees it (personal.Keyring.open).
Opener = Callable[[Envelope[Any]], Awaitable[Envelope[Any]]]

# The inbox of a whole batch in one statement: RETURNING names the events not seen before. The
# statement text is the same whatever the batch size, so asyncpg prepares it once.
_INBOX_NEW = text(
    "INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(:event_ids) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True))))

# Errors that say the database or the broker is unreachable, not that a message is bad. Searched
# along the chain of causes (SQLAlchemy wraps the driver's errors).
_WORLD_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    KafkaError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, query canceled
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many connections
    asyncpg.exceptions.TransactionRollbackError,  # deadlock or serialization failure: try again
    KeyNotArrived,  # a requester's data key is on its way to the keys topic: wait for it
)


# A timeout (or a statement cancelled by statement_timeout) may be the message's own doing, e.g. a
# hostile input that makes a handler work too long: it says nothing by its type, so the probe of the
# database decides; otherwise one such message would be retried forever.
_SLOW_NOT_GONE: tuple[type[BaseException], ...] = (TimeoutError, asyncpg.exceptions.QueryCanceledError)


def is_world_failure(error: BaseException) -> bool:
    """Whether `error`, or what it wraps, says a dependency is unreachable (retry, never skip)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _WORLD_ERRORS) and not isinstance(current, _SLOW_NOT_GONE):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = current.orig if isinstance(current, sa_exc.StatementError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


@dataclass(frozen=True)
class _Work:
    msg: ConsumerRecord[Any, Any]
    env: Envelope[Event]


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
        self.stall_seconds = stall_seconds
        self.dead_letter_max_bytes = dead_letter_max_bytes
        self.retry_max_seconds = retry_max_seconds
        self.consumer: AIOKafkaConsumer | None = None
        self.opener = opener
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
            acks="all",
            enable_idempotence=True,
            max_request_size=self.dead_letter_max_bytes,
        )

    # -- one batch -----------------------------------------------------------------------------

    async def _apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]], dead_letters: AIOKafkaProducer
    ) -> bool:
        """Apply a batch; whether it changed anything (applied or dead-lettered a message)."""
        failed: list[Failure] = []
        work: list[_Work] = []
        outcomes: Counter[tuple[str, str]] = Counter()
        seen: set[uuid.UUID] = set()
        for messages in batch.values():
            for msg in messages:
                event_type = _header(msg, "event_type")
                if event_type in REGISTRY and event_type not in self.handlers:
                    outcomes[(event_type, "ignored")] += 1  # on our topic, not our business: not parsed
                    continue
                try:
                    env = decode(msg.value, event_type)
                except UndeliverableEvent as e:
                    failed.append(Failure(msg, e.reason, e.kind))
                    outcomes[("undecodable", "dead_lettered")] += 1
                    continue
                if env.event_type not in self.handlers:
                    outcomes[(env.event_type, "ignored")] += 1
                elif env.event_id in seen:
                    outcomes[(env.event_type, "duplicate")] += 1
                else:
                    seen.add(env.event_id)
                    work.append(_Work(msg, await self._open(env)))
        if work:
            try:
                outcomes.update(await self._apply_as_set(work))
            except Exception as e:
                if is_world_failure(e) or not await self._database_answers():
                    raise
                metrics.BATCH_FAILURES.labels(self.service, "message").inc()
                log.warning("batch failed with the database answering (%s); applying it message by message", e)
                outcomes.update(await self._apply_one_by_one(work, failed))
        # The database has committed: dead letters now (kept whole in the database, where they can be
        # redriven, then to the topic), offsets after (by the caller).
        if failed:
            async with self.engine.begin() as conn:
                await keep(conn, consumer=self.service, failures=failed, now=self.clock.now())
        for f in failed:
            await self._send_dead_letter(dead_letters, f)
        for (event_type, outcome), n in outcomes.items():
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc(n)
        return bool(work or failed)

    async def _apply_as_set(self, work: list[_Work]) -> Counter[tuple[str, str]]:
        outcomes: Counter[tuple[str, str]] = Counter()
        async with self.engine.begin() as conn:
            ids = [w.env.event_id for w in work]
            new = set((await conn.execute(_INBOX_NEW, {"consumer": self.service, "event_ids": ids})).scalars())
            ctx = HandlerContext(conn, self.clock, self.service, [w.env for w in work if w.env.event_id in new])
            for w in work:
                if w.env.event_id not in new:
                    outcomes[(w.env.event_type, "duplicate")] += 1
                    continue
                with (
                    event_context(w.env.ticket_id, w.env.correlation_id),
                    tracing.handler_span(self.service, self.group_id, w.msg, w.env),
                ):
                    await self.handlers[w.env.event_type](ctx, w.env)
                outcomes[(w.env.event_type, "applied")] += 1
            await ctx.flush()  # the batch's queued writes and events, in a few round trips
        ctx.committed()
        return outcomes

    async def _apply_one_by_one(self, work: list[_Work], failed: list[Failure]) -> Counter[tuple[str, str]]:
        outcomes: Counter[tuple[str, str]] = Counter()
        told: list[HandlerContext] = []  # each applied message's, told after the commit
        async with self.engine.begin() as conn:
            for w in work:
                ctx = HandlerContext(conn, self.clock, self.service)
                env = w.env
                with event_context(env.ticket_id, env.correlation_id):
                    try:
                        async with conn.begin_nested():
                            with tracing.handler_span(self.service, self.group_id, w.msg, env):
                                applied = await self.apply_one(conn, env, ctx)
                            if not applied:
                                outcomes[(env.event_type, "duplicate")] += 1
                                continue
                    except Exception as e:
                        ctx.discard()
                        if is_world_failure(e) or not await self._database_answers():
                            raise
                        # The savepoint rolled back this message's effects; the rest of the batch stands.
                        log.exception("handler for %s failed", env.event_type)
                        reason = f"{env.event_type} handler failed: {type(e).__name__}: {e}"
                        failed.append(Failure(w.msg, reason, "handler_failed", env))
                        outcomes[(env.event_type, "dead_lettered")] += 1
                        continue
                outcomes[(env.event_type, "applied")] += 1
                told.append(ctx)
        for ctx in told:
            ctx.committed()
        return outcomes

    async def apply_one(self, conn: AsyncConnection, env: Envelope[Any], ctx: HandlerContext | None = None) -> bool:
        """One event in the caller's transaction: its inbox row, then its handler; False (and
        nothing done) when the inbox has seen it. What a message-by-message retry and a redrive of a
        dead letter (`redrive`) both go through."""
        if (await conn.execute(_INBOX_NEW, {"consumer": self.service, "event_ids": [env.event_id]})).first() is None:
            return False
        env = await self._open(env)  # a no-op on an opened one
        context = ctx or HandlerContext(conn, self.clock, self.service)
        context.batch = (env,)
        await self.handlers[env.event_type](context, env)
        await context.flush()  # in the caller's savepoint, if any: a failing write fails this message
        if ctx is None:
            # A redrive: told here, before its caller's commit (the redrive has no hook after
            # it); a commit that fails then over-counts once, and is reported to the operator.
            context.committed()
        return True

    async def _open(self, env: Envelope[Any]) -> Envelope[Any]:
        """Personal fields opened (or masked, when erased) for a service that reads them; raises
        KeyNotArrived, a world failure, while the key is on its way."""
        return await self.opener(env) if self.opener is not None else env

    async def _database_answers(self) -> bool:
        """Asked after a failure whose type does not say: can the database be reached right now?"""
        try:
            async with asyncio.timeout(5):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

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


def _header(msg: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in msg.headers or ():
        if key == name and value is not None:
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
    return None
