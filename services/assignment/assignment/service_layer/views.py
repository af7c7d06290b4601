"""What assignment's routes read: the directory (agents with their availability and how many
open tickets they hold; teams) and one ticket's holder."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters import repository


async def agents(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        held = await repository.count_held(conn)
        return [
            {
                **row.profile,
                "availability": row.availability,
                "availability_since": row.availability_since,
                "open_tickets": held.get(row.agent_id, 0),
            }
            for row in await repository.agent_rows(conn)
        ]


async def teams(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row.profile) for row in await repository.team_rows(conn)]


async def assignment(engine: AsyncEngine, ticket_id: str) -> RowMapping | None:
    """The ticket's holder as assignment knows it, or None if it has not heard of the ticket."""
    async with engine.connect() as conn:
        row = await repository.get_ticket(conn, ticket_id)
        return None if row is None else row._mapping
