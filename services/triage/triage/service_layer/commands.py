"""What agents ask of triage directly: overriding its decision."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import Priority, RequestType
from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import new_envelope
from supportdesk_messaging.outbox import record

from ..adapters import repository
from ..domain.overrides import CurrentTriage, Override, override


class NotTriagedYet(Exception):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no triage decision for ticket {ticket_id} (yet)")


async def override_triage(engine: AsyncEngine, clock: Clock, ticket_id: str, wanted: Override, agent: str) -> None:
    """Apply an agent's override under the ticket's row lock; each change is recorded as an event."""
    async with engine.begin() as conn:
        row = await repository.get(conn, ticket_id, for_update=True)
        if row is None:
            raise NotTriagedYet(ticket_id)
        current = CurrentTriage(Priority(row.priority), RequestType(row.request_type), row.queue)
        decided = override(current, wanted, agent)
        if not decided.events:
            return
        await repository.change(conn, ticket_id, {**decided.changes, "updated_at": clock.now()})
        correlation = uuid.uuid4()  # an agent's command starts a causal chain of its own
        await record(
            conn,
            [
                new_envelope(e, ticket_id=ticket_id, producer="triage", clock=clock, correlation_id=correlation)
                for e in decided.events
            ],
        )
