"""The desk as the domain sees it, from assignment's tables: agents and teams (from the profiles
their events carried), the tickets held and the tickets waiting."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Row

from supportdesk_contract.catalogue import AgentProfileChanged, Availability, CalendarDefinition, TeamProfileChanged
from supportdesk_contract.vocabulary import Priority, RequestType

from ..domain.choosing import WaitingTicket
from ..domain.people import Agent, Team, calendar_of
from .holders import Holder


def profile_of_agent(row: Row[Any]) -> AgentProfileChanged:
    return AgentProfileChanged.model_validate({**row.profile, "by": ""})


def profile_of_team(row: Row[Any]) -> TeamProfileChanged:
    return TeamProfileChanged.model_validate({**row.profile, "by": ""})


def agent_of(row: Row[Any]) -> Agent:
    """The agent a row is. The pass reads every agent each time, and a profile's calendar takes
    long to build: made once per distinct profile and availability."""
    return _kept(_agents, (json.dumps(row.profile, sort_keys=True), row.availability), lambda: _agent_of(row))


def team_of(row: Row[Any]) -> Team:
    """The team a row is; made once per distinct profile, like `agent_of`."""
    return _kept(_teams, json.dumps(row.profile, sort_keys=True), lambda: _team_of(row))


K = TypeVar("K")
V = TypeVar("V")
# Enough for the largest desk (1,000 agents and their teams) with room for changes.
_KEPT = 4096
_agents: dict[tuple[str, str], Agent] = {}
_teams: dict[str, Team] = {}


def _kept(cache: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """`cache[key]`, made on first use; the oldest entry goes once there are more than _KEPT."""
    found = cache.get(key)
    if found is None:
        found = cache[key] = make()
        if len(cache) > _KEPT:
            del cache[next(iter(cache))]
    return found


def _agent_of(row: Row[Any]) -> Agent:
    p = profile_of_agent(row)
    return Agent(
        id=p.agent_id,
        name=p.name,
        email=p.email,
        subject=p.subject,
        teams=frozenset(p.teams),
        skills=frozenset(p.skills),
        languages=frozenset(p.languages),
        capacity=p.capacity,
        time_zone=p.time_zone,
        working_hours=calendar_of(p.working_hours) if p.working_hours is not None else None,
        active=p.active,
        availability=Availability(row.availability),
    )


def _team_of(row: Row[Any]) -> Team:
    p = profile_of_team(row)
    return Team(
        id=p.team_id,
        name=p.name,
        members=p.members,
        lead=p.lead,
        queues=p.queues,
        calendar=calendar_of(p.calendar) if p.calendar is not None else None,
        escalation_tier=p.escalation_tier,
        rule=p.rule,
        hand_back_after=timedelta(minutes=p.hand_back_after_minutes),
        active=p.active,
    )


def waiting_of(row: Row[Any]) -> WaitingTicket:
    due_calendar = row.due_calendar
    return WaitingTicket(
        ticket_id=row.ticket_id,
        team=row.team,
        priority=Priority(row.priority or Priority.NORMAL.value),
        request_type=RequestType(row.request_type) if row.request_type else None,
        language=None,  # no event tells a ticket's language yet
        customer_id=row.customer_id,
        product=None,  # nor its product
        waiting_since=row.waiting_since or row.updated_at,
        first_due_at=row.due_at,
        calendar=calendar_of(_carried(due_calendar)) if row.due_at is not None and due_calendar else None,
    )


def _carried(document: dict[str, Any]) -> CalendarDefinition:
    """The calendar a stored definition is. Every waiting ticket of a policy carries the same one,
    and the pass reads them all each time: parsed once per distinct document."""
    key = json.dumps(document, sort_keys=True)
    return _kept(_calendars, key, lambda: CalendarDefinition.model_validate(document))


_calendars: dict[str, CalendarDefinition] = {}


def agents_by_name(rows: Sequence[Row[Any]], name: str) -> Row[Any] | None:
    """The agent a caller's name is: their id, email or identity-provider subject."""
    lowered = name.lower()
    for row in rows:
        p = row.profile
        if row.agent_id == name or str(p.get("email", "")).lower() == lowered or p.get("subject") == name:
            return row
    return None


def holder_of(row: Row[Any]) -> Holder:
    return holder_in(row._mapping)


def holder_in(row: Mapping[Any, Any]) -> Holder:
    return Holder(row["team"], row["agent"], row["third_party"], row["manual"], row["is_open"], row["version"])
