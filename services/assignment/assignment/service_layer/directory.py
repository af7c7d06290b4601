"""Changing the people directory: the people file at start, the admin API after, agents' own
availability. Every change is an event on `desk.people` carrying the whole profile as it now
stands, recorded only when something changed (a restart with the same file records nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import (
    PEOPLE_KEY,
    AgentAvailabilityChanged,
    AgentProfileChanged,
    AssignmentReason,
    Availability,
    Event,
    TeamProfileChanged,
)
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import new_envelope
from supportdesk_messaging.outbox import record

from ..adapters import repository
from ..adapters.people_file import AgentSpec, PeopleSpec, TeamSpec
from .commands import save
from .desk import agents_by_name, holder_of
from .holders import BY, Refused, to_pool

PRODUCER = "assignment"


def _stored(profile: Event) -> dict[str, Any]:
    """A profile as its row keeps it: the event without who made it."""
    return profile.model_dump(mode="json", exclude={"by"})


async def load_people(engine: AsyncEngine, clock: Clock, spec: PeopleSpec, by: str = "people-file") -> int:
    """Make the directory say what the file says about its agents and teams (others are left as
    they are); the number of events that took."""
    async with engine.begin() as conn:
        return await _save(conn, clock, spec.agents, spec.teams, by)


async def put_agent(engine: AsyncEngine, clock: Clock, agent_id: str, spec: AgentSpec, by: str) -> int:
    async with engine.begin() as conn:
        return await _save(conn, clock, {agent_id: spec}, {}, by)


async def put_team(engine: AsyncEngine, clock: Clock, team_id: str, spec: TeamSpec, by: str) -> int:
    async with engine.begin() as conn:
        return await _save(conn, clock, {}, {team_id: spec}, by)


async def set_availability(
    engine: AsyncEngine, clock: Clock, agent_id: str, availability: Availability, caller: str, is_admin: bool
) -> bool:
    """The agent themself (the caller's name is their id, email or subject) or an admin sets their
    availability; True if it changed."""
    async with engine.begin() as conn:
        await repository.lock_directory(conn)
        rows = await repository.agent_rows(conn)
        row = next((r for r in rows if r.agent_id == agent_id), None)
        if row is None:
            raise Refused(404, f"no agent {agent_id} in the directory")
        if not is_admin and agents_by_name([row], caller) is None:
            raise Refused(403, f"{caller} may set only their own availability (or an admin key may)")
        previous = Availability(row.availability)
        if previous is availability:
            return False
        now = clock.now()
        await repository.set_availability(conn, agent_id, availability.value, now)
        event = AgentAvailabilityChanged(agent_id=agent_id, availability=availability, previous=previous, by=caller)
        await record(conn, [new_envelope(event, ticket_id=PEOPLE_KEY, producer=PRODUCER, clock=clock)])
        return True


async def _save(
    conn: AsyncConnection,
    clock: Clock,
    agent_specs: Mapping[str, AgentSpec],
    team_specs: Mapping[str, TeamSpec],
    by: str,
) -> int:
    now = clock.now()
    await repository.lock_directory(conn)
    agent_rows = {r.agent_id: r for r in await repository.agent_rows(conn)}
    team_rows = {r.team_id: r for r in await repository.team_rows(conn)}
    known_teams = set(team_rows) | set(team_specs)

    agents: dict[str, AgentProfileChanged] = {
        agent_id: AgentProfileChanged.model_validate({**row.profile, "by": by}) for agent_id, row in agent_rows.items()
    }
    for agent_id, spec in agent_specs.items():
        unknown = [t for t in spec.teams if t not in known_teams]
        if unknown:
            raise Refused(422, f"agent {agent_id} names unknown teams: {', '.join(unknown)}", "teams")
        agents[agent_id] = spec.profile(agent_id, by, now)

    teams: dict[str, TeamProfileChanged] = {}
    for team_id in sorted(known_teams):
        members = tuple(a for a, p in sorted(agents.items()) if p.active and team_id in p.teams)
        team_spec = team_specs.get(team_id)
        if team_spec is not None:
            lead = team_spec.lead
            if lead is not None and lead not in members:
                raise Refused(422, f"team {team_id}: its lead {lead} is not an active agent of it", "lead")
            lead_email = agents[lead].email if lead is not None else None
            teams[team_id] = team_spec.profile(team_id, members, lead_email, by, now)
        else:
            stored = team_rows[team_id].profile
            lead = stored.get("lead")
            lead_email = agents[lead].email if lead in agents else stored.get("lead_email")
            teams[team_id] = TeamProfileChanged.model_validate(
                {**stored, "members": members, "lead_email": lead_email, "by": by}
            )
    served: dict[str, str] = {}
    for team_id, team in teams.items():
        for queue in team.queues if team.active else ():
            if queue in served:
                field = "queues" if team_specs else "teams"
                raise Refused(
                    422, f"queue {queue} would be served by two active teams: {served[queue]}, {team_id}", field
                )
            served[queue] = team_id

    events: list[Event] = []
    for agent_id, spec in agent_specs.items():
        profile = agents[agent_id]
        row = agent_rows.get(agent_id)
        if row is None or row.profile != _stored(profile):
            await repository.put_agent(conn, agent_id, _stored(profile), spec.availability.value, now)
            events.append(profile)
        if row is None and spec.availability is not Availability.OFF:
            events.append(
                AgentAvailabilityChanged(agent_id=agent_id, availability=spec.availability, previous=None, by=by)
            )
    for team_id, team in teams.items():
        team_row = team_rows.get(team_id)
        if team_row is None or team_row.profile != _stored(team):
            await repository.put_team(conn, team_id, _stored(team), now)
            events.append(team)
    if events:
        await record(conn, [new_envelope(e, ticket_id=PEOPLE_KEY, producer=PRODUCER, clock=clock) for e in events])
        await _adopt_unpooled(conn, clock, served)
    return len(events)


async def _adopt_unpooled(conn: AsyncConnection, clock: Clock, served: Mapping[str, str]) -> None:
    """Tickets triaged to a queue nobody served wait in the pool of the team that serves it now."""
    for row in await repository.unpooled(conn, sorted(served)):
        team = served[row.queue]
        before = holder_of(row)
        explanation = f"queue {row.queue} is served by team {team}"
        change = to_pool(before, team, BY, AssignmentReason.RULE, explanation, row.waiting_since or clock.now())
        await save(conn, row.ticket_id, before, change, clock)
