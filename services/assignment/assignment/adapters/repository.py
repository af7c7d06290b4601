"""assignment's write model: the statements its commands, handlers and the assignment pass run,
in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import ClockKind
from supportdesk_contract.topics import Topic
from supportdesk_contract.vocabulary import Priority

from ..domain.choosing import Holding
from .tables import agents, assignment_pass, events, teams, ticket_clocks, tickets

# Any constant: the directory's writers (the people file at start, the admin API) take turns on it.
_DIRECTORY_LOCK = 0x50E0_91E5
# The clocks a ticket can breach: the auto-close timers are not targets an agent races.
TARGET_CLOCKS = (ClockKind.FIRST_RESPONSE.value, ClockKind.RESOLUTION.value)


# --- the people directory -------------------------------------------------------------------


async def lock_directory(conn: AsyncConnection) -> None:
    """Until the transaction ends, no other writer changes the directory."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DIRECTORY_LOCK})


async def agent_rows(conn: AsyncConnection) -> Sequence[Row[Any]]:
    return (await conn.execute(select(agents).order_by(agents.c.agent_id))).all()


async def team_rows(conn: AsyncConnection) -> Sequence[Row[Any]]:
    return (await conn.execute(select(teams).order_by(teams.c.team_id))).all()


async def get_agent(conn: AsyncConnection, agent_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(agents).where(agents.c.agent_id == agent_id)
    return (await conn.execute(query.with_for_update() if for_update else query)).first()


async def put_agent(
    conn: AsyncConnection, agent_id: str, profile: Mapping[str, Any], availability: str, now: datetime
) -> None:
    """Insert the agent with `availability` (a new agent's), or change only their profile."""
    await conn.execute(
        insert(agents)
        .values(agent_id=agent_id, profile=profile, availability=availability, availability_since=now, updated_at=now)
        .on_conflict_do_update(index_elements=["agent_id"], set_={"profile": profile, "updated_at": now})
    )


async def put_team(conn: AsyncConnection, team_id: str, profile: Mapping[str, Any], now: datetime) -> None:
    await conn.execute(
        insert(teams)
        .values(team_id=team_id, profile=profile, updated_at=now)
        .on_conflict_do_update(index_elements=["team_id"], set_={"profile": profile, "updated_at": now})
    )


async def set_availability(conn: AsyncConnection, agent_id: str, availability: str, now: datetime) -> None:
    await conn.execute(
        update(agents)
        .where(agents.c.agent_id == agent_id)
        .values(availability=availability, availability_since=now, updated_at=now)
    )


async def serving_teams(conn: AsyncConnection) -> dict[str, str]:
    """Queue -> the active team serving it (the directory allows one; the first by id if not)."""
    query = select(teams.c.team_id, teams.c.profile["queues"]).where(teams.c.profile["active"].as_boolean())
    served: dict[str, str] = {}
    for team_id, queues in sorted((await conn.execute(query)).all(), reverse=True):
        served.update(dict.fromkeys(queues or (), team_id))
    return served


# --- the ticket pool ------------------------------------------------------------------------


async def unpooled(conn: AsyncConnection, queues: Sequence[str]) -> Sequence[Row[Any]]:
    """Open tickets of these queues in no team's pool and held by nobody (no team served their
    queue when they were triaged), locked."""
    t = tickets
    query = (
        select(t)
        .where(t.c.is_open, t.c.team.is_(None), t.c.agent.is_(None), t.c.third_party.is_(None), t.c.queue.in_(queues))
        .order_by(t.c.ticket_id)
        .with_for_update()
    )
    return (await conn.execute(query)).all()


async def get_ticket(
    conn: AsyncConnection, ticket_id: str, *, for_update: bool = False, skip_locked: bool = False
) -> Row[Any] | None:
    """The ticket's row; with `for_update` locked for the transaction (with `skip_locked`: None
    while another transaction holds it)."""
    query = select(tickets).where(tickets.c.ticket_id == ticket_id)
    if for_update:
        query = query.with_for_update(skip_locked=skip_locked)
    return (await conn.execute(query)).first()


async def change_ticket(conn: AsyncConnection, ticket_id: str, values: Mapping[str, Any]) -> None:
    await change_tickets(conn, [(ticket_id, values)])


async def change_tickets(conn: AsyncConnection, changes: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Change these tickets' columns: one executemany per set of columns changed."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for ticket_id, values in changes:
        groups.setdefault(tuple(sorted(values)), []).append({"the_ticket": ticket_id, **values})
    for columns, params in groups.items():
        statement = (
            update(tickets)
            .where(tickets.c.ticket_id == bindparam("the_ticket"))
            .values({c: bindparam(c) for c in columns})
        )
        await conn.execute(statement, params if len(params) > 1 else params[0])


async def lock_tickets(conn: AsyncConnection, ticket_ids: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """The rows of these tickets, locked for the transaction, each created empty if this is the
    first word of it (events of different topics arrive in any order): two round trips for a
    whole batch. Locked in id order, as every batch does, so two batches never deadlock."""
    ordered = sorted(set(ticket_ids))
    if not ordered:
        return []
    await conn.execute(
        insert(tickets).values([{"ticket_id": t, "updated_at": now} for t in ordered]).on_conflict_do_nothing()
    )
    query = select(tickets).where(tickets.c.ticket_id.in_(ordered)).order_by(tickets.c.ticket_id).with_for_update()
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def clocks_of(conn: AsyncConnection, ticket_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The target clocks kept for these tickets (their rows are locked by `lock_tickets`)."""
    query = select(ticket_clocks).where(ticket_clocks.c.ticket_id.in_(sorted(set(ticket_ids))))
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


# The batch's writes (`HandlerContext.write`), one executemany per statement: a ticket's whole row
# (the columns its events may change), and a target clock's state.
TICKET_COLUMNS = (
    "customer_id", "queue", "priority", "request_type", "team", "agent", "third_party", "manual", "is_open",
    "waiting_since", "due_at", "due_calendar", "version", "updated_at",
)  # fmt: skip
PUT_TICKET = (
    update(tickets)
    .where(tickets.c.ticket_id == bindparam("the_ticket"))
    .values({c: bindparam(c) for c in TICKET_COLUMNS})
)
PUT_CLOCK = (
    insert(ticket_clocks)
    .values({c.name: bindparam(c.name) for c in ticket_clocks.columns})
    .on_conflict_do_update(
        index_elements=["ticket_id", "clock"],
        set_={c: bindparam(c) for c in ("cycle", "running", "due_at", "calendar")},
    )
)


def ticket_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """`PUT_TICKET`'s parameters for a ticket's row."""
    return {"the_ticket": values["ticket_id"], **{c: values[c] for c in TICKET_COLUMNS}}


async def missed_events(conn: AsyncConnection, ticket_id: str, seen_version: int) -> list[dict[str, Any]]:
    """The ticket's assignment events after the first `seen_version` (the version counts them)."""
    query = (
        select(events.c.envelope)
        .where(events.c.ticket_id == ticket_id, events.c.topic == Topic.ASSIGNMENT.value)
        .order_by(events.c.position)
        .offset(max(seen_version, 0))
    )
    return [dict(e) for e in (await conn.execute(query)).scalars()]


# --- the assignment pass --------------------------------------------------------------------


async def claim_pass(conn: AsyncConnection) -> dict[str, str] | None:
    """The round-robin cursors, with the pass claimed for this transaction; None while another
    replica's pass holds it."""
    query = select(assignment_pass.c.last_given).where(assignment_pass.c.id == 1).with_for_update(skip_locked=True)
    row = (await conn.execute(query)).first()
    return None if row is None else dict(row.last_given)


async def save_pass(conn: AsyncConnection, last_given: Mapping[str, str], now: datetime) -> None:
    await conn.execute(
        update(assignment_pass).where(assignment_pass.c.id == 1).values(last_given=dict(last_given), last_pass_at=now)
    )


async def held_counts(conn: AsyncConnection) -> list[tuple[str, str, Priority, int]]:
    """How many open tickets each agent holds for each team, by priority: what their loads are
    (the pass reads it each time, so it reads counts, not tickets)."""
    t = tickets
    query = (
        select(t.c.agent, t.c.team, t.c.priority, func.count())
        .where(t.c.is_open, t.c.agent.is_not(None))
        .group_by(t.c.agent, t.c.team, t.c.priority)
    )
    return [
        (agent, team, Priority(priority or Priority.NORMAL.value), n)
        for agent, team, priority, n in (await conn.execute(query)).all()
    ]


async def held_by(conn: AsyncConnection, holders: Collection[tuple[str, str]]) -> list[Holding]:
    """The open tickets these (agent, team) holders hold, one by one."""
    if not holders:
        return []
    t = tickets
    query = select(t.c.ticket_id, t.c.agent, t.c.team, t.c.priority).where(
        t.c.is_open, tuple_(t.c.agent, t.c.team).in_(sorted(holders))
    )
    return [
        Holding(ticket_id, agent, team, Priority(priority or Priority.NORMAL.value))
        for ticket_id, agent, team, priority in (await conn.execute(query)).all()
    ]


async def waiting(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """The open tickets in a team's pool that nobody holds (a third party's are not waiting),
    locked for the pass; one a command holds just now is left for the next pass."""
    t = tickets
    query = (
        select(t)
        .where(and_(t.c.is_open, t.c.agent.is_(None), t.c.team.is_not(None), t.c.third_party.is_(None)))
        .order_by(t.c.ticket_id)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(query)).all()


async def count_held(conn: AsyncConnection) -> Mapping[str, int]:
    t = tickets
    query = select(t.c.agent, func.count()).where(t.c.is_open, t.c.agent.is_not(None)).group_by(t.c.agent)
    return {agent: n for agent, n in (await conn.execute(query)).all()}
