"""One ticket's escalation for the length of a transaction: loaded and locked once, saved once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.clock import Clock
from supportdesk_contract.topics import Topic
from supportdesk_messaging.handler_context import HandlerContext

from ..adapters import repository
from ..domain.escalation import Escalation
from ..domain.levels import Directory


@dataclass
class Working:
    escalation: Escalation
    directory: Directory
    loaded: repository.Loaded


@asynccontextmanager
async def escalation_of(
    conn: AsyncConnection, ticket_id: str, clock: Clock, cause: uuid.UUID | None
) -> AsyncIterator[Working]:
    """Load the ticket's escalation (creating it on first hearing) with the directory; on a clean
    exit save what changed and record what was decided, caused by `cause`."""
    loaded = await repository.load(conn, ticket_id, clock)
    yield Working(loaded.escalation, loaded.directory, loaded)
    await repository.save(conn, loaded, clock, cause)


class EscalationsOfBatch:
    """The escalations a consumer batch touches: loaded and locked together on first use (two round
    trips for the batch, not two or four per event), written together when the batch is flushed."""

    def __init__(self) -> None:
        self.loaded: dict[str, repository.Loaded] = {}
        self.touched: set[str] = set()

    async def get(self, ctx: HandlerContext, ticket_id: str) -> repository.Loaded:
        if ticket_id not in self.loaded:
            # desk.people events are keyed by PEOPLE_KEY, not a ticket: no escalation for them.
            others = (e.ticket_id for e in ctx.batch if e.topic != Topic.PEOPLE and e.ticket_id not in self.loaded)
            wanted = [ticket_id, *others]
            self.loaded.update(await repository.load_many(ctx.conn, wanted, ctx.clock))
        return self.loaded[ticket_id]

    async def queue(self, ctx: HandlerContext) -> None:
        for ticket_id in sorted(self.touched):
            loaded = self.loaded[ticket_id]
            ctx.write(ticket_id, repository.SAVE, repository.save_params(loaded, ctx.clock))


@asynccontextmanager
async def escalation_in_batch(ctx: HandlerContext, ticket_id: str, cause: uuid.UUID) -> AsyncIterator[Working]:
    """`escalation_of` for a consumer's handler: the ticket's escalation as this batch has it; on a
    clean exit, what it decided is queued (caused by `cause`) and, if anything changed, its row."""
    batch = ctx.state(EscalationsOfBatch)
    loaded = await batch.get(ctx, ticket_id)
    yield Working(loaded.escalation, loaded.directory, loaded)
    envelopes = repository.decided_envelopes(loaded, ctx.clock, cause)
    ctx.record(envelopes)
    if envelopes or loaded.changed:
        batch.touched.add(ticket_id)
