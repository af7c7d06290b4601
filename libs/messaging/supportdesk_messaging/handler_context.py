"""What a handler is given: `HandlerContext`, the transaction, clock and outbox of the batch it is
applied in, whose writes and events wait for the batch's flush (see `consumer` for the batch)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, P, derived_envelope
from supportdesk_messaging.outbox import record, stored_trace_context

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
