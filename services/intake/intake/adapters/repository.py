"""Loading and saving tickets: the events table is the truth, `tickets` is its read model."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_events import REGISTRY, Clock, Envelope, derived_envelope, new_envelope, record
from supportdesk_events.catalogue import Event, TicketOpened

from ..domain.ticket import Ticket
from .tables import events, ticket_numbers, tickets

PRODUCER = "intake"


class ConcurrentUpdate(Exception):
    """Another command appended to this ticket's stream first; the caller retries on fresh state."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def next_ticket_number(conn: AsyncConnection, prefix: str) -> str:
    n = (await conn.execute(select(ticket_numbers.next_value()))).scalar_one()
    return f"{prefix}-{n}"


async def load(conn: AsyncConnection, ticket_id: str, *, lock: bool = True) -> Ticket | None:
    """The ticket as its events say. With `lock`, commands on the same ticket queue on its row
    until this transaction ends; the stream version remains the guard if anything slips past."""
    if lock:
        await conn.execute(select(tickets.c.ticket_id).where(tickets.c.ticket_id == ticket_id).with_for_update())
    rows = (
        await conn.execute(
            select(events.c.envelope)
            .where(events.c.ticket_id == ticket_id, events.c.stream_version.is_not(None))
            .order_by(events.c.stream_version)
        )
    ).all()
    if not rows:
        return None
    history: list[Event] = [REGISTRY[r.envelope["event_type"]].model_validate(r.envelope["payload"]) for r in rows]
    return Ticket.from_history(ticket_id, history)


async def _append(
    conn: AsyncConnection, ticket: Ticket, clock: Clock, cause: Envelope[Any] | None, correlation_id: uuid.UUID | None
) -> list[Envelope[Any]]:
    expected = ticket.version - len(ticket.pending)
    if cause is not None:  # derived from a consumed event: a replay derives the same ids
        envelopes: list[Envelope[Any]] = [
            derived_envelope(cause, e, producer=PRODUCER, clock=clock, discriminator=str(i))
            for i, e in enumerate(ticket.pending)
        ]
    else:
        correlation_id = correlation_id or uuid.uuid4()
        envelopes = [
            new_envelope(e, ticket_id=ticket.id, producer=PRODUCER, clock=clock, correlation_id=correlation_id)
            for e in ticket.pending
        ]
    try:
        async with conn.begin_nested():
            await record(conn, envelopes, stream_version=expected)
    except IntegrityError as e:
        raise ConcurrentUpdate(ticket.id) from e
    ticket.pending.clear()
    return envelopes


async def save_new(
    conn: AsyncConnection, ticket: Ticket, access_token: str, clock: Clock, correlation_id: uuid.UUID | None = None
) -> list[Envelope[Any]]:
    """Record a new ticket's events and its read-model row in the caller's transaction."""
    opened = ticket.pending[0]
    assert isinstance(opened, TicketOpened)
    # A new ticket's id is new: no other writer can hold its stream, so no savepoint is needed.
    correlation = correlation_id or uuid.uuid4()
    envelopes = [
        new_envelope(e, ticket_id=ticket.id, producer=PRODUCER, clock=clock, correlation_id=correlation)
        for e in ticket.pending
    ]
    await record(conn, envelopes, stream_version=0)
    ticket.pending.clear()
    await conn.execute(
        insert(tickets).values(
            ticket_id=ticket.id,
            number=ticket.number,
            status=ticket.status.value,
            channel=opened.channel.value,
            requester_email=opened.requester_email,
            requester_phone=opened.requester_phone,
            customer_id=opened.customer_id,
            subject=opened.subject,
            severity=opened.severity,
            request_type=opened.request_type.value if opened.request_type else None,
            access_token_sha256=token_digest(access_token),
            version=ticket.version,
            cycle=ticket.cycle,
            opened_at=opened.opened_at,
            updated_at=clock.now(),
        )
    )
    return envelopes


async def save(
    conn: AsyncConnection,
    ticket: Ticket,
    clock: Clock,
    *,
    cause: Envelope[Any] | None = None,
    correlation_id: uuid.UUID | None = None,
) -> list[Envelope[Any]]:
    """Append the ticket's pending events after the version it was loaded at, and update its row."""
    envelopes = await _append(conn, ticket, clock, cause, correlation_id)
    await conn.execute(
        update(tickets)
        .where(tickets.c.ticket_id == ticket.id)
        .values(
            status=ticket.status.value,
            severity=ticket.severity,
            version=ticket.version,
            cycle=ticket.cycle,
            updated_at=clock.now(),
        )
    )
    return envelopes


async def history(conn: AsyncConnection, ticket_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(events.c.envelope).where(events.c.ticket_id == ticket_id).order_by(events.c.position)
    )
    return [r.envelope for r in rows]
