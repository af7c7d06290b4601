"""What intake does with events it consumes. Registered once, in HANDLERS at the bottom."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from supportdesk_contract.catalogue import AutoCloseDue
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from ..adapters import repository

log = logging.getLogger(__name__)


async def on_auto_close_due(ctx: HandlerContext, env: Envelope[AutoCloseDue]) -> None:
    """sla-clock says a timer ran out: close the ticket, if it is still in the state that timer watched."""
    due = env.payload
    for _ in range(5):  # an agent's command may land on the same ticket at the same moment
        try:
            async with ctx.conn.begin_nested():
                ticket = await repository.load(ctx.conn, env.ticket_id)
                if ticket is None or not ticket.auto_close(due):
                    log.info("AutoCloseDue for %s no longer applies", env.ticket_id)
                    return
                await repository.save(ctx.conn, ticket, ctx.clock, cause=env)
                return
        except (repository.ConcurrentUpdate, IntegrityError):
            continue
    raise RuntimeError(f"could not apply AutoCloseDue to {env.ticket_id}: the ticket kept changing")


HANDLERS = Handlers().on(AutoCloseDue, do=on_auto_close_due)
