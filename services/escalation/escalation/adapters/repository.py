"""Loading and saving a ticket's escalation: one locked read, at most one write, its events
recorded in the same transaction (the outbox)."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Text, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, anchored_envelope
from supportdesk_contract.ids import ticket_anchor
from supportdesk_messaging.outbox import record

from ..domain.escalation import Escalation
from ..domain.levels import Directory
from .directory import as_domain
from .tables import directory_table, ticket_escalations
from .teams import every_team_json

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


# A batch's escalations: created if new, then read and locked, in two statements built once. Rows
# are created and locked in ticket order, so two transactions sharing tickets never deadlock.
_CREATE_MANY = text(
    "INSERT INTO ticket_escalations (ticket_id, updated_at) SELECT unnest(:ticket_ids), :now "
    "ORDER BY 1 ON CONFLICT (ticket_id) DO NOTHING"
).bindparams(bindparam("ticket_ids", type_=ARRAY(Text)))
_GET_MANY = (
    select(ticket_escalations, directory_table.c.document.label("directory"), every_team_json().label("teams"))
    .select_from(ticket_escalations.outerjoin(directory_table, directory_table.c.id == 1))
    .where(ticket_escalations.c.ticket_id == func.any(bindparam("ticket_ids", type_=ARRAY(Text))))
    .order_by(ticket_escalations.c.ticket_id)
    .with_for_update(of=ticket_escalations)
)
# Every state column as a parameter: one statement, sent as an executemany for a batch.
SAVE = (
    update(ticket_escalations)
    .where(ticket_escalations.c.ticket_id == bindparam("b_ticket_id"))
    .values(
        {
            name: bindparam(f"b_{name}", type_=ticket_escalations.c[name].type)
            for name in [*(n for n in _STATE if n != "ticket_id"), "correlation_id", "next_climb_at", "updated_at"]
        }
    )
)


def _from_row(row: RowMapping) -> Escalation:
    return Escalation(**{name: row[name] for name in _STATE})


async def get(conn: AsyncConnection, ticket_id: str) -> Loaded | None:
    """The escalation, locked, with the directory it routes by (one round trip), or None if this
    ticket was never heard of."""
    t, d = ticket_escalations, directory_table
    query = (
        select(t, d.c.document.label("directory"), every_team_json().label("teams"))
        .select_from(t.outerjoin(d, d.c.id == 1))
        .where(t.c.ticket_id == ticket_id)
        .with_for_update(of=t)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return Loaded(_from_row(row), row["correlation_id"], as_domain(row["directory"], row["teams"]))


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


async def load_many(conn: AsyncConnection, ticket_ids: list[str], clock: Clock) -> dict[str, Loaded]:
    """The escalations of `ticket_ids`, locked, each created on the first we hear of its ticket."""
    ids = sorted(set(ticket_ids))
    await conn.execute(_CREATE_MANY, {"ticket_ids": ids, "now": clock.now()})
    rows = (await conn.execute(_GET_MANY, {"ticket_ids": ids})).mappings().all()
    # Every row joined the same directory row and teams in this one statement: parsed once, not per ticket.
    routes = as_domain(rows[0]["directory"], rows[0]["teams"]) if rows else Directory()
    return {row["ticket_id"]: Loaded(_from_row(row), row["correlation_id"], routes) for row in rows}


def save_params(loaded: Loaded, clock: Clock) -> dict[str, Any]:
    """The parameters of `SAVE`: the escalation's state, as one row of a batch's executemany."""
    esc = loaded.escalation
    return {
        "b_ticket_id": esc.ticket_id,
        **{f"b_{name}": getattr(esc, name) for name in _STATE if name != "ticket_id"},
        "b_correlation_id": loaded.correlation_id,
        "b_next_climb_at": esc.next_climb(loaded.directory),
        "b_updated_at": clock.now(),
    }


def decided_envelopes(loaded: Loaded, clock: Clock, cause: uuid.UUID | None) -> list[Envelope[Any]]:
    """The events the escalation decided on since last asked, anchored to its ticket."""
    esc = loaded.escalation
    correlation = loaded.correlation_id or anchor(esc.ticket_id)
    return [
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
        for d in esc.collect_events()
    ]


async def save(conn: AsyncConnection, loaded: Loaded, clock: Clock, cause: uuid.UUID | None) -> None:
    """Write the escalation if it changed, and record the events it decided on."""
    envelopes = decided_envelopes(loaded, clock, cause)
    if loaded.changed or envelopes:
        await conn.execute(SAVE, save_params(loaded, clock))
    if envelopes:
        await record(conn, envelopes)


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """The tickets whose escalation is due to climb by `now`, soonest first, locked for this
    transaction; those another transaction holds are skipped (replicas share the work, never a row)."""
    t = ticket_escalations
    query = (
        select(t.c.ticket_id)
        .where(t.c.next_climb_at <= now)
        .order_by(t.c.next_climb_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await conn.execute(query)).scalars())


async def next_climb_at(engine: AsyncEngine) -> datetime | None:
    """When the next escalation is due to climb (None: none is)."""
    async with engine.connect() as conn:
        nxt: datetime | None = (await conn.execute(select(func.min(ticket_escalations.c.next_climb_at)))).scalar()
    return nxt
