"""Keeping a ticket's clocks in step with its facts, and telling the world.

`sync` derives the clocks from the facts, changes the rows that differ, and queues the events of
each clock's life so far (started, paused/resumed, stopped, met or breached). Event ids derive from
(ticket, clock, cycle, event, instant), so the outbox keeps each event once however often, and in
whatever order, the facts arrive; a fact that changes nothing writes nothing. Warnings, breaches of
running clocks and auto-close come from the scheduler (`fire_due`), which derives the same ids.

A transaction (a consumer's batch, or one operator command) works on `TicketState`s: the first
ticket asked for reads the facts and clock rows of every ticket of the batch in two locking
queries; handlers change them in memory; at the flush each changed row is written once, in its
final state, one executemany per statement, and the batch's events go in the outbox's one
statement. Two facts of one ticket in a batch therefore cost one read and one write of its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import (
    AutoCloseDue,
    ClockKind,
    Event,
    SlaAtRisk,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaClockStopped,
    SlaMet,
)
from supportdesk_contract.clock import Clock as TimeSource
from supportdesk_contract.envelope import Envelope, anchored_envelope
from supportdesk_contract.ids import ticket_anchor
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.outbox import record
from supportdesk_observability import tracing

from ..adapters import repository
from ..adapters.policy_book import PolicyBook
from ..domain.calendar_definition import definition_for
from ..domain.clocks import Clock, ClockState, TicketFacts
from ..domain.policy import Policy

PRODUCER = "sla-clock"
SLA_CLOCKS = (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION)


@lru_cache(maxsize=16384)  # a uuid5 (SHA-1) per fact otherwise; a batch's tickets recur in the next ones
def anchor(ticket_id: str) -> uuid.UUID:
    return ticket_anchor("sla-clock", ticket_id)


def life_key(kind: ClockKind, cycle: int, started_at: datetime) -> str:
    """Identifies one clock's life in event ids: auto-close clocks start afresh with each waiting period."""
    key = f"{kind.value}/{cycle}"
    return key if kind in SLA_CLOCKS else f"{key}/{started_at.isoformat()}"


def clock_key(c: Clock) -> str:
    return life_key(c.kind, c.cycle, c.started_at)


def lifetime_events(c: Clock, facts: TicketFacts, policy: Policy) -> list[tuple[Event, str]]:
    """Every event of this clock's life up to now, each with its discriminator."""
    key = clock_key(c)
    target_seconds = c.target.seconds if c.target else None
    start_due = policy.calendar.add(c.started_at, c.target.seconds) if c.target else None
    out: list[tuple[Event, str]] = [
        (
            SlaClockStarted(
                clock=c.kind,
                cycle=c.cycle,
                started_at=c.started_at,
                due_at=start_due,
                target_seconds=target_seconds,
                calendar=policy.calendar.name,
                policy_version=policy.label,
                opened_in_hours=policy.calendar.is_open(c.started_at),
                # Only a clock with a due instant has something to count down to.
                calendar_definition=definition_for(policy.calendar, c.started_at) if c.target else None,
            ),
            key,
        )
    ]
    if c.kind in SLA_CLOCKS:
        end = c.stopped_at
        spans = [(a, b) for a, b in facts.pauses if b > c.started_at and (end is None or a < end)]
        for i, (a, b) in enumerate(spans):
            out.append((SlaClockPaused(clock=c.kind, cycle=c.cycle, paused_at=a), f"{key}/{a.isoformat()}"))
            due = policy.calendar.add(c.started_at, c.target.seconds, spans[: i + 1]) if c.target else None
            out.append(
                (SlaClockResumed(clock=c.kind, cycle=c.cycle, resumed_at=b, due_at=due), f"{key}/{a.isoformat()}")
            )
        if c.state is ClockState.PAUSED and facts.awaiting_since is not None:
            a = facts.awaiting_since
            out.append((SlaClockPaused(clock=c.kind, cycle=c.cycle, paused_at=a), f"{key}/{a.isoformat()}"))
    if c.state is ClockState.STOPPED and c.stopped_at is not None:
        elapsed = round(c.elapsed_business_seconds or 0)
        out.append(
            (
                SlaClockStopped(clock=c.kind, cycle=c.cycle, stopped_at=c.stopped_at, elapsed_business_seconds=elapsed),
                key,
            )
        )
        if c.kind in SLA_CLOCKS and c.due_at is not None:
            if c.met:
                out.append(
                    (SlaMet(clock=c.kind, cycle=c.cycle, due_at=c.due_at, elapsed_business_seconds=elapsed), key)
                )
            else:
                out.append((SlaBreached(clock=c.kind, cycle=c.cycle, due_at=c.due_at), key))
    return out


def next_wakeup(
    kind: ClockKind,
    warnings: Iterable[tuple[int, datetime]],
    due_at: datetime | None,
    warned: list[int],
    breached: bool,
    auto_close_emitted: bool,
) -> datetime | None:
    """The next unfired warning, breach or auto-close of a running clock: what the scheduler indexes."""
    if due_at is None:
        return None
    if kind in SLA_CLOCKS:
        pending = [at for pct, at in warnings if pct not in warned]
        if not breached:
            pending.append(due_at)
        return min(pending, default=None)
    return None if auto_close_emitted else due_at


