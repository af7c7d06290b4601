"""What sla-clock does with each event it consumes. Registered once, in `handlers()` at the bottom.

Every lifecycle and triage event is a fact about a ticket: record it, then bring the ticket's
clocks in step (projection.sync). Lifecycle and triage travel on different topics and may
interleave in any order; the clocks derive from the facts, so they converge.
"""

from __future__ import annotations

from supportdesk_events import Envelope, Event, HandlerContext, Handlers, record
from supportdesk_events.catalogue import (
    AgentResponded,
    CustomerReplied,
    InfoRequested,
    IssueReplicated,
    PriorityChanged,
    ResolutionConfirmed,
    SeverityChanged,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
    WorkaroundDelivered,
)

from ..adapters.policy_book import PolicyBook
from ..domain.clocks import pin_versions
from . import policy_admin, projection

FACTS = (
    TicketOpened,
    TicketTriaged,
    PriorityChanged,
    SeverityChanged,
    AgentResponded,
    InfoRequested,
    CustomerReplied,
    IssueReplicated,
    WorkaroundDelivered,
    ResolutionConfirmed,
    TicketClosed,
    TicketReopened,
)


async def on_fact(ctx: HandlerContext, env: Envelope[Event], book: PolicyBook) -> None:
    facts, known_correlation = await projection.load_facts(ctx.conn, env.ticket_id)
    before = facts.to_json()
    facts.apply(env.payload, env.occurred_at)
    held = await policy_admin.held_by(ctx.conn, book, facts)
    derived = book.clocks(facts)
    pin_versions(facts, book.versions(facts.policy), derived)
    correlation_id = known_correlation or env.correlation_id
    if known_correlation is None or facts.to_json() != before:
        await projection.save_facts(ctx.conn, env.ticket_id, facts, correlation_id, ctx.clock.now())
    await projection.sync(ctx.conn, env.ticket_id, facts, correlation_id, book, ctx.clock, env.event_id, derived)
    if held is not None:  # the ticket's history says why its clocks hold (each event once: derived ids)
        policy, by, reason = held
        suspended = policy_admin.suspension_events(
            env.ticket_id, facts, derived, policy, by, reason, ctx.clock, correlation_id
        )
        await record(ctx.conn, await projection.not_yet_recorded(ctx.conn, suspended))


def handlers(book: PolicyBook) -> Handlers:
    async def handle(ctx: HandlerContext, env: Envelope[Event]) -> None:
        await on_fact(ctx, env, book)

    return Handlers().on(*FACTS, do=handle)
