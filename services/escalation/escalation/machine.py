"""Running the level machine against a ticket's escalation row, and telling the world.

Every event is anchored to (ticket, cycle, level), so a redelivered trigger, or two triggers for
the same level, derive the same event id: a ticket never escalates twice to one level in a cycle.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_events import Clock, Event, record
from supportdesk_events.catalogue import EscalationResolved, SwatEngaged, TicketEscalated
from supportdesk_events.envelope import anchored_envelope
from supportdesk_events.ids import ticket_anchor

from .adapters import directory as directory_store
from .adapters.tables import ticket_escalations
from .domain.levels import ROUTES, EscalationState

PRODUCER = "escalation"


def anchor(ticket_id: str) -> uuid.UUID:
    return ticket_anchor("escalation", ticket_id)


async def ensure_row(conn: AsyncConnection, ticket_id: str, clock: Clock, **values: Any) -> Any:
    """The ticket's escalation row, created if this is the first we hear of it; `values` updated."""
    now = clock.now()
    stmt = insert(ticket_escalations).values(ticket_id=ticket_id, updated_at=now, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={"updated_at": now, **values})
    await conn.execute(stmt)
    return (
        await conn.execute(
            select(ticket_escalations).where(ticket_escalations.c.ticket_id == ticket_id).with_for_update()
        )
    ).one()


def state_of(row: Any) -> EscalationState:
    return EscalationState(
        row.cycle, row.level, row.acknowledged_level, row.escalated_at, row.resolved, row.swat_engaged
    )


async def emit(
    conn: AsyncConnection, row: Any, payload: Event, disc: str, clock: Clock, cause: uuid.UUID | None
) -> None:
    await record(
        conn,
        [
            anchored_envelope(
                payload,
                ticket_id=row.ticket_id,
                anchor=anchor(row.ticket_id),
                discriminator=f"{row.cycle}/{disc}",
                producer=PRODUCER,
                clock=clock,
                correlation_id=row.correlation_id or anchor(row.ticket_id),
                causation_id=cause,
            )
        ],
    )


async def save(conn: AsyncConnection, row: Any, state: EscalationState, clock: Clock, **extra: Any) -> None:
    directory = (await directory_store.current(conn)).to_domain()
    await conn.execute(
        update(ticket_escalations)
        .where(ticket_escalations.c.ticket_id == row.ticket_id)
        .values(
            level=state.level,
            acknowledged_level=state.acknowledged_level,
            escalated_at=state.escalated_at,
            resolved=state.resolved,
            swat_engaged=state.swat_engaged,
            next_climb_at=state.next_climb(directory),
            updated_at=clock.now(),
            **extra,
        )
    )


async def escalate(
    conn: AsyncConnection, row: Any, level: int, reason: str, clock: Clock, cause: uuid.UUID | None
) -> bool:
    if not (row.opened_seen and row.triaged_seen):  # recipients are not known yet: hold the highest level
        if level > max(row.level, row.pending_level or 0) and not row.resolved:
            await conn.execute(
                update(ticket_escalations)
                .where(ticket_escalations.c.ticket_id == row.ticket_id)
                .values(pending_level=level, pending_reason=reason)
            )
        return False
    state = state_of(row)
    if not state.raise_to(level, clock.now()):
        return False
    directory = (await directory_store.current(conn)).to_domain()
    recipients = directory.recipients(level, row.queue, row.customer_id, row.emergency)
    await emit(
        conn,
        row,
        TicketEscalated(level=level, route=ROUTES[level], reason=reason, recipients=tuple(recipients)),
        f"level/{level}",
        clock,
        cause,
    )
    await save(conn, row, state, clock)
    return True


async def release_pending(conn: AsyncConnection, row: Any, clock: Clock, cause: uuid.UUID | None) -> None:
    """Once customer and queue are known, escalate what was held."""
    if row.opened_seen and row.triaged_seen and row.pending_level is not None:
        await conn.execute(
            update(ticket_escalations)
            .where(ticket_escalations.c.ticket_id == row.ticket_id)
            .values(pending_level=None, pending_reason=None)
        )
        await escalate(
            conn, row, row.pending_level, row.pending_reason or "held until the ticket was known", clock, cause
        )


async def engage_swat(conn: AsyncConnection, row: Any, reason: str, clock: Clock, cause: uuid.UUID | None) -> None:
    state = state_of(row)
    if state.swat_engaged or state.resolved:
        return
    state.swat_engaged = True
    members = (await directory_store.current(conn)).to_domain().swat
    await emit(conn, row, SwatEngaged(reason=reason, members=tuple(members)), "swat", clock, cause)
    await save(conn, row, state, clock)


async def resolve(conn: AsyncConnection, row: Any, reason: str, clock: Clock, cause: uuid.UUID | None) -> None:
    state = state_of(row)
    if state.resolved:
        return
    escalated = state.level > 0 or state.swat_engaged
    state.resolved = True
    if escalated:
        await emit(conn, row, EscalationResolved(reason=reason), "resolved", clock, cause)
    await save(conn, row, state, clock)
