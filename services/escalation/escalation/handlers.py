"""What escalation does with each event it consumes. Registered once, in HANDLERS at the bottom.

The skeleton keeps each ticket's escalation state current from triage and SLA signals; the level
state machine (tier lead, account manager, executive, SWAT) acts on these same events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, HandlerContext
from supportdesk_events.catalogue import SlaAtRisk, SlaBreached, TicketTriaged

from .adapters.tables import ticket_escalations


async def on_ticket_triaged(ctx: HandlerContext, env: Envelope[Any]) -> None:
    triaged: TicketTriaged = env.payload
    values = dict(
        priority=triaged.priority.value,
        severity=triaged.severity,
        swat_eligible=triaged.swat,
        updated_at=ctx.clock.now(),
    )
    await ctx.conn.execute(
        insert(ticket_escalations)
        .values(ticket_id=env.ticket_id, **values)
        .on_conflict_do_update(index_elements=["ticket_id"], set_=values)
    )


async def on_sla_signal(ctx: HandlerContext, env: Envelope[Any]) -> None:
    signal: SlaAtRisk | SlaBreached = env.payload
    values = dict(
        last_sla_signal=f"{env.event_type}:{signal.clock.value}",
        last_sla_signal_at=env.occurred_at,
        updated_at=ctx.clock.now(),
    )
    await ctx.conn.execute(
        insert(ticket_escalations)
        .values(ticket_id=env.ticket_id, **values)
        .on_conflict_do_update(index_elements=["ticket_id"], set_=values)
    )


HANDLERS = {
    TicketTriaged.event_type: on_ticket_triaged,
    SlaAtRisk.event_type: on_sla_signal,
    SlaBreached.event_type: on_sla_signal,
}
