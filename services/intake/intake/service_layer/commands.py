"""Running a command against a ticket: load, decide, append, serialised by the stream version."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_events import Clock
from supportdesk_events.logs import event_context
from supportdesk_events.sealing import seal

from ..adapters import customers, repository
from ..domain.ticket import OpenTicket, Ticket

log = logging.getLogger(__name__)

ATTEMPTS = 5


class TicketNotFound(Exception):
    pass


class TicketBusy(Exception):
    """Still losing the race after several fresh attempts."""


async def run_on(conn: AsyncConnection, ticket_id: str, decide: Callable[[Ticket], None], clock: Clock) -> Ticket:
    """`run_command` inside the caller's transaction (the ticket's row lock serialises it)."""
    ticket = await repository.load(conn, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    decide(ticket)
    if ticket.pending:
        await repository.save(conn, ticket, clock)
    return ticket


async def run_command(engine: AsyncEngine, ticket_id: str, decide: Callable[[Ticket], None], clock: Clock) -> Ticket:
    """Apply `decide` to the ticket as it is now. If another command appended first, decide
    again on the new state: two concurrent commands are never both applied to one state."""
    for _ in range(ATTEMPTS):
        try:
            async with engine.begin() as conn:
                ticket = await repository.load(conn, ticket_id)
                if ticket is None:
                    raise TicketNotFound(ticket_id)
                decide(ticket)  # raises TransitionRefused when the history forbids it
                if ticket.pending:
                    await repository.save(conn, ticket, clock)
                return ticket
        except repository.ConcurrentUpdate:
            continue
    raise TicketBusy(ticket_id)


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    number: str
    access_token: str  # shown once, to the requester; only its digest is stored
    customer_id: str | None


async def open_ticket(
    conn: AsyncConnection, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str = ""
) -> Opened:
    """Open a ticket from any channel, under the sender's customer (or none: first-level triages it)."""
    found = await customers.match(conn, email=request.requester_email, phone=request.requester_phone)
    if found is not None:
        request = replace(
            request,
            customer_id=found.customer_id,
            policy=found.policy,
            plan=found.plan,
            emergency_contact=found.emergency_contact,
        )
    ticket_id = str(uuid.uuid4())
    access_token = secrets.token_urlsafe(32)
    if token_key:  # the notifier mails it to requesters who did not use the web form (email, phone)
        request = replace(request, requester_token_sealed=seal(token_key, access_token))
    number = await repository.next_ticket_number(conn, number_prefix)
    ticket = Ticket.open(ticket_id, number, request, clock.now())
    envelopes = await repository.save_new(conn, ticket, access_token, clock)
    with event_context(ticket_id, envelopes[0].correlation_id):
        log.info(
            "ticket %s opened by %s for %s",
            number,
            request.channel.value,
            found.customer_id if found else "an unknown sender",
        )
    return Opened(ticket_id, number, access_token, request.customer_id)
