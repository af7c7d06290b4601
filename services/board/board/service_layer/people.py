"""The people side of the board: the directory folded from `desk.people` (`apply`), folded again
as of an instant (`refold_directory`), and what the reads take from it: who "me" and "my team's"
are for a filter (`resolve`), names on ticket rows (`add_names`), the directory, and each agent's
and team's workload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import (
    REGISTRY,
    AgentAvailabilityChanged,
    AgentProfileChanged,
    TeamProfileChanged,
)

from ..adapters import directory_store as store
from ..adapters import views
from ..domain.directory import PEOPLE_EVENTS, AgentEntry, Directory, apply_to_agent, caller_agent, team_of, teams_of
from ..domain.ticket_filter import TicketFilter
from ..domain.timeline import Fact

__all__ = ["PEOPLE_EVENTS", "apply"]


async def apply(conn: AsyncConnection, fact: Fact) -> None:
    """One people event into the directory, and onto the log a read as of an instant folds again."""
    await store.append_log(conn, fact)
    event = fact.payload
    match event:
        case AgentProfileChanged() | AgentAvailabilityChanged():
            entry = apply_to_agent(await store.agent(conn, event.agent_id), event, fact.occurred_at)
            await store.put_agents(conn, [entry])
        case TeamProfileChanged():
            await store.put_teams(conn, [team_of(event, fact.occurred_at)])


async def refold_directory(conn: AsyncConnection, as_of: datetime) -> Directory:
    """The directory as the people events that had occurred by `as_of` make it."""
    directory = Directory()
    for row in await store.log_up_to(conn, as_of):
        directory.apply(REGISTRY[row.event_type].model_validate(row.payload), row.occurred_at)
    return directory


class UnknownValue(ValueError):
    """A filter names someone the directory does not have: the query field, and why. (Not a frozen
    dataclass: leaving an `async with` block sets an exception's `__traceback__`, which a frozen
    one refuses, so an unknown team read `as_of` an instant was a 500.)"""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class PeopleFilter:
    """The list's people filters as asked: `assignee` an agent id, "me" or "none"; `team` a team
    id or "mine". Resolved against the directory on the connection the read runs on."""

    assignee: str | None = None
    team: str | None = None

    def __bool__(self) -> bool:
        return self.assignee is not None or self.team is not None


async def _me(conn: AsyncConnection, caller: str, field: str) -> AgentEntry:
    found = caller_agent(caller, await store.agents_named(conn, caller))
    if found is None:
        raise UnknownValue(field, f"{caller} (the caller) is no agent of the board's directory")
    return found


async def resolve(conn: AsyncConnection, flt: TicketFilter, asked: PeopleFilter, caller: str) -> TicketFilter:
    """`flt` with the people filters as agent and team ids; `UnknownValue` for one the directory
    does not have (or a caller who is no agent, for "me" and "mine")."""
    if asked.assignee == "none":
        flt = replace(flt, unassigned=True)
    elif asked.assignee is not None:
        agent_id = (await _me(conn, caller, "query.assignee")).agent_id if asked.assignee == "me" else asked.assignee
        # A holder the directory has not heard of yet (its profile on its way) is no mistake.
        if (
            asked.assignee != "me"
            and await store.agent(conn, agent_id) is None
            and not await views.holds(conn, agent_id)
        ):
            raise UnknownValue("query.assignee", f"no agent {agent_id} in the board's directory, nor holding a ticket")
        flt = replace(flt, assignee=(agent_id,))
    if asked.team == "mine":
        me = await _me(conn, caller, "query.team")
        mine = teams_of(me, await store.teams_listing(conn, me.agent_id))
        flt = replace(flt, team=tuple(mine) or ("",))  # no team: nothing is "my team's"
    elif asked.team is not None:
        if not await store.team_exists(conn, asked.team) and not await views.holds(conn, team=asked.team):
            raise UnknownValue("query.team", f"no team {asked.team} in the board's directory, nor holding a ticket")
        flt = replace(flt, team=(asked.team,))
    return flt


async def add_names(conn: AsyncConnection, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Each row's holder and team by name (the directory's now: a renamed agent reads renamed on
    every ticket), and how long an open ticket nobody holds has waited, in seconds."""
    agent_names, team_names = await store.names(
        conn, {r["assignee"] for r in rows if r.get("assignee")}, {r["team"] for r in rows if r.get("team")}
    )
    for row in rows:
        row["assignee_name"] = agent_names.get(row["assignee"]) if row.get("assignee") else None
        row["team_name"] = team_names.get(row["team"]) if row.get("team") else None
        since = row.get("unassigned_since")
        row["unassigned_seconds"] = max(0, int((now - since).total_seconds())) if since is not None else None


