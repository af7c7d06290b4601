"""Loading and saving tickets: the events table is the truth, `tickets` is its read model."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import CarriesPersonalData, Event, TicketOpened, bound_long_texts
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, derived_envelope, new_envelope, read_recorded
from supportdesk_messaging.outbox import Along, record

from ..domain.ticket import Ticket
from . import requesters
from .tables import events, long_texts, tickets

PRODUCER = "intake"


class ConcurrentUpdate(Exception):
    """Another command appended to this ticket's stream first; the caller retries on fresh state."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    history: list[Event] = [read_recorded(r.envelope).payload for r in rows]
    return Ticket.from_history(ticket_id, history)


async def load_as_of(conn: AsyncConnection, ticket_id: str, as_of: datetime) -> tuple[Ticket, datetime] | None:
    """The ticket as its events up to `as_of` say (the same fold as `load`), and the latest one's
    instant; None when it had not been opened by then."""
    rows = (
        await conn.execute(
            select(events.c.envelope, events.c.occurred_at)
            .where(
                events.c.ticket_id == ticket_id,
                events.c.stream_version.is_not(None),
                events.c.occurred_at <= as_of,
            )
            .order_by(events.c.stream_version)
        )
    ).all()
    if not rows:
        return None
    history: list[Event] = [read_recorded(r.envelope).payload for r in rows]
    return Ticket.from_history(ticket_id, history), max(r.occurred_at for r in rows)


async def _append(
    conn: AsyncConnection, ticket: Ticket, clock: Clock, cause: Envelope[Any] | None, correlation_id: uuid.UUID | None
) -> list[Envelope[Any]]:
    expected = ticket.version - len(ticket.pending)
    pending = await _keep_long_texts(conn, ticket.pending)
    if any(isinstance(e, CarriesPersonalData) for e in pending):
        pending = requesters.seal_pending(pending, await requesters.of_ticket(conn, ticket.id))
    if cause is not None:  # derived from a consumed event: a replay derives the same ids
        envelopes: list[Envelope[Any]] = [
            derived_envelope(cause, e, producer=PRODUCER, clock=clock, discriminator=str(i))
            for i, e in enumerate(pending)
        ]
    else:
        correlation_id = correlation_id or uuid.uuid4()
        envelopes = [
            new_envelope(e, ticket_id=ticket.id, producer=PRODUCER, clock=clock, correlation_id=correlation_id)
            for e in pending
        ]
    try:
        async with conn.begin_nested():
            await record(conn, envelopes, stream_version=expected)
    except IntegrityError as e:
        raise ConcurrentUpdate(ticket.id) from e
    ticket.pending.clear()
    return envelopes


async def _keep_long_texts(conn: AsyncConnection, pending: list[Event]) -> list[Event]:
    """Events bounded for the wire (catalogue.EXCERPT_CHARS), with the whole texts kept here, in
    the same transaction, so the ticket read can show them."""
    bounded: list[Event] = []
    texts: dict[str, str] = {}
    for e in pending:
        b, cut = bound_long_texts(e)
        bounded.append(b)
        texts.update(cut)
    if texts:
        await conn.execute(
            insert(long_texts)
            .values([{"sha256": k, "content": v, "length": len(v)} for k, v in texts.items()])
            .on_conflict_do_nothing()
        )
    return bounded


class RequesterChanged(Exception):
    """The requester's key is not what the ticket was sealed under any more (erased meanwhile)."""


# The ticket's row rides in the outbox statement, both written only while the requester's row still
# holds the key the events were sealed under, share-locked (FOR KEY SHARE) in that statement: an
# erasure (FOR UPDATE) committed before it leaves nothing written; one after it finds the ticket.
_TICKET_COLUMNS = {
    "ticket_id": "text",
    "number": "text",
    "status": "text",
    "channel": "text",
    "requester_email": "text",
    "requester_phone": "text",
    "customer_id": "text",
    "subject": "text",
    "severity": "integer",
    "request_type": "text",
    "access_token_sha256": "text",
    "verification_sha256": "text",
    "version": "integer",
    "cycle": "integer",
    "opened_at": "timestamptz",
    "updated_at": "timestamptz",
    "requester_id": "text",
}
_NEW_TICKET_CTES = f"""
requester_live AS (
    SELECT 1 FROM requesters
    WHERE requester_id = CAST(:t_requester_id AS text) AND data_key = CAST(:t_data_key AS text)
    FOR KEY SHARE
), ticket_row AS (
    INSERT INTO {tickets.name} ({", ".join(_TICKET_COLUMNS)})
    SELECT {", ".join(f"CAST(:t_{c} AS {t})" for c, t in _TICKET_COLUMNS.items())}
    WHERE EXISTS (SELECT 1 FROM requester_live)
)"""
_NEW_TICKET_CONDITION = "EXISTS (SELECT 1 FROM requester_live)"


