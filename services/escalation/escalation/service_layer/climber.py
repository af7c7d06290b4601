"""Unacknowledged escalations climb: a worker wakes at the next `next_climb_at` (an index, not a
scan) and raises each due escalation one level."""

from __future__ import annotations

import asyncio

from prometheus_client import Counter
from sqlalchemy import func, select

from supportdesk_messaging.timers import pause_until
from supportdesk_observability import tracing
from supportdesk_service.runtime import ServiceRuntime

from ..adapters.tables import ticket_escalations
from ..settings import Settings
from .unit_of_work import escalation_of

BATCH = 100
# Per process: with replicas, each one's share of the climbs (rows are claimed, never shared).
CLIMBS = Counter("supportdesk_escalation_climbs_total", "Due escalations this replica claimed and climbed")


async def climb_due(runtime: ServiceRuntime[Settings], limit: int = BATCH) -> int:
    now = runtime.clock.now()
    t = ticket_escalations
    async with runtime.engine.begin() as conn:
        due = list(
            (
                await conn.execute(
                    select(t.c.ticket_id)
                    .where(t.c.next_climb_at <= now)
                    .order_by(t.c.next_climb_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        for ticket_id in due:
            # A new trace per climb (no context is kept with the escalation): the TicketEscalated
            # recorded in it carries it to the notifier's mail; the ticket id links it to the rest.
            attributes = {"supportdesk.ticket_id": ticket_id}
            with tracing.continued_span("escalation climb", None, attributes=attributes):
                async with escalation_of(conn, ticket_id, runtime.clock, None) as w:
                    w.escalation.climb(now, w.directory)
    CLIMBS.inc(len(due))
    return len(due)


async def run_climber(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    while not stop.is_set():
        if await climb_due(runtime) >= BATCH:
            continue
        async with runtime.engine.connect() as conn:
            nxt = (await conn.execute(select(func.min(ticket_escalations.c.next_climb_at)))).scalar()
        await pause_until(stop, runtime.clock, nxt, 1.0)
