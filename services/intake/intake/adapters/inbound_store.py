"""What came in, kept before it is parsed: raw payloads and their outcomes, dedupe keys, the
Message-IDs we know per ticket, attachments by content hash, and webhook tokens already seen."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import Attachment

from ..domain.inbound import RawAttachment
from .tables import attachments, inbound_dedupe, inbound_messages, known_message_ids, seen_tokens, tickets


async def keep_raw(
    conn: AsyncConnection, *, source: str, body: bytes, content_type: str | None, headers: dict[str, str], now: datetime
) -> uuid.UUID:
    inbound_id = uuid.uuid4()
    await conn.execute(
        insert(inbound_messages).values(
            inbound_id=inbound_id,
            source=source,
            received_at=now,
            content_type=content_type,
            request_headers=headers,
            body=body,
            outcome="received",
        )
    )
    return inbound_id


def sender_digest(address: str) -> str:
    """What ties a kept payload to its sender without keeping the address twice."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


async def remember_sender(conn: AsyncConnection, inbound_id: uuid.UUID, address: str | None) -> None:
    if address:
        await conn.execute(
            update(inbound_messages)
            .where(inbound_messages.c.inbound_id == inbound_id)
            .values(sender_digest=sender_digest(address))
        )


async def set_outcome(
    conn: AsyncConnection,
    inbound_id: uuid.UUID,
    outcome: str,
    *,
    now: datetime,
    detail: str | None = None,
    ticket_id: str | None = None,
) -> None:
    await conn.execute(
        update(inbound_messages)
        .where(inbound_messages.c.inbound_id == inbound_id)
        .values(outcome=outcome, detail=detail, ticket_id=ticket_id, processed_at=now)
    )


async def get_raw(conn: AsyncConnection, inbound_id: uuid.UUID) -> Any:
    return (await conn.execute(select(inbound_messages).where(inbound_messages.c.inbound_id == inbound_id))).first()


async def listing(conn: AsyncConnection, outcome: str | None, limit: int) -> list[dict[str, Any]]:
    """What came in, newest first, without the bodies; only those with `outcome`, if given."""
    t = inbound_messages
    query = select(t.c.inbound_id, t.c.source, t.c.received_at, t.c.outcome, t.c.detail, t.c.ticket_id)
    if outcome:
        query = query.where(t.c.outcome == outcome)
    rows = (await conn.execute(query.order_by(t.c.received_at.desc()).limit(limit))).all()
    return [dict(r._mapping) for r in rows]


async def earlier_claim(conn: AsyncConnection, key: str, inbound_id: uuid.UUID) -> Any | None:
    """Claim a dedupe key for this inbound message: None if it is the first to, else the row of the
    message that claimed it earlier (this one is a duplicate of it)."""
    row = (
        await conn.execute(
            insert(inbound_dedupe)
            .values(dedupe_key=key, inbound_id=inbound_id)
            .on_conflict_do_nothing()
            .returning(inbound_dedupe.c.dedupe_key)
        )
    ).first()
    if row is not None:
        return None
    return (await conn.execute(select(inbound_dedupe).where(inbound_dedupe.c.dedupe_key == key))).one()


async def ticket_of_key(conn: AsyncConnection, key: str) -> str | None:
    """The ticket a dedupe key was settled on (None: unclaimed, or claimed and not settled)."""
    row = (await conn.execute(select(inbound_dedupe.c.ticket_id).where(inbound_dedupe.c.dedupe_key == key))).first()
    return None if row is None else row.ticket_id


async def settle(conn: AsyncConnection, key: str, ticket_id: str, result: dict[str, Any] | None = None) -> None:
    await conn.execute(
        update(inbound_dedupe).where(inbound_dedupe.c.dedupe_key == key).values(ticket_id=ticket_id, result=result)
    )


async def remember_message_id(conn: AsyncConnection, message_id: str | None, ticket_id: str) -> None:
    if message_id:
        await conn.execute(
            insert(known_message_ids).values(message_id=message_id, ticket_id=ticket_id).on_conflict_do_nothing()
        )


async def ticket_by_message_ids(conn: AsyncConnection, ids: list[str]) -> str | None:
    if not ids:
        return None
    rows = (await conn.execute(select(known_message_ids).where(known_message_ids.c.message_id.in_(ids)))).all()
    by_id = {r.message_id: r.ticket_id for r in rows}
    return next((by_id[i] for i in ids if i in by_id), None)


async def ticket_by_number(conn: AsyncConnection, numbers: list[str]) -> str | None:
    if not numbers:
        return None
    rows = (
        await conn.execute(select(tickets.c.ticket_id, tickets.c.number).where(tickets.c.number.in_(numbers)))
    ).all()
    by_number = {r.number: r.ticket_id for r in rows}
    return next((by_number[n] for n in numbers if n in by_number), None)


async def ticket_parties(conn: AsyncConnection, ticket_id: str) -> tuple[str | None, str | None] | None:
    """(requester_email, customer_id) of a ticket; None: no such ticket."""
    row = (
        await conn.execute(
            select(tickets.c.requester_email, tickets.c.customer_id).where(tickets.c.ticket_id == ticket_id)
        )
    ).first()
    return None if row is None else (row.requester_email, row.customer_id)


async def number_of(conn: AsyncConnection, ticket_id: str) -> str | None:
    row = (await conn.execute(select(tickets.c.number).where(tickets.c.ticket_id == ticket_id))).first()
    return None if row is None else str(row.number)


async def requester_phone_of(conn: AsyncConnection, ticket_id: str) -> str | None:
    """The phone of an existing ticket's requester (raises if there is no such ticket)."""
    row = (await conn.execute(select(tickets.c.requester_phone).where(tickets.c.ticket_id == ticket_id))).one()
    return None if row.requester_phone is None else str(row.requester_phone)


async def store_attachments(
    conn: AsyncConnection, raw: tuple[RawAttachment, ...], max_bytes: int
) -> tuple[Attachment, ...]:
    """Content-addressed: the same file twice is stored once. Over the limit: referenced, not kept
    here (the raw payload still holds it)."""
    out = []
    for a in raw:
        digest = hashlib.sha256(a.content).hexdigest()
        if len(a.content) <= max_bytes:
            await conn.execute(
                insert(attachments)
                .values(sha256=digest, content=a.content, size=len(a.content))
                .on_conflict_do_nothing()
            )
        out.append(Attachment(name=a.name, content_type=a.content_type, size=len(a.content), sha256=digest))
    return tuple(out)


async def attachment(conn: AsyncConnection, sha256: str) -> bytes | None:
    row = (await conn.execute(select(attachments.c.content).where(attachments.c.sha256 == sha256))).first()
    return None if row is None else bytes(row.content)


async def first_use_of_token(conn: AsyncConnection, token: str, now: datetime, keep: timedelta) -> bool:
    """Replay protection: True the first time a signed token is seen; old tokens are forgotten."""
    await conn.execute(delete(seen_tokens).where(seen_tokens.c.seen_at < now - keep))
    row = (
        await conn.execute(
            insert(seen_tokens).values(token=token, seen_at=now).on_conflict_do_nothing().returning(seen_tokens.c.token)
        )
    ).first()
    return row is not None
