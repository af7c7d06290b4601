"""What escalation's routes read: its escalations as stored, and the history it recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters import directory as directory_store
from ..adapters import teams as team_store
from ..adapters.directory import DirectorySpec
from ..adapters.tables import events, ticket_escalations

OPEN_LIMIT = 500


async def escalation(engine: AsyncEngine, ticket_id: str) -> RowMapping | None:
    """The ticket's escalation row, or None if escalation has not heard of the ticket."""
    async with engine.connect() as conn:
        t = ticket_escalations
        return (await conn.execute(select(t).where(t.c.ticket_id == ticket_id))).mappings().first()


async def history(engine: AsyncEngine, ticket_id: str) -> list[dict[str, Any]]:
    """What escalation recorded about the ticket, oldest first: each event's type, instant and payload."""
    async with engine.connect() as conn:
        recorded = (
            await conn.execute(
                select(events.c.envelope).where(events.c.ticket_id == ticket_id).order_by(events.c.position)
            )
        ).all()
    return [
        {"event_type": r.envelope["event_type"], "occurred_at": r.envelope["occurred_at"], **r.envelope["payload"]}
        for r in recorded
    ]


async def open_escalations(engine: AsyncEngine, level: int | None) -> Sequence[RowMapping]:
    """Unresolved escalations above the support tier or with SWAT engaged, highest level first."""
    t = ticket_escalations
    query = select(t).where(t.c.resolved.is_(False), (t.c.level > 0) | t.c.swat_engaged)
    if level is not None:
        query = query.where(t.c.level == level)
    async with engine.connect() as conn:
        return (
            (await conn.execute(query.order_by(t.c.level.desc(), t.c.escalated_at).limit(OPEN_LIMIT))).mappings().all()
        )


async def directory(engine: AsyncEngine) -> DirectorySpec:
    async with engine.connect() as conn:
        return await directory_store.current(conn)


async def tier_leads(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Who each queue's tier lead is now, and where that comes from: the active teams serving it
    (`teams`, with their ids), or the directory's `tier_leads` for a queue no such team serves."""
    async with engine.connect() as conn:
        configured = (await directory_store.current(conn)).to_domain()
        kept = await team_store.every_team(conn)
    routes = configured.with_teams(kept)
    out = []
    for queue in sorted({*routes.team_leads, *routes.tier_leads}):
        serving = [t.team_id for t in kept if t.active and t.lead_email and queue in t.queues]
        out.append(
            {
                "queue": queue,
                "leads": routes.tier_lead(queue),
                "source": "teams" if serving else "directory",
                "teams": serving,
            }
        )
    return out
