"""Loading and saving tickets: the events table is the truth, `tickets` is its read model."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_events import Clock, Envelope, new_envelope, record
from supportdesk_events.catalogue import TicketOpened

from ..domain.ticket import Ticket
from .tables import events, ticket_numbers, tickets

PRODUCER = "intake"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def next_ticket_number(conn: AsyncConnection, prefix: str) -> str:
    n = (await conn.execute(select(ticket_numbers.next_value()))).scalar_one()
    return f"{prefix}-{n}"


async def save_new(
    conn: AsyncConnection, ticket: Ticket, access_token: str, clock: Clock, correlation_id: uuid.UUID | None = None
) -> list[Envelope[Any]]:
    """Record a new ticket's events and its read-model row in the caller's transaction."""
    envelopes = [
        new_envelope(e, ticket_id=ticket.id, producer=PRODUCER, clock=clock, correlation_id=correlation_id)
        for e in ticket.pending
    ]
    await record(conn, envelopes, stream_version=0)
    opened = ticket.pending[0]
    assert isinstance(opened, TicketOpened)
    await conn.execute(
        insert(tickets).values(
            ticket_id=ticket.id,
            number=ticket.number,
            status=ticket.status.value,
            channel=opened.channel.value,
            requester_email=opened.requester_email,
            requester_phone=opened.requester_phone,
            subject=opened.subject,
            severity=opened.severity,
            request_type=opened.request_type.value if opened.request_type else None,
            access_token_sha256=token_digest(access_token),
            version=ticket.version,
            opened_at=opened.opened_at,
            updated_at=clock.now(),
        )
    )
    ticket.pending.clear()
    return envelopes


async def history(conn: AsyncConnection, ticket_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(events.c.envelope).where(events.c.ticket_id == ticket_id).order_by(events.c.position)
    )
    return [r.envelope for r in rows]
