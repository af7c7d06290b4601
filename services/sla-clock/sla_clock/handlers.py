"""What sla-clock does with each event it consumes. Registered once, in HANDLERS at the bottom.

TicketOpened and TicketTriaged travel on different topics and may arrive in either order; both
upsert the same clock row, and the clock starts (with its due instant) once both are known.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, HandlerContext
from supportdesk_events.catalogue import ClockKind, SlaClockStarted, TicketOpened, TicketTriaged

from .adapters.tables import clocks
from .domain import targets

FIRST_CYCLE = 1


async def on_ticket_opened(ctx: HandlerContext, env: Envelope[Any]) -> None:
    opened: TicketOpened = env.payload
    await ctx.conn.execute(
        insert(clocks)
        .values(
            ticket_id=env.ticket_id,
            clock=ClockKind.FIRST_RESPONSE.value,
            cycle=FIRST_CYCLE,
            state="awaiting_target",
            started_at=opened.opened_at,
            updated_at=ctx.clock.now(),
        )
        .on_conflict_do_nothing()
    )


async def on_ticket_triaged(ctx: HandlerContext, env: Envelope[Any]) -> None:
    triaged: TicketTriaged = env.payload
    key = dict(ticket_id=env.ticket_id, clock=ClockKind.FIRST_RESPONSE.value, cycle=FIRST_CYCLE)
    if triaged.sla_exempt:
        values: dict[str, Any] = dict(state="exempt", priority=triaged.priority.value, due_at=None, target_seconds=None)
    else:
        due, target = targets.first_response_due(triaged.opened_at, triaged.priority)
        values = dict(
            state="running", priority=triaged.priority.value, due_at=due, target_seconds=int(target.total_seconds())
        )
    values.update(calendar=targets.CALENDAR, policy_version=targets.POLICY_VERSION, updated_at=ctx.clock.now())
    stmt = insert(clocks).values(**key, started_at=triaged.opened_at, **values)
    await ctx.conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))
    if triaged.sla_exempt:
        return
    row = (await ctx.conn.execute(select(clocks).filter_by(**key))).one()
    await ctx.emit(
        env,
        SlaClockStarted(
            clock=ClockKind.FIRST_RESPONSE,
            cycle=FIRST_CYCLE,
            started_at=row.started_at,
            due_at=row.due_at,
            target_seconds=row.target_seconds,
            calendar=row.calendar,
            policy_version=row.policy_version,
        ),
        discriminator=f"{ClockKind.FIRST_RESPONSE.value}/{FIRST_CYCLE}",
    )


HANDLERS = {
    TicketOpened.event_type: on_ticket_opened,
    TicketTriaged.event_type: on_ticket_triaged,
}
