"""What assignment does with each event it consumes: keeps the ticket pool (which team's pool a
ticket waits in, its priority, its earliest running SLA due instant) and tells, as events, each
change of holder an event causes. Registered once, in `HANDLERS` at the bottom.

Events of different topics arrive in any order (docs/architecture/rules.md#rule-6): each handler
writes only what its event says, creating the ticket's row if it is the first word of it. The
events it records derive their ids from the cause (`ctx.emit`), so a replay records nothing twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

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
from .desk import agent_of, holder_of, team_of
from .holders import BY, Change, closed, reopened, to_pool


async def _apply(ctx: HandlerContext, env: Envelope[Any], change: Change) -> None:
    await repository.change_ticket(ctx.conn, env.ticket_id, {**change.values, "updated_at": ctx.clock.now()})
    for i, event in enumerate(change.events):
        await ctx.emit(env, event, discriminator=str(i))


async def _enter_queue(
    ctx: HandlerContext, env: Envelope[Any], row: Row[Any], queue: str, reason: AssignmentReason, waiting_from: datetime
) -> None:
    """The ticket's queue is `queue`: it waits in the pool of the team serving it (if it is not
    held there already). A queue nobody serves leaves it where it is."""
    team = await repository.serving_team(ctx.conn, queue)
    if team is None and row.waiting_since is None:
        # Nobody serves the queue yet: when a team does, the ticket waits from now on in its pool.
        await repository.change_ticket(ctx.conn, env.ticket_id, {"waiting_since": waiting_from})
    if team is None or team == row.team or not row.is_open:
        return
    explanation = f"queue {queue} is served by team {team}"
    await _apply(ctx, env, to_pool(holder_of(row), team, BY, reason, explanation, waiting_from))


async def on_opened(ctx: HandlerContext, env: Envelope[TicketOpened]) -> None:
    await repository.write_ticket(ctx.conn, env.ticket_id, {"customer_id": env.payload.customer_id}, ctx.clock.now())


async def on_triaged(ctx: HandlerContext, env: Envelope[TicketTriaged]) -> None:
    t = env.payload
    values = {"queue": t.queue, "priority": t.priority.value, "request_type": t.request_type.value}
    row = await repository.note_ticket(ctx.conn, env.ticket_id, values, ctx.clock.now())
    if row.team is None and row.agent is None and row.third_party is None:
        # Oldest first: the pool orders by when the ticket was opened, not when we heard of it.
        await _enter_queue(ctx, env, row, t.queue, AssignmentReason.RULE, t.opened_at)


async def on_overridden(ctx: HandlerContext, env: Envelope[TriageOverridden]) -> None:
    o = env.payload
    if o.field is TriagedField.REQUEST_TYPE:
        await repository.write_ticket(ctx.conn, env.ticket_id, {"request_type": o.value}, ctx.clock.now())
        return
    row = await repository.note_ticket(ctx.conn, env.ticket_id, {"queue": o.value}, ctx.clock.now())
    if row.third_party is None:
        await _enter_queue(ctx, env, row, o.value, AssignmentReason.QUEUE_CHANGED, ctx.clock.now())


async def on_priority(ctx: HandlerContext, env: Envelope[PriorityChanged]) -> None:
    await repository.write_ticket(ctx.conn, env.ticket_id, {"priority": env.payload.priority.value}, ctx.clock.now())


async def on_clock(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Keep each target clock's state; the ticket ranks by the earliest running due instant."""
    e = env.payload
    now = ctx.clock.now()
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
    await repository.note_clock(ctx.conn, env.ticket_id, e.clock.value, e.cycle, running, due, calendar, now)


async def on_closed(ctx: HandlerContext, env: Envelope[TicketClosed]) -> None:
    row = await repository.note_ticket(ctx.conn, env.ticket_id, {}, ctx.clock.now())
    await _apply(ctx, env, closed(holder_of(row)))


async def on_reopened(ctx: HandlerContext, env: Envelope[TicketReopened]) -> None:
    """Back to the agent who held it if they are still on shift and online, else the pool."""
    now = ctx.clock.now()
    row = await repository.note_ticket(ctx.conn, env.ticket_id, {}, now)
    holder = holder_of(row)
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
