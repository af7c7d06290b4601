"""assignment's write model: the statements its commands, handlers and the assignment pass run,
in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, select, text, update
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


async def serving_team(conn: AsyncConnection, queue: str) -> str | None:
    """The active team serving `queue` (the directory allows one), or None."""
    query = (
        select(teams.c.team_id)
        .where(teams.c.profile["active"].as_boolean(), teams.c.profile["queues"].contains([queue]))
        .order_by(teams.c.team_id)
        .limit(1)
    )
    return (await conn.execute(query)).scalar()


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


async def write_ticket(conn: AsyncConnection, ticket_id: str, values: Mapping[str, Any], now: datetime) -> None:
    """Write what an event says about the ticket, creating its row if this is the first word of it
    (events of different topics arrive in any order). The upsert locks the row like a SELECT FOR
    UPDATE would, for the rest of the transaction."""
    await conn.execute(
        insert(tickets)
        .values(ticket_id=ticket_id, updated_at=now, **values)
        .on_conflict_do_update(index_elements=["ticket_id"], set_={**values, "updated_at": now})
    )


async def note_ticket(conn: AsyncConnection, ticket_id: str, values: Mapping[str, Any], now: datetime) -> Row[Any]:
    """`write_ticket`, then the row (locked), for handlers that decide from it."""
    await write_ticket(conn, ticket_id, values, now)
    row = await get_ticket(conn, ticket_id, for_update=True)
    assert row is not None  # just written in this transaction
    return row


async def change_ticket(conn: AsyncConnection, ticket_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(update(tickets).where(tickets.c.ticket_id == ticket_id).values(**values))


async def note_clock(
    conn: AsyncConnection,
    ticket_id: str,
    clock: str,
    cycle: int,
    running: bool,
    due_at: datetime | None,
    calendar: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Record a target clock's state (an older cycle's news changes nothing), then the ticket's
    earliest running due instant and its calendar."""
    if clock not in TARGET_CLOCKS:
        return
    values: dict[str, Any] = {"cycle": cycle, "running": running, "due_at": due_at}
    if calendar is not None:
        values["calendar"] = calendar
    c = ticket_clocks
    await conn.execute(
        insert(c)
        .values(ticket_id=ticket_id, clock=clock, **values)
        .on_conflict_do_update(index_elements=["ticket_id", "clock"], set_=values, where=c.c.cycle <= cycle)
    )
    earliest = (
        await conn.execute(
            select(c.c.due_at, c.c.calendar)
            .where(c.c.ticket_id == ticket_id, c.c.running, c.c.due_at.is_not(None))
            .order_by(c.c.due_at)
            .limit(1)
        )
    ).first()
    await write_ticket(
        conn,
        ticket_id,
        {"due_at": earliest.due_at if earliest else None, "due_calendar": earliest.calendar if earliest else None},
        now,
    )


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


async def held(conn: AsyncConnection) -> list[Holding]:
    """The open tickets an agent holds: only what the desk counts (the pass reads them all, each time)."""
    t = tickets
    query = select(t.c.ticket_id, t.c.agent, t.c.team, t.c.priority).where(t.c.is_open, t.c.agent.is_not(None))
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
