"""Running a command against a ticket: load, decide, append, serialised by the stream version."""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import EXCERPT_CHARS
from supportdesk_contract.clock import Clock
from supportdesk_messaging.db import in_transaction
from supportdesk_messaging.sealing import seal
from supportdesk_observability.logs import event_context

from ..adapters import customers, repository, requesters
from ..adapters import inbound_store as store
from ..domain import preconditions
from ..domain.customers import CustomerMatch
from ..domain.preconditions import IfMatch, StaleVersion
from ..domain.ticket import OpenTicket, Ticket, offers_verification

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


class StaleTicket(Exception):
    """`If-Match` named a version the ticket has moved on from; nothing was applied."""

    def __init__(self, stale: StaleVersion, missed: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__(str(stale))
        self.current_version = stale.current_version
        self.missed = missed  # (stream version, envelope) after the caller's version, unfiltered


async def run_command(
    engine: AsyncEngine,
    ticket_id: str,
    decide: Callable[[Ticket], None],
    clock: Clock,
    if_match: IfMatch | None = None,
) -> Ticket:
    """Apply `decide` to the ticket as it is now. If another command appended first, decide
    again on the new state: two concurrent commands are never both applied to one state.

    With `if_match`, only if the ticket is still at a version the caller saw (StaleTicket, with
    the events it missed, otherwise). The check runs in every attempt, on the state that attempt
    loaded under the ticket's row lock and appends after: a retry after a lost race finds the
    ticket moved on and refuses, so a stale command is never applied."""

    async def attempt(conn: AsyncConnection) -> Ticket:
        ticket = await repository.load(conn, ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        try:
            preconditions.require(if_match, ticket.version)
        except StaleVersion as stale:
            raise StaleTicket(stale, await repository.stream_after(conn, ticket_id, stale.seen)) from None
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


class WrongVerificationToken(Exception):
    """The token is not this ticket's one-time verification token (another ticket's, made up, or
    the ticket was offered none): nothing recorded."""


async def verify_requester(
    engine: AsyncEngine, ticket_id: str, token: str, clock: Clock, valid_for: timedelta
) -> Ticket:
    """The requester sent back their one-time token: RequesterVerified, if it is this ticket's and
    still valid. The digest is compared in constant time; the aggregate refuses a second use
    (TransitionRefused) and a late one (VerificationExpired)."""
    async with engine.connect() as conn:
        stored = await repository.verification_sha256(conn, ticket_id)
    if stored is None or not hmac.compare_digest(repository.token_digest(token), stored):
        raise WrongVerificationToken(ticket_id)
    return await run_command(engine, ticket_id, lambda t: t.verify_requester(clock.now(), valid_for), clock)


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
    verification_token: str | None = None  # the requester's one-time link's, when offered

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
            account_manager_email=found.account_manager_email,
        )
    access_token = secrets.token_urlsafe(32)
    verification_token = None
    if token_key:  # the notifier mails it to requesters who did not use the web form (email, phone)
        request = replace(request, requester_token_sealed=seal(token_key, access_token))
        if offers_verification(request):  # after the customer match: an emergency contact's address counts
            verification_token = secrets.token_urlsafe(32)
            request = replace(request, requester_verification_sealed=seal(token_key, verification_token))
    return _Opening(request, str(uuid.uuid4()), f"{number_prefix}-{n}", access_token, verification_token)


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


async def _numbered(
    conn: AsyncConnection, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str
) -> tuple[_Opening, CustomerMatch | None, requesters.Requester]:
    """The ticket's number, customer and requester (share-locked until the transaction ends)."""
    lookup = requesters.Lookup(request.requester_email, request.requester_phone, clock.now())
    n, found, requester = await customers.match_numbered_requester(conn, lookup)
    opening = _opening(request, found, n, number_prefix=number_prefix, token_key=token_key)
    if requester is None:  # a concurrent first ticket of the same address created it: read that one
        requester = await requesters.requester_for(conn, email=lookup.email, phone=lookup.phone, now=lookup.now)
    return opening, found, requester


async def _save(
    conn: AsyncConnection, opening: _Opening, found: CustomerMatch | None, requester: requesters.Requester, clock: Clock
) -> Opened:
    envelopes = await repository.save_new(
        conn,
        opening.ticket(clock),
        opening.access_token,
        clock,
        requester=requester,
        verification_token=opening.verification_token,
    )
    return _opened(opening, envelopes[0].correlation_id, found)


async def open_ticket(
    conn: AsyncConnection, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str = ""
) -> Opened:
    """Open a ticket from any channel, under the sender's customer (or none: first-level triages it).
    Its personal fields are sealed under the requester's key, whose row stays share-locked until the
    commit: an erasure waits for this ticket, and then scrubs it too."""
    opening, found, requester = await _numbered(
        conn, request, number_prefix=number_prefix, clock=clock, token_key=token_key
    )
    return await _save(conn, opening, found, requester, clock)


def _keeps_long_texts(request: OpenTicket) -> bool:
    """Whether TicketOpened's texts (`long_texts`) are cut for the wire, the whole kept beside it."""
    return len(request.subject) > EXCERPT_CHARS or len(request.description) > EXCERPT_CHARS


async def open_ticket_now(
    engine: AsyncEngine, request: OpenTicket, *, number_prefix: str, clock: Clock, token_key: str = ""
) -> Opened:
    """`open_ticket` without a transaction around it (the web form without an Idempotency-Key): two
    statements, each its own transaction. The first takes the number, the customer and the requester
    (found or created); the second writes the event, the relay's wake-up and the ticket's row only if
    the requester still has the key the event is sealed under, locking its row while it does, so an
    erasure either finds the ticket or committed before it (then the ticket opens again, in a
    transaction). A connection dead before the first statement is swapped for a fresh one; the second
    is not retried (it may have committed: 503). A long text, kept beside the event, takes the
    transaction."""

    async def in_one(conn: AsyncConnection) -> Opened:
        return await open_ticket(conn, request, number_prefix=number_prefix, clock=clock, token_key=token_key)

    if _keeps_long_texts(request):
        return await in_transaction(engine, in_one)
    for fresh in (False, True):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                opening, found, requester = await _numbered(
                    conn, request, number_prefix=number_prefix, clock=clock, token_key=token_key
                )
            except DBAPIError as e:
                if fresh or not e.connection_invalidated:
                    raise
                continue  # a number or requester it may have taken is harmless: a gap, a requester
            try:
                return await _save(conn, opening, found, requester, clock)
            except repository.RequesterChanged:  # erased in between (rare): under its lock, this time
                break
    return await in_transaction(engine, in_one)


class IdempotencyKeyReused(Exception):
    """The key came with another submission before: it cannot name this one."""


@dataclass(frozen=True)
class Replayed:
    """The ticket an earlier submission with the same Idempotency-Key opened (its token is not shown again)."""

    ticket_id: str
    number: str


async def open_ticket_once(
    engine: AsyncEngine,
    request: OpenTicket,
    *,
    idempotency_key: str,
    fingerprint: str,
    number_prefix: str,
    clock: Clock,
    token_key: str = "",
) -> Opened | Replayed:
    """`open_ticket`, once per Idempotency-Key: a repeat with the same `fingerprint` (what the
    submission said) finds the first one's ticket; with another, IdempotencyKeyReused. The claim,
    the ticket and the claim's result commit together."""
    key = f"idempotency:{idempotency_key}"

    async def work(conn: AsyncConnection) -> Opened | Replayed:
        first = await store.earlier_claim(conn, key, uuid.uuid4())
        if first is not None:
            if (first.result or {}).get("fingerprint") != fingerprint:
                raise IdempotencyKeyReused(idempotency_key)
            return Replayed(first.ticket_id, first.result["number"])
        opened = await open_ticket(conn, request, number_prefix=number_prefix, clock=clock, token_key=token_key)
        await store.settle(conn, key, opened.ticket_id, {"fingerprint": fingerprint, "number": opened.number})
        return opened

    return await in_transaction(engine, work)
