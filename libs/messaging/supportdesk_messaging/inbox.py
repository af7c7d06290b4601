"""Applying consumed events through the inbox: a batch decoded, then applied as a set in one
transaction, or one message at a time in savepoints when a message fails it (steps 1 to 3 of
`consumer`'s docstring); `apply_one` is also what a redrive of a dead letter goes through."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, UndeliverableEvent, decode
from supportdesk_messaging.dead_letters import described, failure_reason
from supportdesk_messaging.handler_context import Handler, HandlerContext
from supportdesk_messaging.redrive import Failure
from supportdesk_messaging.world import is_world_failure
from supportdesk_observability import metrics, tracing
from supportdesk_observability.logs import event_context

log = logging.getLogger(__name__)


# Opens a consumed event's sealed personal fields before its handler sees it (personal.Keyring.open).
Opener = Callable[[Envelope[Any]], Awaitable[Envelope[Any]]]

# The inbox of a whole batch in one statement: RETURNING names the events not seen before. The
# statement text is the same whatever the batch size, so asyncpg prepares it once.
_INBOX_NEW = text(
    "INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(:event_ids) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True))))


@dataclass(frozen=True)
class _Work:
    msg: ConsumerRecord[Any, Any]
    env: Envelope[Event]


@dataclass
class Applied:
    """What a batch came to: the outcome counts (event type, outcome), the messages to dead-letter,
    and whether anything changed (a message applied or dead-lettered)."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: list[Failure] = field(default_factory=list)
    changed: bool = False


class InboxApplier:
    """The consumer's database side: the service's handlers applied through its inbox."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        handlers: Mapping[str, Handler],
        clock: Clock,
        group_id: str,
        opener: Opener | None = None,
    ) -> None:
        unknown = set(handlers) - set(REGISTRY)
        if unknown:
            raise ValueError(f"handlers for event types that are not in the catalogue: {sorted(unknown)}")
        self.engine = engine
        self.service = service
        self.handlers = dict(handlers)
        self.clock = clock
        self.group_id = group_id
        self.opener = opener

    async def apply_batch(self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> Applied:
        """Decode and apply a batch; a world failure is raised (nothing skipped), a message's is
        isolated and returned in `failed` for the caller to dead-letter after the commit."""
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
                log.warning(
                    "batch failed with the database answering (%s); applying it message by message", described(e)
                )
                outcomes.update(await self._apply_one_by_one(work, failed))
        return Applied(outcomes, failed, bool(work or failed))

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
                        reason = failure_reason(env.event_type, e)
                        # A database error's traceback would print its text, which quotes the values.
                        traceback = not isinstance(e, DBAPIError)
                        log.error("handler for %s failed: %s", env.event_type, reason, exc_info=traceback)
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


def _header(msg: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in msg.headers or ():
        if key == name and value is not None:
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
    return None
