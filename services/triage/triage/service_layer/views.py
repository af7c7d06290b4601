"""What triage's routes read: its decision per ticket, and the open tickets per queue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.tables import ticket_triage


async def triage(engine: AsyncEngine, ticket_id: str) -> RowMapping | None:
    """The ticket's triage row, or None if triage has not decided it yet."""
    async with engine.connect() as conn:
        t = ticket_triage
        return (await conn.execute(select(t).where(t.c.ticket_id == ticket_id))).mappings().first()


async def open_per_queue(engine: AsyncEngine) -> Sequence[RowMapping]:
    """Open tickets per queue and priority (queue, priority, n), by queue then priority."""
    t = ticket_triage
    async with engine.connect() as conn:
        return (
            (
                await conn.execute(
                    select(t.c.queue, t.c.priority, func.count().label("n"))
                    .where(t.c.is_open)
                    .group_by(t.c.queue, t.c.priority)
                    .order_by(t.c.queue, t.c.priority)
                )
            )
            .mappings()
            .all()
        )
