"""Where presence is kept (`tables.board_presence`): an agent's latest word on a ticket until it
expires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import board_presence, board_tickets

p = board_presence


async def ticket_exists(conn: AsyncConnection, ticket_id: str) -> bool:
    return bool((await conn.execute(select(exists().where(board_tickets.c.ticket_id == ticket_id)))).scalar())


async def announce(conn: AsyncConnection, ticket_id: str, agent: str, activity: str, expires_at: datetime) -> None:
    """The agent's presence on the ticket, replacing their earlier one there."""
    stmt = insert(p).values(ticket_id=ticket_id, agent=agent, activity=activity, expires_at=expires_at)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[p.c.ticket_id, p.c.agent],
            set_={"activity": stmt.excluded.activity, "expires_at": stmt.excluded.expires_at},
        )
    )


async def forget_expired(conn: AsyncConnection, now: datetime) -> None:
    await conn.execute(delete(p).where(p.c.expires_at <= now))


async def current(conn: AsyncConnection, now: datetime) -> Sequence[Row[str, str, str, datetime]]:
    """Every presence not yet expired: ticket_id, agent, activity, expires_at."""
    query = select(p.c.ticket_id, p.c.agent, p.c.activity, p.c.expires_at).where(p.c.expires_at > now)
    return (await conn.execute(query.order_by(p.c.ticket_id, p.c.agent))).all()
