"""What triage does with each event it consumes. Registered once, in HANDLERS at the bottom."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, HandlerContext
from supportdesk_events.catalogue import TicketOpened, TicketTriaged

from .adapters.tables import ticket_triage
from .domain.rules import triage


async def on_ticket_opened(ctx: HandlerContext, env: Envelope[Any]) -> None:
    opened: TicketOpened = env.payload
    decision = triage(opened)
    await ctx.conn.execute(
        insert(ticket_triage)
        .values(
            ticket_id=env.ticket_id,
            number=opened.number,
            channel=opened.channel.value,
            priority=decision.priority.value,
            severity=decision.severity,
            request_type=decision.request_type.value,
            queue=decision.queue,
            sla_exempt=decision.sla_exempt,
            swat=decision.swat,
            rule=decision.rule,
            triaged_at=ctx.clock.now(),
        )
        .on_conflict_do_nothing()
    )
    await ctx.emit(
        env,
        TicketTriaged(
            priority=decision.priority,
            severity=decision.severity,
            request_type=decision.request_type,
            queue=decision.queue,
            sla_exempt=decision.sla_exempt,
            swat=decision.swat,
            rule=decision.rule,
            channel=opened.channel,
            plan=opened.plan,
            policy=opened.policy,
            opened_at=opened.opened_at,
        ),
    )


HANDLERS = {
    TicketOpened.event_type: on_ticket_opened,
}
