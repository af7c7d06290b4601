"""Requesters: who asked, their data key, and erasing them (supportdesk_messaging.personal).

Intake seals each requester's personal fields into the events it records under that requester's
key (`seal_pending`), opens them again for its own reads (`open_recorded`), and publishes the keys
to the compacted keys topic (service_layer.requesters). Erasure destroys the key here and scrubs
intake's own tables; the other services learn of it by RequesterErased."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import ERASED_TEXT, CarriesLongText, CarriesPersonalData, Event, RequesterErased
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import new_envelope, read_recorded
from supportdesk_contract.ids import NAMESPACE
from supportdesk_messaging.outbox import record
from supportdesk_messaging.personal import mask_event, new_data_key, open_event, seal_event

from .tables import attachments, events, inbound_messages, long_texts, requesters, tickets

PRODUCER = "intake"


@dataclass(frozen=True)
class Requester:
    requester_id: str
    data_key: str | None  # None: erased


# The requester found (share-locked) or created in one statement: the lookup, then the insert only
# when it found nothing. FOR KEY SHARE: an erasure (FOR UPDATE) waits for this ticket, and then
# scrubs it too; the key publisher (FOR NO KEY UPDATE) does not block it. A concurrent first ticket
# of the same address wins the insert (ON CONFLICT DO NOTHING, no row): the caller asks again.
# Parameters are named rq_* so the CTEs can join another statement (`customers.match_numbered`).
_FIND_OR_CREATE = """
requester_found AS (
    SELECT requester_id, data_key FROM requesters WHERE {where} FOR KEY SHARE
), requester_created AS (
    INSERT INTO requesters (requester_id, email, phone, data_key, created_at)
    SELECT CAST(:rq_id AS text), CAST(:rq_email AS text), CAST(:rq_phone AS text), CAST(:rq_data_key AS text),
           CAST(:rq_now AS timestamptz)
    WHERE NOT EXISTS (SELECT 1 FROM requester_found)
    ON CONFLICT DO NOTHING
    RETURNING requester_id, data_key
), requester AS (
    SELECT requester_id, data_key FROM requester_found
    UNION ALL SELECT requester_id, data_key FROM requester_created
)"""
_WHERE = {
    "email": "lower(email) = lower(CAST(:rq_email AS text)) AND erased_at IS NULL",
    "phone": "email IS NULL AND phone = CAST(:rq_phone AS text) AND erased_at IS NULL",
    "neither": "false",  # a request with neither gets a requester of its own
}


@dataclass(frozen=True)
class Lookup:
    """Finding or creating the live requester with an address (or, without one, a phone)."""

    email: str | None
    phone: str | None
    now: datetime

    @property
    def by(self) -> str:
        return "email" if self.email else "phone" if self.phone else "neither"

    def params(self) -> dict[str, Any]:
        new = {"rq_id": str(uuid.uuid4()), "rq_data_key": new_data_key()}  # used only if none is found
        return {**new, "rq_email": self.email, "rq_phone": self.phone, "rq_now": self.now}


LOOKUPS = tuple(_WHERE)


def lookup_ctes(by: str) -> str:
    """`requester_found`, `requester_created` and `requester` (its one row; none on a lost race)."""
    return _FIND_OR_CREATE.format(where=_WHERE[by])


_BY = {by: text(f"WITH {lookup_ctes(by)} SELECT requester_id, data_key FROM requester") for by in LOOKUPS}


async def requester_for(conn: AsyncConnection, *, email: str | None, phone: str | None, now: datetime) -> Requester:
    """The live requester with this address (or, without one, this phone), created if new; a
    request with neither gets a requester of its own."""
    lookup = Lookup(email, phone, now)
    for _ in range(2):  # a concurrent first ticket of the same address wins the insert; we read its row
        found = (await conn.execute(_BY[lookup.by], lookup.params())).first()
        if found is not None:
            return Requester(found.requester_id, found.data_key)
    raise RuntimeError("requester row neither found nor created")


async def of_ticket(conn: AsyncConnection, ticket_id: str) -> Requester | None:
    row = (
        await conn.execute(
            select(requesters.c.requester_id, requesters.c.data_key)
            .select_from(tickets.join(requesters, tickets.c.requester_id == requesters.c.requester_id))
            .where(tickets.c.ticket_id == ticket_id)
            .with_for_update(of=requesters, read=True, key_share=True)
        )
    ).first()
    return Requester(row.requester_id, row.data_key) if row is not None else None


def seal_pending(pending: Sequence[Event], requester: Requester | None) -> list[Event]:
    """Events as they go to the outbox: personal fields sealed under the requester's key; masked
    if the requester was erased (a late reply on their ticket must not bring them back in clear).
    Tickets from before requesters existed have none: their events stay as they were, in clear."""
    if requester is None:
        return list(pending)
    if requester.data_key is None:
        return [mask_event(e) for e in pending]
    return [seal_event(e, requester.requester_id, requester.data_key) for e in pending]


async def open_recorded(conn: AsyncConnection, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded envelopes (as JSON) with their personal fields opened, or masked once erased."""
    sealed = [e for e in envelopes if e["payload"].get("sealed_personal") and e["payload"].get("requester_id")]
    wanted = {e["payload"]["requester_id"] for e in sealed}
    if not wanted:
        return envelopes
    found = await conn.execute(
        select(requesters.c.requester_id, requesters.c.data_key).where(requesters.c.requester_id.in_(wanted))
    )
    keys = {row.requester_id: row.data_key for row in found}
    out = []
    for e in envelopes:
        rid = e["payload"].get("requester_id")
        if not e["payload"].get("sealed_personal") or rid is None:
            out.append(e)
            continue
        payload = read_recorded(e).payload
        key = keys.get(rid)
        opened = open_event(payload, key) if key else None
        out.append({**e, "payload": (opened or mask_event(payload)).model_dump(mode="json")})
    return out


