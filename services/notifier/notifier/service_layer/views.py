"""What notifier's routes read: the delivery ledger."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.tables import deliveries


async def deliveries_of(engine: AsyncEngine, ticket_id: str) -> Sequence[RowMapping]:
    """The ticket's deliveries (sent, pending or dead), in the order they were decided."""
    d = deliveries
    async with engine.connect() as conn:
        return (
            (await conn.execute(select(d).where(d.c.ticket_id == ticket_id).order_by(d.c.created_at))).mappings().all()
        )