def next_check(c: Clock, warned: list[int], breached: bool, auto_close_emitted: bool) -> datetime | None:
    if c.state is not ClockState.RUNNING:
        return None
    return next_wakeup(c.kind, c.warnings, c.due_at, warned, breached, auto_close_emitted)


@dataclass
class TicketState:
    """One ticket as this transaction knows it: read once, changed in memory, written at the flush."""

    facts: TicketFacts
    correlation_id: uuid.UUID | None  # None: no facts row yet
    clocks: dict[tuple[str, int], dict[str, Any]]  # (clock, cycle) -> the row's columns
    facts_changed_at: datetime | None = None  # set: the facts row is written at the flush
    # Of the handler that last changed the facts: the timers' warnings and breaches continue it.
    trace_context: dict[str, str] | None = None
    changed: set[tuple[str, int]] = field(default_factory=set)  # clock rows written at the flush
    queued: set[uuid.UUID] = field(default_factory=set)  # lifetime events queued this transaction

    def facts_changed(self, now: datetime) -> None:
        self.facts_changed_at = now
        self.trace_context = tracing.capture()


class TicketsOfBatch:
    """The batch's tickets as this transaction knows them (`HandlerContext.state`): read at once,
    changed in memory by the batch's handlers, each changed row written once at the flush."""

    def __init__(self) -> None:
        self.tickets: dict[str, TicketState] = {}
        # Whether each policy is active, asked once per batch (`policy_admin.held_by`): the shared
        # lock taken with the answer is held until the commit, so it cannot change meanwhile.
        self.policy_activity: dict[str, tuple[bool, Any]] = {}

    async def queue(self, ctx: HandlerContext) -> None:
        """Each changed facts row and clock row once, in its final state."""
        for tid, state in self.tickets.items():
            if state.facts_changed_at is not None:
                facts = {
                    "ticket_id": tid,
                    "facts": state.facts.to_json(),
                    "correlation_id": state.correlation_id,
                    "updated_at": state.facts_changed_at,
                    "trace_context": state.trace_context,
                }
                ctx.write(tid, repository.FACTS_UPSERT, facts)
                state.facts_changed_at = None
            # Keyed by row, not ticket: the rows are independent, so all go in one executemany.
            for key in sorted(state.changed):
                ctx.write(f"{tid}/{key[0]}/{key[1]}", repository.CLOCK_UPSERT, state.clocks[key])
            state.changed.clear()


async def ticket_state(ctx: HandlerContext, ticket_id: str) -> TicketState:
    """The ticket's facts and clocks, locked until the transaction ends. The first call reads every
    ticket of `ctx.tickets` not read yet along with it (two queries); later calls answer from memory
    (until the flush, after which the next call reads again)."""
    tickets = ctx.state(TicketsOfBatch).tickets
    known = tickets.get(ticket_id)
    if known is not None:
        return known
    ids = sorted({ticket_id, *ctx.tickets} - tickets.keys())
    for tid in ids:
        tickets[tid] = TicketState(TicketFacts(), None, {})
    facts_rows, clock_rows = await repository.load(ctx.conn, ids)
    for row in facts_rows:
        loaded = tickets[row.ticket_id]
        loaded.facts, loaded.correlation_id = TicketFacts.from_json(row.facts), row.correlation_id
        loaded.trace_context = row.trace_context
    for row in clock_rows:
        tickets[row.ticket_id].clocks[(row.clock, row.cycle)] = dict(row._mapping)
    return tickets[ticket_id]