async def me(conn: AsyncConnection, caller: str) -> dict[str, Any]:
    """Who the caller is to the board: their agent (None if the directory has none) and teams,
    what "me" and "mine" resolve to."""
    found = caller_agent(caller, await store.agents_named(conn, caller))
    if found is None:
        return {"caller": caller, "agent_id": None, "name": None, "teams": []}
    teams = teams_of(found, await store.teams_listing(conn, found.agent_id))
    return {"caller": caller, "agent_id": found.agent_id, "name": found.name, "teams": teams}


async def directory(conn: AsyncConnection) -> dict[str, Any]:
    agents, teams = await store.agents(conn), await store.teams(conn)
    return {
        "agents": [
            {
                "agent_id": a.agent_id,
                "name": a.name,
                "email": a.email,
                "teams": teams_of(a, teams),
                "availability": a.availability,
                "capacity": a.capacity,
                "active": a.active,
                "skills": a.skills,
                "languages": a.languages,
                "time_zone": a.time_zone,
            }
            for a in agents
        ],
        "teams": [
            {
                "team_id": t.team_id,
                "name": t.name,
                "members": t.members,
                "lead": t.lead,
                "queues": t.queues,
                "escalation_tier": t.escalation_tier,
                "rule": t.rule,
                "active": t.active,
            }
            for t in teams
        ],
    }


async def workload(conn: AsyncConnection, now: datetime) -> dict[str, Any]:
    """Per agent of the directory (and any other holder of an open ticket): open tickets held, at
    risk, breached, against capacity; per team: its pool's open tickets nobody holds, and the
    longest any has waited. Counted over the ticket rows themselves, so they agree with the list."""
    agents, teams = await store.agents(conn), await store.teams(conn)
    held = {r.assignee: r for r in await views.held_counts(conn)}
    waiting = {r.team: r for r in await views.unassigned_counts(conn)}
    out_agents = []
    for a in agents:
        counts = held.pop(a.agent_id, None)
        out_agents.append(
            {
                "agent_id": a.agent_id,
                "name": a.name,
                "teams": teams_of(a, teams),
                "availability": a.availability,
                "capacity": a.capacity,
                "active": a.active,
                "open": counts.open if counts else 0,
                "at_risk": counts.at_risk if counts else 0,
                "breached": counts.breached if counts else 0,
            }
        )
    for agent_id, counts in sorted(held.items()):  # holders the directory has not heard of (yet)
        out_agents.append(
            {
                "agent_id": agent_id,
                "name": None,
                "teams": [],
                "availability": None,
                "capacity": None,
                "active": None,
                "open": counts.open,
                "at_risk": counts.at_risk,
                "breached": counts.breached,
            }
        )

    def pool(team_id: str | None, name: str | None) -> dict[str, Any]:
        counts = waiting.pop(team_id, None)
        oldest = counts.oldest if counts else None
        return {
            "team_id": team_id,
            "name": name,
            "unassigned": counts.tickets if counts else 0,
            "oldest_unassigned_since": oldest,
            "oldest_unassigned_seconds": max(0, int((now - oldest).total_seconds())) if oldest else None,
        }

    out_teams = [pool(t.team_id, t.name) for t in teams]
    out_teams += [pool(team_id, None) for team_id in sorted(waiting, key=lambda k: (k is None, k or ""))]
    return {"as_of": now, "agents": out_agents, "teams": out_teams}
