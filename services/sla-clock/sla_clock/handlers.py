"""What sla-clock does with each event it consumes. Registered once, in `handlers()` at the bottom.

TicketOpened and TicketTriaged travel on different topics and may arrive in either order; both
upsert the same clock row, and the clock starts (with its due instant) once both are known.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, Handler, HandlerContext
from supportdesk_events.catalogue import ClockKind, SlaClockStarted, TicketOpened, TicketTriaged

from .adapters.policy_book import PolicyBook
from .adapters.tables import clocks
from .domain.policy import MissingInput

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


async def on_ticket_triaged(ctx: HandlerContext, env: Envelope[Any], book: PolicyBook) -> None:
    triaged: TicketTriaged = env.payload
    policy = book.policy(triaged.policy)
    plan = book.plan(policy, triaged.plan)
    key = dict(ticket_id=env.ticket_id, clock=ClockKind.FIRST_RESPONSE.value, cycle=FIRST_CYCLE)
    target = None
    exempt = triaged.sla_exempt or triaged.request_type in policy.exempt_request_types
    if not exempt and policy.first_response is not None:
        try:
            target = policy.first_response.lookup(plan, triaged.priority, triaged.severity)
        except MissingInput:
            target = None  # e.g. a severity policy and no severity yet: no due instant until there is
    values: dict[str, Any] = dict(
        state="exempt" if exempt else ("running" if target else "no_target"),
        priority=triaged.priority.value,
        target_seconds=target.seconds if target else None,
        due_at=policy.calendar.add(triaged.opened_at, target.seconds) if target else None,
        calendar=policy.calendar.name,
        policy_version=f"{policy.name}@{policy.version}",
        updated_at=ctx.clock.now(),
    )
    stmt = insert(clocks).values(**key, started_at=triaged.opened_at, **values)
    await ctx.conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))
    if target is None:
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


def handlers(book: PolicyBook) -> dict[str, Handler]:
    async def triaged(ctx: HandlerContext, env: Envelope[Any]) -> None:
        await on_ticket_triaged(ctx, env, book)

    return {
        TicketOpened.event_type: on_ticket_opened,
        TicketTriaged.event_type: triaged,
    }
