"""Loading and saving a ticket's escalation: one locked read, at most one write, its events
recorded in the same transaction (the outbox)."""

from __future__ import annotations

import uuid
from dataclasses import fields

from sqlalchemy import RowMapping, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_events import Clock, record
from supportdesk_events.envelope import anchored_envelope
from supportdesk_events.ids import ticket_anchor

from ..domain.escalation import Escalation
from ..domain.levels import Directory
from .directory import as_domain
from .tables import directory_table, ticket_escalations

PRODUCER = "escalation"
_STATE = [f.name for f in fields(Escalation) if not f.name.startswith("_")]


def anchor(ticket_id: str) -> uuid.UUID:
    return ticket_anchor("escalation", ticket_id)


class Loaded:
    """An escalation as read, locked for this transaction, with what the row knew besides."""

    def __init__(self, escalation: Escalation, correlation_id: uuid.UUID | None, directory: Directory) -> None:
        self.escalation = escalation
        self.correlation_id = correlation_id
        self.directory = directory
        self._before = (escalation.snapshot(), correlation_id)

    @property
    def changed(self) -> bool:
        return (self.escalation, self.correlation_id) != self._before


def _from_row(row: RowMapping) -> Escalation:
    return Escalation(**{name: row[name] for name in _STATE})


async def get(conn: AsyncConnection, ticket_id: str) -> Loaded | None:
    """The escalation, locked, with the directory it routes by (one round trip), or None if this
    ticket was never heard of."""
    t, d = ticket_escalations, directory_table
    query = (
        select(t, d.c.document.label("directory"))
        .select_from(t.outerjoin(d, d.c.id == 1))
        .where(t.c.ticket_id == ticket_id)
        .with_for_update(of=t)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return Loaded(_from_row(row), row["correlation_id"], as_domain(row["directory"]))


async def load(conn: AsyncConnection, ticket_id: str, clock: Clock) -> Loaded:
    """The escalation, locked, created on the first we hear of the ticket (whatever event that is)."""
    loaded = await get(conn, ticket_id)
    if loaded is not None:
        return loaded
    await conn.execute(
        insert(ticket_escalations)
        .values(ticket_id=ticket_id, updated_at=clock.now())
        .on_conflict_do_nothing(index_elements=["ticket_id"])
    )
    created = await get(conn, ticket_id)
    assert created is not None  # inserted above, or by a racing transaction that committed
    return created


async def save(conn: AsyncConnection, loaded: Loaded, clock: Clock, cause: uuid.UUID | None) -> None:
    """Write the escalation if it changed, and record the events it decided on."""
    esc = loaded.escalation
    decided = esc.collect_events()
    if loaded.changed or decided:
        state = {name: getattr(esc, name) for name in _STATE if name != "ticket_id"}
        await conn.execute(
            update(ticket_escalations)
            .where(ticket_escalations.c.ticket_id == esc.ticket_id)
            .values(
                **state,
                correlation_id=loaded.correlation_id,
                next_climb_at=esc.next_climb(loaded.directory),
                updated_at=clock.now(),
            )
        )
    if decided:
        correlation = loaded.correlation_id or anchor(esc.ticket_id)
        await record(
            conn,
            [
                anchored_envelope(
                    d.payload,
                    ticket_id=esc.ticket_id,
                    anchor=anchor(esc.ticket_id),
                    discriminator=d.discriminator,
                    producer=PRODUCER,
                    clock=clock,
                    correlation_id=correlation,
                    causation_id=cause,
                )
                for d in decided
            ],
        )
