"""Storing sla-clock's write model: each ticket's facts (`sla_tickets`, domain.clocks.TicketFacts as
JSON) and the clocks derived from them (`clocks`), and which policies an operator deactivated
(`policy_activity`). Reads lock in ticket order; the upserts a transaction queues (`ctx.write`) are
built once here and sent as one executemany each at the flush."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.clocks import TicketFacts
from .tables import clocks, policy_activity, sla_tickets

_IDS = bindparam("ticket_ids", type_=ARRAY(Text))
# Both in ticket order, so that two writers (consumer replicas, an operator's command) lock the rows
# of their tickets in one order and cannot deadlock on them.
_LOAD_FACTS = (
    select(sla_tickets).where(sla_tickets.c.ticket_id == any_(_IDS)).order_by(sla_tickets.c.ticket_id).with_for_update()
)
# Locked too: the scheduler (`fire_due`, SKIP LOCKED) leaves these clocks alone until this
# transaction has written them back, so neither overwrites the other's warned/breached marks.
_LOAD_CLOCKS = (
    select(clocks)
    .where(clocks.c.ticket_id == any_(_IDS))
    .order_by(clocks.c.ticket_id, clocks.c.clock, clocks.c.cycle)
    .with_for_update()
)
FACTS_UPSERT = insert(sla_tickets)
FACTS_UPSERT = FACTS_UPSERT.on_conflict_do_update(
    index_elements=["ticket_id"],
    set_={k: FACTS_UPSERT.excluded[k] for k in ("facts", "updated_at", "trace_context")},
)
CLOCK_UPSERT = insert(clocks)
CLOCK_UPSERT = CLOCK_UPSERT.on_conflict_do_update(
    index_elements=["ticket_id", "clock", "cycle"],
    set_={c.name: CLOCK_UPSERT.excluded[c.name] for c in clocks.c if not c.primary_key},
)


async def load(conn: AsyncConnection, ticket_ids: Sequence[str]) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
    """The facts rows and the clock rows of these tickets, locked until the transaction ends."""
    ids = {"ticket_ids": list(ticket_ids)}
    return (await conn.execute(_LOAD_FACTS, ids)).all(), (await conn.execute(_LOAD_CLOCKS, ids)).all()


async def load_facts(
    conn: AsyncConnection, ticket_id: str, *, for_update: bool = True
) -> tuple[TicketFacts, uuid.UUID | None]:
    query = select(sla_tickets).where(sla_tickets.c.ticket_id == ticket_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        return TicketFacts(), None
    return TicketFacts.from_json(row.facts), row.correlation_id


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[Row[Any]]:
    """Clocks with a warning, breach or auto-close due by `now` (with their ticket's correlation id
    and trace context), soonest first, locked for this transaction; those another transaction holds
    are skipped (schedulers on several replicas share the work, never a clock)."""
    return (
        await conn.execute(
            select(clocks, sla_tickets.c.correlation_id, sla_tickets.c.trace_context)
            .join(sla_tickets, sla_tickets.c.ticket_id == clocks.c.ticket_id)
            .where(clocks.c.next_check_at <= now)
            .order_by(clocks.c.next_check_at)
            .limit(limit)
            .with_for_update(of=clocks, skip_locked=True)
        )
    ).all()


async def mark_fired(conn: AsyncConnection, r: Any, values: dict[str, Any]) -> None:
    """Write what the scheduler fired for the clock `r` (warned, breached_at, auto_close_emitted,
    next_check_at, updated_at)."""
    await conn.execute(
        update(clocks)
        .where(clocks.c.ticket_id == r.ticket_id, clocks.c.clock == r.clock, clocks.c.cycle == r.cycle)
        .values(**values)
    )


async def next_due(engine: AsyncEngine) -> datetime | None:
    """When a clock next has a warning, breach or auto-close due (None: none has)."""
    async with engine.connect() as conn:
        upcoming: datetime | None = (await conn.execute(select(func.min(clocks.c.next_check_at)))).scalar()
    return upcoming


_OPEN_UNDER = text(
    "SELECT DISTINCT ticket_id FROM clocks WHERE state <> 'stopped' AND policy_version LIKE :prefix ORDER BY ticket_id"
)
_HELD = text("SELECT ticket_id FROM sla_tickets WHERE facts ->> 'suspended_since' IS NOT NULL ORDER BY ticket_id")


async def tickets_open_under(conn: AsyncConnection, policy: str) -> list[str]:
    """Tickets with a clock not stopped under a version of `policy`, in ticket order."""
    prefix = policy.replace("%", r"\%").replace("_", r"\_") + "@%"
    return list((await conn.execute(_OPEN_UNDER, {"prefix": prefix})).scalars())


async def held_tickets(conn: AsyncConnection) -> list[str]:
    """Tickets whose clocks are held by a deactivated policy, in ticket order."""
    return list((await conn.execute(_HELD)).scalars())


# Deactivating takes this policy's lock exclusively and the consumer takes it shared before it reads
# whether the policy is active (both until commit), so a ticket triaged while a deactivation runs is
# either among the clocks it holds or sees the policy inactive and starts held: never neither.
_ACTIVITY_LOCK = 0x534C41  # 'SLA': the two-key advisory lock space, apart from the outbox relay's
_LOCKS = {
    "shared": text("SELECT pg_advisory_xact_lock_shared(:space, hashtext(:name))"),
    "exclusive": text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
}


async def is_active(conn: AsyncConnection, name: str, lock: str | None = None) -> tuple[bool, Any]:
    if lock is not None:
        await conn.execute(_LOCKS[lock], {"space": _ACTIVITY_LOCK, "name": name})
    row = (await conn.execute(select(policy_activity).where(policy_activity.c.policy == name))).first()
    return (row is None or bool(row.active)), row


async def set_activity(conn: AsyncConnection, name: str, active: bool, now: datetime, by: str, reason: str) -> None:
    values = {"active": active, "changed_at": now, "changed_by": by, "reason": reason}
    await conn.execute(
        insert(policy_activity)
        .values(policy=name, **values)
        .on_conflict_do_update(index_elements=["policy"], set_=values)
    )
