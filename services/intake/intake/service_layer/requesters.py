"""Requesters, for admins: finding one, and erasing one (their personal data goes, the ticket facts
and SLA statistics stay). See supportdesk_messaging.personal for what erasure guarantees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import CarriesPersonalData, Event, RequesterErased
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import new_envelope
from supportdesk_contract.ids import NAMESPACE
from supportdesk_messaging.outbox import record
from supportdesk_messaging.personal import open_event

from ..adapters import attachment_cache, requesters
from ..domain.erasure import references

PRODUCER = "intake"


async def find(engine: AsyncEngine, *, email: str | None, phone: str | None) -> list[dict[str, Any]]:
    """The live (not erased) requesters with this address or phone."""
    async with engine.connect() as conn:
        return await requesters.find(conn, email=email, phone=phone)


@dataclass(frozen=True)
class Erasure:
    requester_id: str
    erased_at: datetime
    tickets: list[str]  # each gets a RequesterErased event
    already: bool  # erased before: this call changed nothing new
    files: list[str]  # sha256 of the attachments removed


async def erase_in(conn: AsyncConnection, requester_id: str, clock: Clock) -> Erasure | None:
    """Destroy the requester's key and scrub what intake holds of them, in the caller's transaction,
    and record RequesterErased for each of their tickets (ids derived: erasing again adds none).
    None: no such requester."""
    held = await requesters.hold(conn, requester_id)
    if held is None:
        return None
    now = clock.now()
    ticket_ids = await requesters.ticket_ids(conn, requester_id)
    texts: set[str] = set()
    files: set[str] = set()
    if ticket_ids:
        # Before the key goes: open their events to learn which whole texts and files are theirs.
        mine: list[Event] = []
        for payload in await requesters.recorded(conn, ticket_ids):
            if not isinstance(payload, CarriesPersonalData):
                continue
            opened = open_event(payload, held.data_key) if held.data_key and payload.sealed_personal else None
            mine.append(opened or payload)
        texts, files = references(mine)
    erased_at = held.erased_at or now
    senders = [a for a in (held.email, held.phone) if a]
    await requesters.scrub(
        conn, requester_id, ticket_ids, texts=texts, files=files, erased_at=erased_at, senders=senders
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
    return Erasure(requester_id, erased_at, ticket_ids, already=held.erased_at is not None, files=sorted(files))


async def erase(engine: AsyncEngine, requester_id: str, clock: Clock, cache: Path) -> Erasure | None:
    """`erase_in`, in a transaction of its own; once committed, the requester's files leave the
    attachment cache too."""
    async with engine.begin() as conn:
        done = await erase_in(conn, requester_id, clock)
    if done is not None:
        attachment_cache.drop(cache, done.files)
    return done
