"""What sla-clock does with each event it consumes. Registered once, in `handlers()` at the bottom.

Every lifecycle and triage event is a fact about a ticket: record it, then bring the ticket's
clocks in step (projection.sync). Lifecycle and triage travel on different topics and may
interleave in any order; the clocks derive from the facts, so they converge.
"""

from __future__ import annotations

from typing import Any

from supportdesk_contract.catalogue import (
    AgentResponded,
    CustomerReplied,
    Event,
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
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from ..adapters.policy_book import PolicyBook
from ..domain.clocks import TicketFacts, pin_versions
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
    state = await projection.ticket_state(ctx, env.ticket_id)  # the batch's tickets, read at once
    facts = state.facts
    before = _snapshot(facts)
    facts.apply(env.payload, env.occurred_at)
    held = await policy_admin.held_by(ctx.conn, book, facts, ctx.state(projection.TicketsOfBatch).policy_activity)
    derived = book.clocks(facts)
    pin_versions(facts, book.versions(facts.policy), derived)
    if state.correlation_id is None or vars(facts) != before:
        state.correlation_id = state.correlation_id or env.correlation_id
        state.facts_changed(ctx.clock.now())
    projection.sync(ctx, env.ticket_id, state, book, env.event_id, derived)
    if held is not None:  # the ticket's history says why its clocks hold (each event once: derived ids)
        policy, by, reason = held
        assert state.correlation_id is not None
        ctx.record(
            policy_admin.suspension_events(
                env.ticket_id, facts, derived, policy, by, reason, ctx.clock, state.correlation_id
            )
        )


def _snapshot(facts: TicketFacts) -> dict[str, Any]:
    """The facts' fields, with copies of the lists and dicts that `apply` and `pin_versions` change
    in place: compared after the fact, it tells whether the facts row must be written (cheaper than
    the JSON twice a fact; equal instants compare equal whatever their offset, as from_json reads them)."""
    fields = vars(facts).copy()
    for k, v in fields.items():
        if type(v) in _MUTABLE:
            fields[k] = v.copy()
    return fields


_MUTABLE = (list, dict)


def handlers(book: PolicyBook) -> Handlers:
    async def handle(ctx: HandlerContext, env: Envelope[Event]) -> None:
        await on_fact(ctx, env, book)

    return Handlers().on(*FACTS, do=handle)