async def find(conn: AsyncConnection, *, email: str | None, phone: str | None) -> list[dict[str, Any]]:
    """Live requesters by address or phone (an admin looking for whom to erase)."""
    r = requesters
    where = []
    if email:
        where.append(func.lower(r.c.email) == email.lower())
    if phone:
        where.append(r.c.phone == phone)
    if not where:
        return []
    rows = await conn.execute(
        select(r.c.requester_id, r.c.email, r.c.phone, r.c.created_at, func.count(tickets.c.ticket_id).label("tickets"))
        .select_from(r.outerjoin(tickets, tickets.c.requester_id == r.c.requester_id))
        .where(*where, r.c.erased_at.is_(None))
        .group_by(r.c.requester_id)
        .order_by(r.c.created_at)
    )
    return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class Erasure:
    requester_id: str
    erased_at: datetime
    tickets: list[str]
    already: bool  # erased before: this call changed nothing new
    files: list[str]  # sha256 of the attachments removed (the caller drops their cached copies)


def _references(payloads: Iterable[Event]) -> tuple[set[str], set[str]]:
    """The whole texts and attachments (by sha256) these events reference."""
    texts: set[str] = set()
    files: set[str] = set()
    for p in payloads:
        if isinstance(p, CarriesLongText):
            texts |= {ref.sha256 for ref in p.full_text.values()}
        for a in getattr(p, "attachments", ()) or ():
            files.add(a.sha256)
    return texts, files


async def erase(conn: AsyncConnection, requester_id: str, clock: Clock) -> Erasure | None:
    """Destroy the requester's key and scrub what intake holds of them, in one transaction, and
    record RequesterErased for each of their tickets (ids derived: erasing again adds none).
    None: no such requester."""
    r = requesters
    row = (
        await conn.execute(
            select(r.c.data_key, r.c.erased_at).where(r.c.requester_id == requester_id).with_for_update()
        )
    ).first()
    if row is None:
        return None
    now = clock.now()
    ticket_ids = list(
        (await conn.execute(select(tickets.c.ticket_id).where(tickets.c.requester_id == requester_id))).scalars()
    )
    files: set[str] = set()
    if ticket_ids:
        # Before the key goes: open their events to learn which whole texts and files are theirs.
        recorded = (await conn.execute(select(events.c.envelope).where(events.c.ticket_id.in_(ticket_ids)))).scalars()
        mine: list[Event] = []
        for envelope in recorded:
            payload = read_recorded(envelope).payload
            if not isinstance(payload, CarriesPersonalData):
                continue
            opened = open_event(payload, row.data_key) if row.data_key and payload.sealed_personal else None
            mine.append(opened or payload)
        texts, files = _references(mine)
        if texts:
            await conn.execute(delete(long_texts).where(long_texts.c.sha256.in_(texts)))
        if files:
            # Stored by content: a file someone else also sent goes for them too (rare; said in README).
            await conn.execute(delete(attachments).where(attachments.c.sha256.in_(files)))
        await conn.execute(
            update(tickets)
            .where(tickets.c.ticket_id.in_(ticket_ids))
            .values(requester_email=None, requester_phone=None, subject=ERASED_TEXT)
        )
        # The raw mail and webhook bodies as they came in, kept before parsing.
        await conn.execute(
            update(inbound_messages)
            .where(inbound_messages.c.ticket_id.in_(ticket_ids))
            .values(body=b"", request_headers={}, detail=None)
        )
    erased_at = row.erased_at or now
    await conn.execute(
        update(r)
        .where(r.c.requester_id == requester_id)
        .values(email=None, phone=None, data_key=None, erased_at=erased_at, key_published=False)
    )
    envelopes = [
        new_envelope(
            RequesterErased(requester_id=requester_id, erased_at=erased_at),
            ticket_id=ticket_id,
            producer=PRODUCER,
            clock=clock,
            event_id=uuid.uuid5(NAMESPACE, f"requester-erased/{requester_id}/{ticket_id}"),
        )
        for ticket_id in ticket_ids
    ]
    await record(conn, envelopes)
    return Erasure(requester_id, erased_at, ticket_ids, already=row.erased_at is not None, files=sorted(files))
