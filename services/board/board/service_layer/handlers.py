"""What the board does with each event it consumes: every event type in the catalogue folds into
the ticket's row and timeline (the batch's `projection.Fold`). The board emits nothing."""

from __future__ import annotations

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from . import projection


async def on_event(ctx: HandlerContext, env: Envelope[Event]) -> None:
    fold = ctx.state(projection.Fold)
    await fold.apply(ctx.conn, projection.fact_of(env), ahead=(e.ticket_id for e in ctx.batch))


def handlers() -> Handlers:
    return Handlers().on(*REGISTRY.values(), do=on_event)
