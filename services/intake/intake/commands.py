"""Running a command against a ticket: load, decide, append, serialised by the stream version."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_events import Clock

from .adapters import repository
from .domain.ticket import Ticket

ATTEMPTS = 5


class TicketNotFound(Exception):
    pass


class TicketBusy(Exception):
    """Still losing the race after several fresh attempts."""


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