def sync(
    ctx: HandlerContext,
    ticket_id: str,
    state: TicketState,
    book: PolicyBook,
    causation_id: uuid.UUID | None,
    derived: list[tuple[Clock, Policy]] | None = None,
) -> None:
    """Bring the ticket's clocks in step with its facts (in `state`, written at the flush) and queue
    their lifetime events not queued yet in this transaction (the outbox drops those recorded
    before). `derived`: the clocks as `book.clocks(facts)` gave them, if the caller has them."""
    facts, correlation_id = state.facts, state.correlation_id
    assert correlation_id is not None, "sync after the facts have a correlation id"
    now = ctx.clock.now()
    anchor_id = anchor(ticket_id)  # a uuid5: once per ticket, not per event
    rows = state.clocks
    envelopes: list[Envelope[Any]] = []
    for c, policy in book.clocks(facts) if derived is None else derived:
        plan = book.plan(policy, facts.plan)
        key = (c.kind.value, c.cycle)
        row = rows.get(key)
        same_life = row is not None and row["started_at"] == c.started_at
        warned: list[int] = list(row["warned"]) if row is not None and same_life else []
        breached_at = row["breached_at"] if row is not None and same_life else None
        if c.kind in SLA_CLOCKS and c.met is False:
            breached_at = breached_at or c.due_at
        emitted = bool(row["auto_close_emitted"]) if row is not None and same_life else False
        values: dict[str, Any] = dict(
            state=c.state.value,
            started_at=c.started_at,
            priority=facts.priority,
            plan=plan,
            target_seconds=c.target.seconds if c.target else None,
            due_at=c.due_at,
            stopped_at=c.stopped_at,
            elapsed_business_seconds=c.elapsed_business_seconds,
            met=c.met,
            breached_at=breached_at,
            warnings=[[p, at.isoformat()] for p, at in c.warnings],
            warned=warned,
            closure_code=c.closure_code.value if c.closure_code else None,
            auto_close_emitted=emitted,
            next_check_at=next_check(c, warned, breached_at is not None, emitted),
            calendar=policy.calendar.name,
            policy_version=policy.label,
        )
        if row is None or _differs(row, values):
            rows[key] = {"ticket_id": ticket_id, "clock": key[0], "cycle": key[1], **values, "updated_at": now}
            state.changed.add(key)
        for payload, disc in lifetime_events(c, facts, policy):
            envelopes.append(
                anchored_envelope(
                    payload,
                    ticket_id=ticket_id,
                    anchor=anchor_id,
                    discriminator=disc,
                    producer=PRODUCER,
                    clock=ctx.clock,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                )
            )
    # Clocks of earlier cycles that never stopped (reopened without closing) stop being watched.
    for key, row in rows.items():
        if key[1] < facts.cycle and row["state"] != ClockState.STOPPED.value:
            row.update(state=ClockState.STOPPED.value, next_check_at=None, updated_at=now)
            state.changed.add(key)
    fresh = [e for e in envelopes if e.event_id not in state.queued]
    state.queued.update(e.event_id for e in fresh)
    ctx.record(fresh, then=count_signals)


SIGNALS = Counter(
    "supportdesk_sla_signals_total",
    "SLA warnings, breaches, met targets and auto-close timers recorded (each once)",
    ["signal", "clock"],
)
_SIGNALLED: dict[str, str] = {
    SlaAtRisk.event_type: "at_risk",
    SlaBreached.event_type: "breached",
    SlaMet.event_type: "met",
    AutoCloseDue.event_type: "auto_close_due",
}


def count_signals(recorded: list[Envelope[Any]]) -> None:
    for env in recorded:
        signal = _SIGNALLED.get(env.event_type)
        if signal is not None:
            SIGNALS.labels(signal, env.payload.clock.value).inc()


def _differs(row: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether writing `values` would change the row (a spurious True only costs a write)."""
    return any(row[k] != v for k, v in values.items())


async def fire_due(
    conn: AsyncConnection, clock: TimeSource, limit: int = 200, recorded: list[Envelope[Any]] | None = None
) -> int:
    """Emit the warnings, breaches and auto-closes that are due by now; return how many clocks fired.
    The events newly recorded are appended to `recorded`, for the caller to count once its
    transaction has committed (`count_signals`); without it they are counted at once."""
    fresh: list[Envelope[Any]] = [] if recorded is None else recorded
    now = clock.now()
    rows = await repository.claim_due(conn, now, limit)
    for r in rows:
        attributes = {"supportdesk.ticket_id": r.ticket_id, "supportdesk.clock": r.clock}
        with tracing.continued_span(f"sla-clock fire {r.clock}", r.trace_context, attributes=attributes):
            fresh += await _fire(conn, clock, r, now)
    if recorded is None:
        count_signals(fresh)
    return len(rows)


async def _fire(conn: AsyncConnection, clock: TimeSource, r: Any, now: datetime) -> list[Envelope[Any]]:
    kind = ClockKind(r.clock)
    key = life_key(kind, r.cycle, r.started_at)
    fired: list[tuple[Event, str]] = []
    warned = list(r.warned)
    breached_at = r.breached_at
    emitted = r.auto_close_emitted
    if kind in SLA_CLOCKS:
        for pct, at in r.warnings:
            if pct not in warned and datetime.fromisoformat(at) <= now:
                fired.append(
                    (SlaAtRisk(clock=kind, cycle=r.cycle, threshold_percent=pct, due_at=r.due_at), f"{key}/{pct}")
                )
                warned.append(pct)
        if breached_at is None and r.due_at <= now:
            fired.append((SlaBreached(clock=kind, cycle=r.cycle, due_at=r.due_at), key))
            breached_at = r.due_at
    elif not emitted and r.due_at <= now:
        assert r.closure_code is not None
        fired.append(
            (
                AutoCloseDue(clock=kind, cycle=r.cycle, closure_code=r.closure_code),
                key,
            )
        )
        emitted = True
    warnings = [(pct, datetime.fromisoformat(at)) for pct, at in r.warnings]
    nxt = next_wakeup(kind, warnings, r.due_at, warned, breached_at is not None, emitted)
    await repository.mark_fired(
        conn,
        r,
        dict(warned=warned, breached_at=breached_at, auto_close_emitted=emitted, next_check_at=nxt, updated_at=now),
    )
    return await record(
        conn,
        [
            anchored_envelope(
                p,
                ticket_id=r.ticket_id,
                anchor=anchor(r.ticket_id),
                discriminator=d,
                producer=PRODUCER,
                clock=clock,
                correlation_id=r.correlation_id,
            )
            for p, d in fired
        ],
    )
