"""Requesters: who asked, their data key, and erasing them (supportdesk_messaging.personal).

Intake seals each requester's personal fields into the events it records under that requester's
key (`seal_pending`), opens them again for its own reads (`open_recorded`), and publishes the keys
to the compacted keys topic (service_layer.workers.requester_keys). An erasure (decided and
recorded in service_layer.requesters) destroys the key and scrubs intake's own tables here; the
other services learn of it by RequesterErased. This module only stores and loads."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import ERASED_TEXT, Event
from supportdesk_contract.envelope import read_recorded
from supportdesk_messaging.personal import mask_event, new_data_key, open_event, seal_event

from .inbound_store import sender_digest
from .tables import attachments, events, inbound_messages, long_texts, requesters, tickets


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
class Held:
    """A requester's row as an erasure holds it (locked FOR UPDATE until the transaction ends)."""

    data_key: str | None  # None: erased before
    erased_at: datetime | None
    email: str | None = None
    phone: str | None = None


async def hold(conn: AsyncConnection, requester_id: str) -> Held | None:
    """Lock the requester's row: tickets being opened for them (FOR KEY SHARE) wait, and then are
    scrubbed too. None: no such requester."""
    r = requesters
    row = (
        await conn.execute(
            select(r.c.data_key, r.c.erased_at, r.c.email, r.c.phone)
            .where(r.c.requester_id == requester_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else Held(row.data_key, row.erased_at, row.email, row.phone)


async def ticket_ids(conn: AsyncConnection, requester_id: str) -> list[str]:
    return list(
        (await conn.execute(select(tickets.c.ticket_id).where(tickets.c.requester_id == requester_id))).scalars()
    )


async def recorded(conn: AsyncConnection, ticket_ids: Sequence[str]) -> list[Event]:
    """The events recorded for these tickets, as stored (personal fields still sealed)."""
    envelopes = (await conn.execute(select(events.c.envelope).where(events.c.ticket_id.in_(ticket_ids)))).scalars()
    return [read_recorded(envelope).payload for envelope in envelopes]


async def scrub(
    conn: AsyncConnection,
    requester_id: str,
    ticket_ids: Sequence[str],
    *,
    texts: Collection[str],
    files: Collection[str],
    erased_at: datetime,
    senders: Collection[str] = (),
) -> None:
    """Remove what intake holds of a requester: the whole texts and files of theirs, their tickets'
    personal columns, the raw payloads those tickets came from and those they sent (`senders`: the
    address and number they wrote from), and their address and key."""
    if ticket_ids:
        if texts:
            await conn.execute(delete(long_texts).where(long_texts.c.sha256.in_(texts)))
        if files:
            # Stored by content: a file someone else also sent goes for them too (rare;
            # docs/operations/erasure.md says so).
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
    if senders:
        # Theirs wherever it went: auto-replies, unreadable mail, replies on colleagues' tickets.
        await conn.execute(
            update(inbound_messages)
            .where(inbound_messages.c.sender_digest.in_([sender_digest(s) for s in senders]))
            .values(body=b"", request_headers={}, detail=None, sender_digest=None)
        )
    r = requesters
    await conn.execute(
        update(r)
        .where(r.c.requester_id == requester_id)
        .values(email=None, phone=None, data_key=None, erased_at=erased_at, key_published=False)
    )


# Claims the batch in one statement (a round trip less than SELECT ... FOR NO KEY UPDATE, then
# UPDATE): the rows stay locked (FOR NO KEY UPDATE, by the UPDATE itself) until the transaction
# ends, after the broker has them; if the send fails, the rollback leaves them unpublished.
_CLAIM = text(
    """
UPDATE requesters SET key_published = true
WHERE requester_id IN (
    SELECT requester_id FROM requesters WHERE NOT key_published LIMIT :batch FOR NO KEY UPDATE SKIP LOCKED
)
RETURNING requester_id, data_key
"""
)


async def claim_unpublished(conn: AsyncConnection, batch: int) -> list[Requester]:
    """Up to `batch` requesters whose key (or erased marker) the keys topic does not hold yet, marked
    published and locked until the transaction ends (its rollback leaves them unpublished)."""
    rows = (await conn.execute(_CLAIM, {"batch": batch})).all()
    return [Requester(row.requester_id, row.data_key) for row in rows]
