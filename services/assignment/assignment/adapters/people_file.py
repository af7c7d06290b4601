"""The people directory as configured: agents and teams, from YAML at start
(ASSIGNMENT_PEOPLE_FILE) and from the admin API after; turned into the events that carry them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from supportdesk_contract.catalogue import AgentProfileChanged, AssignmentRule, Availability, TeamProfileChanged
from supportdesk_service.guard import SafeText

from .calendars import CalendarSpec, definition

# An id, queue, skill or language as the directory names it: short, no NUL.
Name = Annotated[SafeText, StringConstraints(min_length=1, max_length=100)]


class AgentSpec(BaseModel):
    """One agent. `working_hours` absent: the agent works their teams' hours. `availability` is the
    agent's availability when first added; after that only the availability API changes it."""

    model_config = ConfigDict(extra="forbid")
    name: SafeText = Field(min_length=1, max_length=200)
    email: EmailStr
    subject: SafeText | None = Field(None, min_length=1, max_length=255)
    teams: list[Name] = Field([], max_length=100)
    skills: list[Name] = Field([], max_length=100)
    languages: list[Name] = Field([], max_length=100)
    capacity: int = Field(ge=0, le=10_000)
    time_zone: str = "UTC"
    working_hours: CalendarSpec | None = None
    active: bool = True
    availability: Availability = Availability.OFF

    def profile(self, agent_id: str, by: str, now: datetime) -> AgentProfileChanged:
        return AgentProfileChanged(
            agent_id=agent_id,
            name=self.name,
            email=str(self.email),
            subject=self.subject,
            teams=tuple(self.teams),
            skills=tuple(self.skills),
            languages=tuple(self.languages),
            capacity=self.capacity,
            time_zone=self.working_hours.zone if self.working_hours else self.time_zone,
            working_hours=definition(self.working_hours, f"{agent_id}-hours", now) if self.working_hours else None,
            active=self.active,
            by=by,
        )


class TeamSpec(BaseModel):
    """One team. Its members are the agents that name it; its `lead` is one of them."""

    model_config = ConfigDict(extra="forbid")
    name: SafeText = Field(min_length=1, max_length=200)
    queues: list[Name] = Field([], max_length=100)
    lead: Name | None = None
    calendar: CalendarSpec | None = None
    escalation_tier: int | None = Field(None, ge=1, le=10)
    rule: AssignmentRule = AssignmentRule.MANUAL
    hand_back_after_minutes: int = Field(15, ge=0, le=7 * 24 * 60)
    active: bool = True

    def profile(
        self, team_id: str, members: tuple[str, ...], lead_email: str | None, by: str, now: datetime
    ) -> TeamProfileChanged:
        return TeamProfileChanged(
            team_id=team_id,
            name=self.name,
            members=members,
            lead=self.lead,
            lead_email=lead_email,
            queues=tuple(self.queues),
            calendar=definition(self.calendar, f"{team_id}-hours", now) if self.calendar else None,
            escalation_tier=self.escalation_tier,
            rule=self.rule,
            hand_back_after_minutes=self.hand_back_after_minutes,
            active=self.active,
            by=by,
        )


class PeopleSpec(BaseModel):
    """The whole file: teams and agents by id."""

    model_config = ConfigDict(extra="forbid")
    teams: dict[str, TeamSpec] = {}
    agents: dict[str, AgentSpec] = {}

    @model_validator(mode="after")
    def _consistent(self) -> PeopleSpec:
        for agent_id, agent in self.agents.items():
            unknown = [t for t in agent.teams if t not in self.teams]
            if unknown:
                raise ValueError(f"agent {agent_id} names unknown teams: {', '.join(unknown)}")
        for team_id, team in self.teams.items():
            if team.lead is not None and team_id not in self.agents.get(team.lead, _NOBODY).teams:
                raise ValueError(f"team {team_id}: its lead {team.lead} is not an agent of the team")
        served: dict[str, str] = {}
        for team_id, team in self.teams.items():
            for queue in team.queues if team.active else ():
                if queue in served:
                    raise ValueError(f"queue {queue} is served by two active teams: {served[queue]} and {team_id}")
                served[queue] = team_id
        return self


_NOBODY = AgentSpec(name="-", email="nobody@example.com", capacity=0)