async def save_new(
    conn: AsyncConnection,
    ticket: Ticket,
    access_token: str,
    clock: Clock,
    requester: requesters.Requester,
    correlation_id: uuid.UUID | None = None,
    verification_token: str | None = None,
) -> list[Envelope[Any]]:
    """Record a new ticket's events (personal fields sealed under the requester's key) and its
    read-model row, in clear (intake's own database; erasure scrubs it), in one statement, which
    may be a transaction of its own (autocommit): it writes nothing, and raises RequesterChanged,
    unless the requester still has the key the events are sealed under (locked by the statement)."""
    opened = ticket.pending[0]
    assert isinstance(opened, TicketOpened)
    if requester.data_key is None:  # the lookups find live requesters only
        raise RequesterChanged(requester.requester_id)
    # A new ticket's id is new: no other writer can hold its stream, so no savepoint is needed.
    correlation = correlation_id or uuid.uuid4()
    envelopes = [
        new_envelope(e, ticket_id=ticket.id, producer=PRODUCER, clock=clock, correlation_id=correlation)
        for e in requesters.seal_pending(await _keep_long_texts(conn, ticket.pending), requester)
    ]
    row = {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "status": ticket.status.value,
        "channel": opened.channel.value,
        "requester_email": opened.requester_email,
        "requester_phone": opened.requester_phone,
        "customer_id": opened.customer_id,
        "subject": opened.subject,
        "severity": opened.severity,
        "request_type": opened.request_type.value if opened.request_type else None,
        "access_token_sha256": token_digest(access_token),
        "verification_sha256": token_digest(verification_token) if verification_token else None,
        "version": ticket.version,
        "cycle": ticket.cycle,
        "opened_at": opened.opened_at,
        "updated_at": envelopes[-1].occurred_at,  # the latest event's instant: what a read as of then shows
        "requester_id": requester.requester_id,
    }
    params = {f"t_{k}": v for k, v in row.items()} | {"t_data_key": requester.data_key}
    along = Along(_NEW_TICKET_CTES, _NEW_TICKET_CONDITION, params)
    if not await record(conn, envelopes, stream_version=0, along=along):
        raise RequesterChanged(requester.requester_id)
    ticket.pending.clear()
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
            updated_at=envelopes[-1].occurred_at if envelopes else clock.now(),
        )
    )
    return envelopes


async def ticket_row(conn: AsyncConnection, ticket_id: str) -> dict[str, Any]:
    """The ticket's read-model row, every column (raises if there is no such ticket)."""
    row = (await conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).one()
    return dict(row._mapping)


async def token_sha256(conn: AsyncConnection, ticket_id: str) -> str | None:
    """The digest of the ticket's access token; None: no such ticket."""
    row = (await conn.execute(select(tickets.c.access_token_sha256).where(tickets.c.ticket_id == ticket_id))).first()
    return None if row is None else str(row.access_token_sha256)


async def verification_sha256(conn: AsyncConnection, ticket_id: str) -> str | None:
    """The digest of the requester's one-time verification token; None: none offered, or no such ticket."""
    row = (await conn.execute(select(tickets.c.verification_sha256).where(tickets.c.ticket_id == ticket_id))).first()
    return None if row is None or row.verification_sha256 is None else str(row.verification_sha256)


async def history(conn: AsyncConnection, ticket_id: str) -> list[dict[str, Any]]:
    """The ticket's envelopes as recorded, with excerpted texts shown whole again."""
    rows = await conn.execute(
        select(events.c.envelope).where(events.c.ticket_id == ticket_id).order_by(events.c.position)
    )
    return await _readable(conn, [r.envelope for r in rows])


async def stream_after(conn: AsyncConnection, ticket_id: str, version: int) -> list[tuple[int, dict[str, Any]]]:
    """The ticket's stream events after `version`, each with its stream version, readable as in
    `history`: what a caller who saw `version` has missed."""
    rows = (
        await conn.execute(
            select(events.c.stream_version, events.c.envelope)
            .where(events.c.ticket_id == ticket_id, events.c.stream_version > version)
            .order_by(events.c.stream_version)
        )
    ).all()
    envelopes = await _readable(conn, [r.envelope for r in rows])
    return [(int(r.stream_version), e) for r, e in zip(rows, envelopes, strict=True)]


async def _readable(conn: AsyncConnection, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded envelopes with personal fields opened and excerpted texts shown whole again."""
    envelopes = await requesters.open_recorded(conn, recorded)
    wanted = {ref["sha256"] for e in envelopes for ref in (e["payload"].get("full_text") or {}).values()}
    if not wanted:
        return envelopes
    found = await conn.execute(select(long_texts.c.sha256, long_texts.c.content).where(long_texts.c.sha256.in_(wanted)))
    whole = {r.sha256: r.content for r in found}
    for e in envelopes:
        for field, ref in (e["payload"].get("full_text") or {}).items():
            if ref["sha256"] in whole:
                e["payload"][field] = whole[ref["sha256"]]
    return envelopes
