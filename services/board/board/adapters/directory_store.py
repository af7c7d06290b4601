"""Where the directory (`domain.directory`) is kept: `board_agents`, `board_teams`, and the people
events folded into them (`board_people_log`), which a read as of an instant folds again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Row, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.directory import AgentEntry, TeamEntry
from ..domain.timeline import Fact
from .tables import board_agents, board_people_log, board_teams

a, tm, log = board_agents, board_teams, board_people_log


async def agent(conn: AsyncConnection, agent_id: str) -> AgentEntry | None:
    found = (await conn.execute(select(a).where(a.c.agent_id == agent_id))).first()
    return AgentEntry.model_validate(dict(found._mapping)) if found is not None else None


async def put_agents(conn: AsyncConnection, entries: Iterable[AgentEntry], *, replace: bool = True) -> None:
    """Insert the entries; with `replace`, over the ones of the same id (an as-of read's tables
    start empty and have no key to conflict on)."""
    rows = [e.model_dump() for e in entries]
    if rows and not replace:
        await conn.execute(insert(a).values(rows))
    elif rows:
        stmt = insert(a).values(rows)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[a.c.agent_id], set_={c.name: stmt.excluded[c.name] for c in a.c if c.name != "agent_id"}
            )
        )


async def put_teams(conn: AsyncConnection, entries: Iterable[TeamEntry], *, replace: bool = True) -> None:
    """Insert the entries; with `replace`, over the ones of the same id (an as-of read's tables
    start empty and have no key to conflict on)."""
    rows = [e.model_dump() for e in entries]
    if rows and not replace:
        await conn.execute(insert(tm).values(rows))
    elif rows:
        stmt = insert(tm).values(rows)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[tm.c.team_id], set_={c.name: stmt.excluded[c.name] for c in tm.c if c.name != "team_id"}
            )
        )


async def append_log(conn: AsyncConnection, fact: Fact) -> None:
    """The event, numbered after the last one. One partition has one consumer at a time, but two
    may overlap in a rebalance: one numbering writer at a time, held to commit, so the second
    waits and numbers after the first instead of failing on the key."""
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("board_people_log"))))
    following = select(func.coalesce(func.max(log.c.seq), 0) + 1).scalar_subquery()
    await conn.execute(
        insert(log).values(
            seq=following,
            event_id=fact.event_id,
            event_type=fact.event_type,
            occurred_at=fact.occurred_at,
            producer=fact.producer,
            payload=to_jsonable_python(fact.payload),
        )
    )


async def log_up_to(conn: AsyncConnection, as_of: datetime) -> Sequence[Row[str, datetime, Any]]:
    """The people events that had occurred by `as_of`, in the order applied."""
    query = select(log.c.event_type, log.c.occurred_at, log.c.payload).where(log.c.occurred_at <= as_of)
    return (await conn.execute(query.order_by(log.c.seq))).all()


async def agents(conn: AsyncConnection) -> list[AgentEntry]:
    rows = (await conn.execute(select(a).order_by(a.c.agent_id))).all()
    return [AgentEntry.model_validate(dict(r._mapping)) for r in rows]


async def teams(conn: AsyncConnection) -> list[TeamEntry]:
    rows = (await conn.execute(select(tm).order_by(tm.c.team_id))).all()
    return [TeamEntry.model_validate(dict(r._mapping)) for r in rows]


async def agents_named(conn: AsyncConnection, caller: str) -> dict[str, AgentEntry]:
    """The agents whose id, email (any case) or subject is `caller` (usually one), by id."""
    query = select(a).where(or_(a.c.agent_id == caller, func.lower(a.c.email) == caller.lower(), a.c.subject == caller))
    return {r.agent_id: AgentEntry.model_validate(dict(r._mapping)) for r in (await conn.execute(query)).all()}


async def team_exists(conn: AsyncConnection, team_id: str) -> bool:
    return (await conn.execute(select(tm.c.team_id).where(tm.c.team_id == team_id))).first() is not None


async def teams_listing(conn: AsyncConnection, agent_id: str) -> list[TeamEntry]:
    """The teams whose members include the agent."""
    rows = (await conn.execute(select(tm).where(tm.c.members.any(agent_id)))).all()
    return [TeamEntry.model_validate(dict(r._mapping)) for r in rows]


async def names(
    conn: AsyncConnection, agent_ids: set[str], team_ids: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Agents' and teams' names by id (those the directory has a name for)."""
    agent_names: dict[str, str] = {}
    team_names: dict[str, str] = {}
    if agent_ids:
        found = await conn.execute(select(a.c.agent_id, a.c.name).where(a.c.agent_id.in_(sorted(agent_ids))))
        agent_names = {r.agent_id: r.name for r in found if r.name is not None}
    if team_ids:
        found = await conn.execute(select(tm.c.team_id, tm.c.name).where(tm.c.team_id.in_(sorted(team_ids))))
        team_names = {r.team_id: r.name for r in found}
    return agent_names, team_names
