"""What the board does with each event it consumes: every event type in the catalogue folds into
the ticket's row and timeline (projection.apply_event). The board emits nothing."""

from __future__ import annotations

from supportdesk_events import REGISTRY, Envelope, Event, HandlerContext, Handlers

from . import projection


async def on_event(ctx: HandlerContext, env: Envelope[Event]) -> None:
    await projection.apply_event(ctx.conn, env)


def handlers() -> Handlers:
    return Handlers().on(*REGISTRY.values(), do=on_event)
