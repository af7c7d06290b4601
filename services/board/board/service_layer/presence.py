"""Presence: an agent says they are viewing or replying to a ticket (`announce`), and every live
stream passes it on (`Presences`), until it expires on its own `presence_seconds` after the
agent's last word. Nothing here is an event or part of the projection: it is what people are doing
now, not what happened to the ticket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters import directory_store
from ..adapters import presence_store as store
from ..domain.directory import caller_agent


class Activity(StrEnum):
    VIEWING = "viewing"
    REPLYING = "replying"


class NoSuchTicket(LookupError):
    pass


async def announce(
    engine: AsyncEngine, ticket_id: str, caller: str, activity: Activity, now: datetime, seconds: float
) -> dict[str, Any]:
    """The caller (as their agent id when the directory knows them) is `activity` on the ticket
    until `seconds` from `now`; `NoSuchTicket` when the board has no such ticket."""
    expires_at = now + timedelta(seconds=seconds)
    async with engine.begin() as conn:
        if not await store.ticket_exists(conn, ticket_id):
            raise NoSuchTicket(ticket_id)
        known = caller_agent(caller, await directory_store.agents_named(conn, caller))
        agent = known.agent_id if known is not None else caller
        await store.forget_expired(conn, now)
        await store.announce(conn, ticket_id, agent, activity.value, expires_at)
    return {"ticket_id": ticket_id, "agent": agent, "activity": activity.value, "expires_at": expires_at}


@dataclass
class Presences:
    """What one stream has passed on: each presence is sent when it is new or changed (a refresh
    moves its expiry), with the seconds it has left, so a page expires it by its own timer."""

    sent: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)

    async def news(self, engine: AsyncEngine, now: datetime) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            rows = await store.current(conn, now)
            agents = {r.agent for r in rows}
            names, _ = await directory_store.names(conn, agents, set()) if agents else ({}, {})
        live = {(r.ticket_id, r.agent): (r.activity, r.expires_at) for r in rows}
        out = []
        for (ticket_id, agent), (activity, expires_at) in live.items():
            if self.sent.get((ticket_id, agent)) != (activity, expires_at):
                out.append(
                    {
                        "ticket_id": ticket_id,
                        "agent": agent,
                        "name": names.get(agent),
                        "activity": activity,
                        "expires_at": expires_at,
                        "expires_in_seconds": round((expires_at - now).total_seconds(), 1),
                    }
                )
        self.sent = live
        return out
