"""Storing triage's decision per ticket (`ticket_triage`): written once when the ticket is triaged,
read and changed when its severity changes or an agent overrides it, in the caller's transaction.

The statements a consumer's batch queues (`ctx.write`) are built once here and sent as one
executemany per batch; their parameters come from the functions beside them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import TicketOpened

from ..domain.rules import TriageDecision
from .tables import ticket_triage

# A redelivered TicketOpened finds the row there already and changes nothing.
TRIAGED = insert(ticket_triage).on_conflict_do_nothing()
OPEN_OR_CLOSED = (
    update(ticket_triage)
    .where(ticket_triage.c.ticket_id == bindparam("b_ticket_id"))
    .values(is_open=bindparam("b_is_open"), updated_at=bindparam("b_now"))
)


def triaged(ticket_id: str, opened: TicketOpened, decision: TriageDecision, now: datetime) -> dict[str, Any]:
    """The parameters of `TRIAGED`: the ticket's first decision, with the facts it was made from."""
    return dict(
        ticket_id=ticket_id,
        number=opened.number,
        channel=opened.channel.value,
        priority=decision.priority.value,
        severity=decision.severity,
        request_type=decision.request_type.value,
        queue=decision.queue,
        sla_exempt=decision.sla_exempt,
        swat=decision.swat,
        rule=decision.rule,
        queue_rule=decision.queue_rule,
        facts=opened.model_dump_json(),
        triaged_at=now,
        updated_at=now,
    )


def open_or_closed(ticket_id: str, is_open: bool, now: datetime) -> dict[str, Any]:
    """The parameters of `OPEN_OR_CLOSED`."""
    return dict(b_ticket_id=ticket_id, b_is_open=is_open, b_now=now)


async def get(conn: AsyncConnection, ticket_id: str, *, for_update: bool = False) -> Row[Any] | None:
    """The ticket's decision as stored (locked for this transaction with `for_update`), or None if
    the ticket has not been triaged."""
    query = select(ticket_triage).where(ticket_triage.c.ticket_id == ticket_id)
    return (await conn.execute(query.with_for_update() if for_update else query)).first()


async def change(conn: AsyncConnection, ticket_id: str, values: dict[str, Any]) -> None:
    """Write the changed columns of the ticket's decision."""
    await conn.execute(update(ticket_triage).where(ticket_triage.c.ticket_id == ticket_id).values(**values))
