"""Running a command against a ticket: load, decide, append, serialised by the stream version."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_events import Clock
from supportdesk_events.db import in_transaction
from supportdesk_events.logs import event_context
from supportdesk_events.sealing import seal

from ..adapters import customers, repository, requesters
from ..domain.customers import CustomerMatch
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

    async def attempt(conn: AsyncConnection) -> Ticket:
        ticket = await repository.load(conn, ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        decide(ticket)  # raises TransitionRefused when the history forbids it
        if ticket.pending:
            await repository.save(conn, ticket, clock)
        return ticket

    for _ in range(ATTEMPTS):
        try:
            return await in_transaction(engine, attempt)
        except repository.ConcurrentUpdate:
            continue
    raise TicketBusy(ticket_id)


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    number: str
    access_token: str  # shown once, to the requester; only its digest is stored
    customer_id: str | None


@dataclass(frozen=True)
class _Opening:
    request: OpenTicket
    ticket_id: str
    number: str
    access_token: str

    def ticket(self, clock: Clock) -> Ticket:
        return Ticket.open(self.ticket_id, self.number, self.request, clock.now())


def _opening(
    request: OpenTicket, found: CustomerMatch | None, n: int, *, number_prefix: str, token_key: str
) -> _Opening:
    if found is not None:
        request = replace(
            request,
            customer_id=found.customer_id,
            policy=found.policy,
            plan=found.plan,
            emergency_contact=found.emergency_contact,
        )
    access_token = secrets.token_urlsafe(32)
    if token_key:  # the notifier mails it to requesters who did not use the web form (email, phone)
        request = replace(request, requester_token_sealed=seal(token_key, access_token))
    return _Opening(request, str(uuid.uuid4()), f"{number_prefix}-{n}", access_token)


def _opened(opening: _Opening, correlation_id: uuid.UUID, found: CustomerMatch | None) -> Opened:
    request = opening.request
    with event_context(opening.ticket_id, correlation_id):
        log.info(
            "ticket %s opened by %s for %s",
            opening.number,
            request.channel.value,
            found.customer_id if found else "an unknown sender",
        )
    return Opened(opening.ticket_id, opening.number, opening.access_token, request.customer_id)


async def open_ticket(
    conn: AsyncConnection, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str = ""
) -> Opened:
    """Open a ticket from any channel, under the sender's customer (or none: first-level triages it).
    Its personal fields are sealed under the requester's key, whose row stays share-locked until the
    commit: an erasure waits for this ticket, and then scrubs it too."""
    lookup = requesters.Lookup(request.requester_email, request.requester_phone, clock.now())
    n, found, requester = await customers.match_numbered_requester(conn, lookup)
    opening = _opening(request, found, n, number_prefix=number_prefix, token_key=token_key)
    if requester is None:  # a concurrent first ticket of the same address created it: read that one
        requester = await requesters.requester_for(conn, email=lookup.email, phone=lookup.phone, now=lookup.now)
    envelopes = await repository.save_new(conn, opening.ticket(clock), opening.access_token, clock, requester=requester)
    return _opened(opening, envelopes[0].correlation_id, found)


async def open_ticket_now(
    engine: AsyncEngine, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str = ""
) -> Opened:
    """`open_ticket` in a transaction of its own (the web form without an Idempotency-Key), run once
    more on a fresh connection if the connection dies before the commit. (A two-statement path
    without a transaction was measured faster, but an erasure needs the requester's row locked from
    the key's read to the ticket's insert: see README, Performance.)"""

    async def opening(conn: AsyncConnection) -> Opened:
        return await open_ticket(conn, request, number_prefix=number_prefix, clock=clock, token_key=token_key)

    return await in_transaction(engine, opening)
