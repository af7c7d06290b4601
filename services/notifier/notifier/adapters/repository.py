"""Storing what notifier knows and owes: each ticket's contact row (`ticket_contacts`), the events
parked until their ticket is known (`parked_events`), and the delivery ledger (`deliveries`),
exactly-once by (cause event, recipient, channel).

The statements a consumer's batch queues (`ctx.write`) are built once here and sent as one
executemany per batch, each parameter named after its column; the rest run in the caller's
transaction, or open their own (the dispatcher's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, Text, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql.dml import Insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import ERASED_TEXT
from supportdesk_contract.envelope import Envelope, read_recorded

from .tables import deliveries, parked, ticket_contacts


def _insert(table: Table, names: list[str]) -> Insert:
    """INSERT of `names`, each a parameter of its own name: built once, sent as an executemany."""
    return insert(table).values({n: bindparam(n, type_=table.c[n].type) for n in names})


OPENED_FACTS = [
    "number",
    "requester_email",
    "requester_phone",
    "subject",
    "customer_id",
    "emergency_contact",
    "requester_token_sealed",
    "requester_verification_sealed",
    "channel",
    "policy",
    "opened_by_staff",
    "opened_event_id",
    "updated_at",
]
OPENED = _insert(ticket_contacts, ["ticket_id", *OPENED_FACTS])
OPENED = OPENED.on_conflict_do_update(index_elements=["ticket_id"], set_={n: OPENED.excluded[n] for n in OPENED_FACTS})


def _routing_fact(names: list[str]) -> Insert:
    # Upsert: triage may be consumed before the ticket's TicketOpened (number "" until then).
    stmt = _insert(ticket_contacts, ["ticket_id", "number", "subject", *names])
    return stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={n: stmt.excluded[n] for n in names})


PRIORITY = _routing_fact(["priority", "updated_at"])
PRIORITY_AND_QUEUE = _routing_fact(["priority", "queue", "updated_at"])
PARK = _insert(parked, ["event_id", "ticket_id", "envelope", "parked_at"]).on_conflict_do_nothing()
UNPARK = delete(parked).where(parked.c.ticket_id == bindparam("ticket_id"))
DELIVERY_COLUMNS = [
    "cause_event_id",
    "recipient",
    "channel",
    "ticket_id",
    "template",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "urgent",
    "subject",
    "body",
    "secret",
    "delivery_id",
    "message_id",
    "correlation_id",
    "context",
    "trace_context",
]
DELIVERY = _insert(deliveries, DELIVERY_COLUMNS).on_conflict_do_nothing()
_ANY_TICKET = func.any(bindparam("ticket_ids", type_=ARRAY(Text)))
_CONTACTS = select(ticket_contacts).where(ticket_contacts.c.ticket_id == _ANY_TICKET)
_PARKED_OF = (
    select(parked.c.ticket_id, parked.c.envelope).where(parked.c.ticket_id == _ANY_TICKET).order_by(parked.c.parked_at)
)


def blank_contact() -> dict[str, Any]:
    """A contact row as the upserts create it before the ticket's TicketOpened gives it its facts."""
    return {c.name: None for c in ticket_contacts.c} | {"number": "", "subject": "", "emergency_contact": False}


async def contacts_and_parked(
    conn: AsyncConnection, ticket_ids: Sequence[str]
) -> tuple[list[dict[str, Any]], list[tuple[str, Envelope[Any]]]]:
    """The contact rows of these tickets, and the events parked for them (oldest first), read at once."""
    contacts = [dict(row) for row in (await conn.execute(_CONTACTS, {"ticket_ids": list(ticket_ids)})).mappings()]
    waiting = await conn.execute(_PARKED_OF, {"ticket_ids": list(ticket_ids)})
    return contacts, [(w.ticket_id, read_recorded(w.envelope)) for w in waiting]


async def erase_requester(conn: AsyncConnection, ticket_id: str) -> None:
    """Forget the ticket's requester: their contact details, their deliveries, and the texts of the
    ticket's other deliveries (they quote the subject)."""
    contact = ticket_contacts.c
    row = (await conn.execute(select(contact.requester_email).where(contact.ticket_id == ticket_id))).first()
    address = row.requester_email if row is not None else None
    await conn.execute(
        update(ticket_contacts)
        .where(contact.ticket_id == ticket_id)
        .values(
            requester_email=None,
            requester_phone=None,
            subject=ERASED_TEXT,
            requester_token_sealed=None,
            requester_verification_sealed=None,
        )
    )
    d = deliveries.c
    if address:
        await conn.execute(
            delete(deliveries).where(d.ticket_id == ticket_id, func.lower(d.recipient) == address.lower())
        )
    await conn.execute(
        update(deliveries)
        .where(d.ticket_id == ticket_id)
        .values(
            subject=ERASED_TEXT,
            body=ERASED_TEXT,
            last_error=None,
            context=func.jsonb_build_object("event_type", d.context["event_type"], "ticket", d.context["ticket"]),
        )
    )


# The dispatcher's: what is due, claiming it under a lease, and writing down how a send went.


def _key(r: Any) -> tuple[Any, ...]:
    return (
        deliveries.c.cause_event_id == r.cause_event_id,
        deliveries.c.recipient == r.recipient,
        deliveries.c.channel == r.channel,
    )


async def next_due(engine: AsyncEngine) -> datetime | None:
    """When the next pending delivery is due (None: none is pending)."""
    async with engine.connect() as conn:
        nxt: datetime | None = (
            await conn.execute(select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending"))
        ).scalar()
    return nxt


async def claim(engine: AsyncEngine, now: datetime, lease: datetime, limit: int) -> Sequence[Row[Any]]:
    """Up to `limit` pending deliveries due by `now`, urgent first, each leased until `lease` (no
    other dispatcher sees it as due meanwhile); those another transaction holds are skipped."""
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(deliveries)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .order_by(deliveries.c.urgent.desc(), deliveries.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for r in rows:
            await conn.execute(update(deliveries).where(*_key(r)).values(next_attempt_at=lease))
    return rows


async def requester_email(conn: AsyncConnection, ticket_id: str) -> str | None:
    email: str | None = (
        await conn.execute(select(ticket_contacts.c.requester_email).where(ticket_contacts.c.ticket_id == ticket_id))
    ).scalar()
    return email


async def requester_verification_sealed(engine: AsyncEngine, ticket_id: str) -> str | None:
    """The requester's one-time verification token for the ticket, sealed (None: none, or erased)."""
    async with engine.connect() as conn:
        sealed: str | None = (
            await conn.execute(
                select(ticket_contacts.c.requester_verification_sealed).where(ticket_contacts.c.ticket_id == ticket_id)
            )
        ).scalar()
    return sealed


async def requester_token_sealed(engine: AsyncEngine, ticket_id: str) -> str | None:
    """The requester's access token for the ticket, sealed as intake sent it (None once erased)."""
    async with engine.connect() as conn:
        sealed: str | None = (
            await conn.execute(
                select(ticket_contacts.c.requester_token_sealed).where(ticket_contacts.c.ticket_id == ticket_id)
            )
        ).scalar()
    return sealed


async def settle(conn: AsyncConnection, r: Any, values: dict[str, Any]) -> bool:
    """Write how the delivery's attempt went; False if the delivery is gone (its requester erased)."""
    updated = await conn.execute(update(deliveries).where(*_key(r)).values(**values))
    return bool(updated.rowcount)
