"""What notifier does with each event it consumes. Registered once, in HANDLERS at the bottom.

The skeleton learns who to contact per ticket; deliveries (receipt confirmations, warnings,
escalations) are decided from the same events and written to the `deliveries` ledger.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, HandlerContext
from supportdesk_events.catalogue import TicketOpened

from .adapters.tables import ticket_contacts


async def on_ticket_opened(ctx: HandlerContext, env: Envelope[Any]) -> None:
    opened: TicketOpened = env.payload
    await ctx.conn.execute(
        insert(ticket_contacts)
        .values(
            ticket_id=env.ticket_id,
            number=opened.number,
            requester_email=opened.requester_email,
            requester_phone=opened.requester_phone,
            subject=opened.subject,
            updated_at=ctx.clock.now(),
        )
        .on_conflict_do_nothing()
    )


HANDLERS = {
    TicketOpened.event_type: on_ticket_opened,
}
