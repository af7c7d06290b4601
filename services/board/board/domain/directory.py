"""Who works here, as the board shows it: each agent and team as its latest profile event says,
and each agent's latest availability. People events are not about a ticket (all are keyed by
PEOPLE_KEY, one partition, in the order they were made), so they never make a ticket row: they
fold here, into one entry per agent or team, each replaced whole by its next profile event.

Pure: `apply` folds one event into the entry it concerns; the projection keeps the entries in
`board_agents` and `board_teams`, and a read as of an instant folds the people log again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from supportdesk_contract.catalogue import AgentAvailabilityChanged, AgentProfileChanged, Event, TeamProfileChanged


class AgentEntry(BaseModel):
    agent_id: str
    # None until the agent's first profile event (an availability may come first).
    name: str | None = None
    email: str | None = None
    subject: str | None = None
    teams: list[str] = []
    skills: list[str] = []
    languages: list[str] = []
    capacity: int | None = None
    time_zone: str | None = None
    active: bool = True
    availability: str | None = None  # online | away | off; None: never said
    profile_at: datetime | None = None
    availability_at: datetime | None = None


class TeamEntry(BaseModel):
    team_id: str
    name: str
    members: list[str] = []
    lead: str | None = None
    lead_email: str | None = None
    queues: list[str] = []
    escalation_tier: int | None = None
    rule: str = "manual"
    active: bool = True
    changed_at: datetime


PEOPLE_EVENTS = (AgentProfileChanged, AgentAvailabilityChanged, TeamProfileChanged)


def apply_to_agent(
    entry: AgentEntry | None, event: AgentProfileChanged | AgentAvailabilityChanged, at: datetime
) -> AgentEntry:
    """The agent's entry after `event` (`entry`: as it stood; None if the board has none yet)."""
    current = entry or AgentEntry(agent_id=event.agent_id)
    match event:
        case AgentProfileChanged():
            return AgentEntry(
                agent_id=event.agent_id,
                name=event.name,
                email=event.email,
                subject=event.subject,
                teams=list(event.teams),
                skills=list(event.skills),
                languages=list(event.languages),
                capacity=event.capacity,
                time_zone=event.time_zone,
                active=event.active,
                availability=current.availability,
                profile_at=at,
                availability_at=current.availability_at,
            )
        case AgentAvailabilityChanged():
            return current.model_copy(update={"availability": event.availability.value, "availability_at": at})


def team_of(event: TeamProfileChanged, at: datetime) -> TeamEntry:
    """A team's entry: its latest profile, whole."""
    return TeamEntry(
        team_id=event.team_id,
        name=event.name,
        members=list(event.members),
        lead=event.lead,
        lead_email=event.lead_email,
        queues=list(event.queues),
        escalation_tier=event.escalation_tier,
        rule=event.rule.value,
        active=event.active,
        changed_at=at,
    )


@dataclass
class Directory:
    """The whole directory folded in memory (a read as of an instant folds the log into one)."""

    agents: dict[str, AgentEntry] = field(default_factory=dict)
    teams: dict[str, TeamEntry] = field(default_factory=dict)

    def apply(self, event: Event, at: datetime) -> None:
        match event:
            case AgentProfileChanged() | AgentAvailabilityChanged():
                self.agents[event.agent_id] = apply_to_agent(self.agents.get(event.agent_id), event, at)
            case TeamProfileChanged():
                self.teams[event.team_id] = team_of(event, at)


def teams_of(agent: AgentEntry, teams: Iterable[TeamEntry]) -> list[str]:
    """The agent's teams: those of their profile and those whose profile lists them as a member
    (the owner keeps the two in step; the board takes either, so "my team's" never misses one)."""
    return sorted({*agent.teams, *(t.team_id for t in teams if agent.agent_id in t.members)})


def caller_agent(caller: str, agents: Mapping[str, AgentEntry]) -> AgentEntry | None:
    """The agent an API key's or token's principal name is: by agent id, else by email (any case)
    or identity-provider subject."""
    if caller in agents:
        return agents[caller]
    folded = caller.casefold()
    for agent in agents.values():
        if (agent.email is not None and agent.email.casefold() == folded) or agent.subject == caller:
            return agent
    return None
