"""What the board does with each event it consumes: every event type in the catalogue folds into
the ticket's row and timeline (projection.apply_event). The board emits nothing."""

from __future__ import annotations

from typing import Any

from supportdesk_events import REGISTRY, Envelope, Handler, HandlerContext

from . import projection


async def on_event(ctx: HandlerContext, env: Envelope[Any]) -> None:
    await projection.apply_event(ctx.conn, env)


def handlers() -> dict[str, Handler]:
    return {event_type: on_event for event_type in REGISTRY}
