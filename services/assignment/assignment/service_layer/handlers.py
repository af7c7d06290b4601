"""What assignment does with each event it consumes: keeps the ticket pool (which team's pool a
ticket waits in, its priority, its earliest running SLA due instant) and tells, as events, each
change of holder an event causes. Registered once, in `HANDLERS` at the bottom.

Events of different topics arrive in any order (docs/architecture/rules.md#rule-6): each handler
writes only what its event says, creating the ticket's row if it is the first word of it. The
events it records derive their ids from the cause (`ctx.emit`), so a replay records nothing twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from supportdesk_contract.catalogue import (
    AssignmentReason,
    Availability,
    PriorityChanged,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaClockStopped,
    SlaMet,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
    TriagedField,
    TriageOverridden,
)
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from ..adapters import repository
from ..domain.people import on_shift
from .desk import agent_of, holder_in, team_of
from .holders import BY, Change, closed, reopened, to_pool

# The events that write a ticket's row: a batch locks the rows of all their tickets at once.
_WRITES = (TicketOpened, TicketTriaged, TriageOverridden, PriorityChanged, TicketClosed, TicketReopened)
_CLOCKS = (SlaClockStarted, SlaClockResumed, SlaClockPaused, SlaClockStopped, SlaMet)


def _writes(env: Envelope[Any]) -> bool:
    p = env.payload
    return isinstance(p, _WRITES) or (isinstance(p, _CLOCKS) and p.clock.value in repository.TARGET_CLOCKS)


class PoolOfBatch:
    """The rows of a batch's tickets (and their target clocks), read and locked for all of them in
    one go on first use, changed in memory by the batch's handlers and written once at its flush:
    a few round trips a batch rather than several an event."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.clocks: dict[str, dict[str, dict[str, Any]]] = {}
        self.changed: set[str] = set()
        self.changed_clocks: set[tuple[str, str]] = set()
        self.served: dict[str, str] | None = None

    async def row(self, ctx: HandlerContext, ticket_id: str) -> dict[str, Any]:
        if ticket_id not in self.rows:
            ids = {ticket_id, *(e.ticket_id for e in ctx.batch if _writes(e))} - self.rows.keys()
            for row in await repository.lock_tickets(ctx.conn, sorted(ids), ctx.clock.now()):
                self.rows[row["ticket_id"]] = row
        return self.rows[ticket_id]

    async def clocks_of(self, ctx: HandlerContext, ticket_id: str) -> dict[str, dict[str, Any]]:
        await self.row(ctx, ticket_id)  # locks the ticket, and with it its clocks
        if ticket_id not in self.clocks:
            ids = {ticket_id, *(e.ticket_id for e in ctx.batch if isinstance(e.payload, _CLOCKS))} - self.clocks.keys()
            for t in ids:
                self.clocks[t] = {}
            for clock in await repository.clocks_of(ctx.conn, sorted(ids)):
                self.clocks[clock["ticket_id"]][clock["clock"]] = clock
        return self.clocks[ticket_id]

    async def serving(self, ctx: HandlerContext, queue: str) -> str | None:
        """The team serving `queue` (the directory, read once a batch)."""
        if self.served is None:
            self.served = await repository.serving_teams(ctx.conn)
        return self.served.get(queue)

    def change(self, ctx: HandlerContext, ticket_id: str, values: dict[str, Any]) -> None:
        self.rows[ticket_id].update(values, updated_at=ctx.clock.now())
        self.changed.add(ticket_id)

    async def queue(self, ctx: HandlerContext) -> None:
        for ticket_id in sorted(self.changed):
            ctx.write(ticket_id, repository.PUT_TICKET, repository.ticket_row(self.rows[ticket_id]))
        for ticket_id, clock in sorted(self.changed_clocks):
            ctx.write(ticket_id, repository.PUT_CLOCK, self.clocks[ticket_id][clock])


