"""What the board does with each event it consumes: every ticket event in the catalogue folds into
the ticket's row and timeline (the batch's `projection.Fold`); the people events (agents and teams,
not about a ticket) fold into the directory (`people.apply`). The board emits nothing."""

from __future__ import annotations

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.envelope import Envelope
from supportdesk_contract.topics import Topic
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from . import people, projection


async def on_event(ctx: HandlerContext, env: Envelope[Event]) -> None:
    fold = ctx.state(projection.Fold)
    tickets = (e.ticket_id for e in ctx.batch if e.payload.topic is not Topic.PEOPLE)
    await fold.apply(ctx.conn, projection.fact_of(env), ahead=tickets)


async def on_people(ctx: HandlerContext, env: Envelope[Event]) -> None:
    await people.apply(ctx.conn, projection.fact_of(env))


def handlers() -> Handlers:
    tickets = [cls for cls in REGISTRY.values() if cls.topic is not Topic.PEOPLE]
    return Handlers().on(*tickets, do=on_event).on(*people.PEOPLE_EVENTS, do=on_people)
