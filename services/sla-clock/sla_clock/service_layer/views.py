"""What sla-clock's routes read: clock rows as stored (with, for a ticket's current cycle, the
business time run and left now), the clocks at risk or breached, and whether a policy is active."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters import repository
from ..adapters.policy_book import PolicyBook
from ..adapters.tables import clocks
from ..domain.clocks import business_elapsed


async def ticket_clocks(engine: AsyncEngine, book: PolicyBook, ticket_id: str, now: datetime) -> list[dict[str, Any]]:
    """The ticket's clock rows, by cycle and clock (none: sla-clock has no clocks for it yet). Those
    the facts still derive also carry `elapsed_business_seconds_now` and, with a target,
    `remaining_business_seconds`: business time run so far and left before the due instant."""
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(clocks).where(clocks.c.ticket_id == ticket_id).order_by(clocks.c.cycle, clocks.c.clock)
                )
            )
            .mappings()
            .all()
        )
        facts, _ = await repository.load_facts(conn, ticket_id, for_update=False)
    if not rows:
        return []
    live = {(c.kind.value, c.cycle): (c, policy) for c, policy in book.clocks(facts)}
    views = []
    for r in rows:
        view = dict(r)
        versioned = live.get((r["clock"], r["cycle"]))
        if versioned is not None:
            c, policy = versioned
            elapsed = round(business_elapsed(c, facts, policy, now), 3)
            view["elapsed_business_seconds_now"] = elapsed
            if c.target is not None:
                view["remaining_business_seconds"] = round(c.target.seconds - elapsed, 3)
        views.append(view)
    return views


async def at_risk(engine: AsyncEngine, now: datetime, within_seconds: int, limit: int) -> Sequence[RowMapping]:
    """Running SLA clocks not yet breached and due within `within_seconds` of now, soonest first."""
    async with engine.connect() as conn:
        return (
            (
                await conn.execute(
                    select(clocks)
                    .where(
                        clocks.c.state == "running",
                        clocks.c.breached_at.is_(None),
                        clocks.c.clock.in_(["first_response", "resolution"]),
                        clocks.c.due_at <= now + timedelta(seconds=within_seconds),
                    )
                    .order_by(clocks.c.due_at)
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )


async def breached(engine: AsyncEngine, still_open: bool, limit: int) -> Sequence[RowMapping]:
    """Breached clocks, most recent breach first; `still_open`: only those not stopped."""
    query = select(clocks).where(clocks.c.breached_at.is_not(None))
    if still_open:
        query = query.where(clocks.c.state != "stopped")
    async with engine.connect() as conn:
        return (await conn.execute(query.order_by(clocks.c.breached_at.desc()).limit(limit))).mappings().all()


async def policy_active(engine: AsyncEngine, name: str) -> bool:
    """Whether the policy is active (no operator has deactivated it)."""
    async with engine.connect() as conn:
        active, _ = await repository.is_active(conn, name)
    return active
