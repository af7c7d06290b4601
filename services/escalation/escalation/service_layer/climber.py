"""Unacknowledged escalations climb: each due escalation (its `next_climb_at` passed) is raised one
level. One pass of the climber worker (`workers.run_climber`)."""

from __future__ import annotations

from prometheus_client import Counter

from supportdesk_observability import tracing
from supportdesk_service.runtime import ServiceRuntime

from ..adapters import repository
from ..settings import Settings
from .unit_of_work import escalation_of

BATCH = 100
# Per process: with replicas, each one's share of the climbs (rows are claimed, never shared).
CLIMBS = Counter("supportdesk_escalation_climbs_total", "Due escalations this replica claimed and climbed")


async def climb_due(runtime: ServiceRuntime[Settings], limit: int = BATCH) -> int:
    now = runtime.clock.now()
    async with runtime.engine.begin() as conn:
        due = await repository.claim_due(conn, now, limit)
        for ticket_id in due:
            # A new trace per climb (no context is kept with the escalation): the TicketEscalated
            # recorded in it carries it to the notifier's mail; the ticket id links it to the rest.
            attributes = {"supportdesk.ticket_id": ticket_id}
            with tracing.continued_span("escalation climb", None, attributes=attributes):
                async with escalation_of(conn, ticket_id, runtime.clock, None) as w:
                    w.escalation.climb(now, w.directory)
    CLIMBS.inc(len(due))
    return len(due)
