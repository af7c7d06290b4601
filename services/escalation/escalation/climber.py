"""Unacknowledged escalations climb: a worker wakes at the next `next_climb_at` (an index, not a
scan) and raises each due escalation one level."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from supportdesk_events.timers import pause_until
from supportdesk_events.web import ServiceRuntime

from . import machine
from .adapters.tables import ticket_escalations


async def climb_due(runtime: ServiceRuntime, limit: int = 100) -> int:
    now = runtime.clock.now()
    async with runtime.engine.begin() as conn:
        rows = (
            await conn.execute(
                select(ticket_escalations)
                .where(ticket_escalations.c.next_climb_at <= now)
                .order_by(ticket_escalations.c.next_climb_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            waited = int((now - row.escalated_at).total_seconds() // 60) if row.escalated_at else 0
            await machine.escalate(
                conn, row, row.level + 1, f"level {row.level} not acknowledged for {waited} min", runtime.clock, None
            )
    return len(rows)


async def run_climber(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if await climb_due(runtime) >= 100:
            continue
        async with runtime.engine.connect() as conn:
            nxt = (await conn.execute(select(func.min(ticket_escalations.c.next_climb_at)))).scalar()
        await pause_until(stop, runtime.clock, nxt, 1.0)