async def _note(ctx: HandlerContext, env: Envelope[Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write what the event says about its ticket; the ticket's row as it is now."""
    pool = ctx.state(PoolOfBatch)
    row = await pool.row(ctx, env.ticket_id)
    pool.change(ctx, env.ticket_id, values)
    return row


async def _apply(ctx: HandlerContext, env: Envelope[Any], change: Change) -> None:
    ctx.state(PoolOfBatch).change(ctx, env.ticket_id, change.values)
    for i, event in enumerate(change.events):
        await ctx.emit(env, event, discriminator=str(i))


async def _enter_queue(
    ctx: HandlerContext,
    env: Envelope[Any],
    row: dict[str, Any],
    queue: str,
    reason: AssignmentReason,
    waiting_from: datetime,
) -> None:
    """The ticket's queue is `queue`: it waits in the pool of the team serving it (if it is not
    held there already). A queue nobody serves leaves it where it is."""
    team = await ctx.state(PoolOfBatch).serving(ctx, queue)
    if team is None and row["waiting_since"] is None:
        # Nobody serves the queue yet: when a team does, the ticket waits from now on in its pool.
        ctx.state(PoolOfBatch).change(ctx, env.ticket_id, {"waiting_since": waiting_from})
    if team is None or team == row["team"] or not row["is_open"]:
        return
    explanation = f"queue {queue} is served by team {team}"
    await _apply(ctx, env, to_pool(holder_in(row), team, BY, reason, explanation, waiting_from))


async def on_opened(ctx: HandlerContext, env: Envelope[TicketOpened]) -> None:
    await _note(ctx, env, {"customer_id": env.payload.customer_id})


async def on_triaged(ctx: HandlerContext, env: Envelope[TicketTriaged]) -> None:
    t = env.payload
    values = {"queue": t.queue, "priority": t.priority.value, "request_type": t.request_type.value}
    row = await _note(ctx, env, values)
    if row["team"] is None and row["agent"] is None and row["third_party"] is None:
        # Oldest first: the pool orders by when the ticket was opened, not when we heard of it.
        await _enter_queue(ctx, env, row, t.queue, AssignmentReason.RULE, t.opened_at)


async def on_overridden(ctx: HandlerContext, env: Envelope[TriageOverridden]) -> None:
    o = env.payload
    if o.field is TriagedField.REQUEST_TYPE:
        await _note(ctx, env, {"request_type": o.value})
        return
    row = await _note(ctx, env, {"queue": o.value})
    if row["third_party"] is None:
        await _enter_queue(ctx, env, row, o.value, AssignmentReason.QUEUE_CHANGED, ctx.clock.now())


async def on_priority(ctx: HandlerContext, env: Envelope[PriorityChanged]) -> None:
    await _note(ctx, env, {"priority": env.payload.priority.value})


async def on_clock(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Keep each target clock's state; the ticket ranks by the earliest running due instant."""
    e = env.payload
    calendar: dict[str, Any] | None = None
    match e:
        case SlaClockStarted():
            running, due = True, e.due_at
            if e.calendar_definition is not None:
                calendar = e.calendar_definition.model_dump(mode="json")
        case SlaClockResumed():
            running, due = True, e.due_at
        case SlaClockPaused() | SlaClockStopped() | SlaMet():
            running, due = False, None
        case _:
            return
    kind = e.clock.value
    if kind not in repository.TARGET_CLOCKS:
        return
    pool = ctx.state(PoolOfBatch)
    clocks = await pool.clocks_of(ctx, env.ticket_id)
    kept = clocks.get(kind)
    if kept is not None and kept["cycle"] > e.cycle:
        return  # an older cycle's news changes nothing
    if calendar is None and kept is not None:
        calendar = kept["calendar"]
    clocks[kind] = {"ticket_id": env.ticket_id, "clock": kind, "cycle": e.cycle, "running": running, "due_at": due}
    clocks[kind]["calendar"] = calendar
    pool.changed_clocks.add((env.ticket_id, kind))
    running_now = [c for c in clocks.values() if c["running"] and c["due_at"] is not None]
    earliest = min(running_now, key=lambda c: (c["due_at"], c["clock"]), default=None)
    await _note(
        ctx,
        env,
        {
            "due_at": earliest["due_at"] if earliest else None,
            "due_calendar": earliest["calendar"] if earliest else None,
        },
    )


async def on_closed(ctx: HandlerContext, env: Envelope[TicketClosed]) -> None:
    row = await _note(ctx, env, {})
    await _apply(ctx, env, closed(holder_in(row)))


async def on_reopened(ctx: HandlerContext, env: Envelope[TicketReopened]) -> None:
    """Back to the agent who held it if they are still on shift and online, else the pool."""
    now = ctx.clock.now()
    row = await _note(ctx, env, {})
    holder = holder_in(row)
    on, absence = False, AssignmentReason.OFF_SHIFT
    if holder.agent is not None and holder.team is not None:
        agent_row = await repository.get_agent(ctx.conn, holder.agent)
        team_row = next((r for r in await repository.team_rows(ctx.conn) if r.team_id == holder.team), None)
        if agent_row is not None and team_row is not None:
            agent = agent_of(agent_row)
            shift = on_shift(agent, team_of(team_row), now)
            online = agent.availability is Availability.ONLINE
            on = shift and online
            if shift and not online:
                absence = AssignmentReason.AWAY
    await _apply(ctx, env, reopened(holder, on, absence, now))


HANDLERS = (
    Handlers()
    .on(TicketOpened, do=on_opened)
    .on(TicketTriaged, do=on_triaged)
    .on(TriageOverridden, do=on_overridden)
    .on(PriorityChanged, do=on_priority)
    .on(SlaClockStarted, SlaClockResumed, SlaClockPaused, SlaClockStopped, SlaMet, do=on_clock)
    .on(TicketClosed, do=on_closed)
    .on(TicketReopened, do=on_reopened)
)
