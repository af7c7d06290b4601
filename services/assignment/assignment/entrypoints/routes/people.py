"""The people directory: agents and teams (admin key to change them), and each agent's
availability (the agent themself, or an admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from supportdesk_contract.catalogue import Availability
from supportdesk_service.auth import AdminAuth, Credentials, agent_principal, key_owner
from supportdesk_service.problems import Problem, problem_answers

from ...adapters.people_file import AgentSpec, TeamSpec
from ...service_layer import directory, views
from ...service_layer.holders import Refused
from . import Runtime

router = APIRouter(tags=["people"])

PersonId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]


def refused(e: Refused) -> Problem:
    extra: dict[str, Any] = {"field": e.field} if e.field else {}
    titles = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Invalid request"}
    return Problem(e.status, titles.get(e.status, "Error"), e.detail, **extra)


@dataclass(frozen=True)
class Caller:
    name: str
    is_admin: bool


async def agent_or_admin(runtime: Runtime, credentials: Credentials) -> Caller:
    """An admin key, else whatever the chassis accepts as an agent (a key or a token; 401 if neither)."""
    admin = key_owner(runtime.settings.admin_key_names(), credentials)
    if admin is not None:
        return Caller(admin, True)
    principal = await agent_principal(runtime, credentials)
    return Caller(principal.name, principal.admin)


class AgentView(BaseModel):
    agent_id: str
    name: str
    email: str
    subject: str | None
    teams: list[str]
    skills: list[str]
    languages: list[str]
    capacity: int
    time_zone: str
    working_hours: dict[str, Any] | None
    active: bool
    availability: Availability
    availability_since: datetime
    open_tickets: int


class TeamView(BaseModel):
    team_id: str
    name: str
    members: list[str]
    lead: str | None
    lead_email: str | None
    queues: list[str]
    calendar: dict[str, Any] | None
    escalation_tier: int | None
    rule: str
    hand_back_after_minutes: int
    active: bool


@router.get("/v1/agents", response_model=list[AgentView], dependencies=[Depends(agent_or_admin)])
async def list_agents(runtime: Runtime) -> list[AgentView]:
    """Every agent: the profile their last event carried, their availability and open tickets."""
    return [AgentView.model_validate(a) for a in await views.agents(runtime.engine)]


@router.get("/v1/teams", response_model=list[TeamView], dependencies=[Depends(agent_or_admin)])
async def list_teams(runtime: Runtime) -> list[TeamView]:
    return [TeamView.model_validate(t) for t in await views.teams(runtime.engine)]


@router.put(
    "/v1/agents/{agent_id}",
    response_model=AgentView,
    responses=problem_answers(s422="an unknown team, or an invalid field"),
)
async def put_agent(
    agent_id: PersonId, body: AgentSpec, runtime: Runtime, admin: Annotated[str, AdminAuth]
) -> AgentView:
    """Add or change an agent (admin). An event only if something changed; `availability` counts
    only for a new agent."""
    try:
        await directory.put_agent(runtime.engine, runtime.clock, agent_id, body, admin)
    except Refused as e:
        raise refused(e) from e
    found = [a for a in await views.agents(runtime.engine) if a["agent_id"] == agent_id]
    return AgentView.model_validate(found[0])


@router.put(
    "/v1/teams/{team_id}",
    response_model=TeamView,
    responses=problem_answers(s422="a lead who is not a member, a queue another team serves, or an invalid field"),
)
async def put_team(team_id: PersonId, body: TeamSpec, runtime: Runtime, admin: Annotated[str, AdminAuth]) -> TeamView:
    """Add or change a team (admin). Its members are the agents that name it."""
    try:
        await directory.put_team(runtime.engine, runtime.clock, team_id, body, admin)
    except Refused as e:
        raise refused(e) from e
    found = [t for t in await views.teams(runtime.engine) if t["team_id"] == team_id]
    return TeamView.model_validate(found[0])


class AvailabilityIn(BaseModel):
    availability: Availability


@router.put(
    "/v1/agents/{agent_id}/availability",
    response_model=AgentView,
    responses=problem_answers(s403="the caller is neither this agent nor an admin", s404="no such agent"),
)
async def put_availability(
    agent_id: PersonId, body: AvailabilityIn, runtime: Runtime, caller: Annotated[Caller, Depends(agent_or_admin)]
) -> AgentView:
    """Online, away or off: set by the agent themself (the caller's name is their id or email) or
    an admin. Away or off past their team's grace, their tickets go back to the pool."""
    try:
        await directory.set_availability(
            runtime.engine, runtime.clock, agent_id, body.availability, caller.name, caller.is_admin
        )
    except Refused as e:
        raise refused(e) from e
    found = [a for a in await views.agents(runtime.engine) if a["agent_id"] == agent_id]
    return AgentView.model_validate(found[0])
