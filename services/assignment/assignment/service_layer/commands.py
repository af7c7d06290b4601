"""What agents ask of assignment directly: assign, claim, put back in the pool, hand to a third
party. Each runs under the ticket's row lock; with `if_match` the caller's version must be the
ticket's, else `Stale` carries the events they have not seen."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import AssignmentReason
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, anchored_envelope
from supportdesk_contract.ids import ticket_anchor
from supportdesk_messaging.outbox import record

from ..adapters import repository
from .desk import agents_by_name, holder_of
from .holders import Change, Holder, Refused, give, hand_back, to_pool, to_third_party

PRODUCER = "assignment"


class Stale(Exception):
    """The caller's `If-Match` is not the ticket's version: what they missed since."""

    def __init__(self, version: int, missed: list[dict[str, Any]]) -> None:
        super().__init__(f"the assignment is at version {version}")
        self.version, self.missed = version, missed


def envelopes(ticket_id: str, before: Holder, change: Change, clock: Clock) -> list[Envelope[Any]]:
    """The change's events, each with an id anchored on the ticket and the version it makes: one
    version, one event, whoever records it."""
    correlation = uuid.uuid4()  # a command or a pass decision starts a causal chain of its own
    return [
        anchored_envelope(
            event,
            ticket_id=ticket_id,
            anchor=ticket_anchor(PRODUCER, ticket_id),
            discriminator=f"v{before.version + i + 1}",
            producer=PRODUCER,
            clock=clock,
            correlation_id=correlation,
        )
        for i, event in enumerate(change.events)
    ]


async def save(conn: AsyncConnection, ticket_id: str, before: Holder, change: Change, clock: Clock) -> None:
    await save_all(conn, [(ticket_id, before, change)], clock)


async def save_all(conn: AsyncConnection, changes: Sequence[tuple[str, Holder, Change]], clock: Clock) -> None:
    """Write these tickets' changes and record their events: two round trips for any number."""
    changes = [c for c in changes if c[2].events]
    if not changes:
        return
    now = clock.now()
    await repository.change_tickets(conn, [(t, {**change.values, "updated_at": now}) for t, _, change in changes])
    await record(conn, [env for t, before, change in changes for env in envelopes(t, before, change, clock)])


Decide = Callable[[Holder, Sequence[Row[Any]], datetime], Change]


async def _command(engine: AsyncEngine, clock: Clock, ticket_id: str, if_match: int | None, decide: Decide) -> None:
    async with engine.begin() as conn:
        row = await repository.get_ticket(conn, ticket_id, for_update=True)
        if row is None:
            raise Refused(404, f"assignment has not heard of ticket {ticket_id} (yet)")
        if if_match is not None and if_match != row.version:
            raise Stale(row.version, await repository.missed_events(conn, ticket_id, if_match))
        before = holder_of(row)
        if not before.is_open:
            raise Refused(409, f"ticket {ticket_id} is closed: reopen it first")
        change = decide(before, await repository.agent_rows(conn), clock.now())
        await save(conn, ticket_id, before, change, clock)


def _team_for(agent: Row[Any], before: Holder, asked: str | None) -> str:
    teams: list[str] = list(agent.profile.get("teams", []))
    if asked is not None:
        if asked not in teams:
            raise Refused(422, f"{agent.agent_id} is not an agent of team {asked}", "team")
        return asked
    if before.team in teams:
        return before.team
    if not teams:
        raise Refused(422, f"{agent.agent_id} is in no team", "agent")
    return teams[0]


async def assign(
    engine: AsyncEngine,
    clock: Clock,
    ticket_id: str,
    agent: str | None,
    team: str | None,
    by: str,
    if_match: int | None = None,
) -> None:
    """A person gives the ticket to an agent (of `team`, or of the ticket's team), or to a team's
    pool only. A manual holder keeps it against the rule; only a hand-back takes it away."""
    team_ids = await _team_ids(engine)
    if team is not None and team not in team_ids:
        raise Refused(422, f"no team {team} in the directory", "team")

    def decide(before: Holder, agents: Sequence[Row[Any]], now: datetime) -> Change:
        if agent is None:
            assert team is not None  # the route asks for one of them
            return to_pool(before, team, by, AssignmentReason.MANUAL, f"{by} put it in team {team}'s pool", now)
        row = next((r for r in agents if r.agent_id == agent), None)
        if row is None or not row.profile.get("active", True):
            raise Refused(422, f"no active agent {agent} in the directory", "agent")
        given = _team_for(row, before, team)
        return give(before, agent, given, by, AssignmentReason.MANUAL, f"assigned to {agent} ({given}) by {by}")

    await _command(engine, clock, ticket_id, if_match, decide)


async def claim(engine: AsyncEngine, clock: Clock, ticket_id: str, caller: str, if_match: int | None = None) -> str:
    """The caller takes the ticket; their agent id. Refused (403) if they are not an agent of the
    directory."""
    taken: list[str] = []

    def decide(before: Holder, agents: Sequence[Row[Any]], now: datetime) -> Change:
        row = agents_by_name(agents, caller)
        if row is None or not row.profile.get("active", True):
            raise Refused(403, f"{caller} is not an active agent of the directory: only agents claim tickets")
        taken.append(row.agent_id)
        given = _team_for(row, before, None)
        return give(before, row.agent_id, given, caller, AssignmentReason.CLAIMED, f"{row.agent_id} took it ({given})")

    await _command(engine, clock, ticket_id, if_match, decide)
    return taken[0]


async def unassign(engine: AsyncEngine, clock: Clock, ticket_id: str, by: str, if_match: int | None = None) -> None:
    """Nobody holds the ticket; it waits in its team's pool again."""

    def decide(before: Holder, agents: Sequence[Row[Any]], now: datetime) -> Change:
        return hand_back(before, by, AssignmentReason.MANUAL, f"{by} put it back in the team's pool", now)

    await _command(engine, clock, ticket_id, if_match, decide)


async def to_vendor(
    engine: AsyncEngine, clock: Clock, ticket_id: str, vendor: str, by: str, if_match: int | None = None
) -> None:
    """A vendor holds the ticket (docs/policies.md#seed-000); it leaves the pool."""

    def decide(before: Holder, agents: Sequence[Row[Any]], now: datetime) -> Change:
        return to_third_party(before, vendor, by, f"handed to {vendor} by {by}")

    await _command(engine, clock, ticket_id, if_match, decide)


async def _team_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return {r.team_id for r in await repository.team_rows(conn)}
