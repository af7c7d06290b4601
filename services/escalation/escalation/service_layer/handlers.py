"""What escalation does with each event it consumes. Registered once, in HANDLERS at the bottom.

Triggers (SlaAtRisk, SlaBreached, a customer's EscalationRequested, severity 1 on open) raise the
level; closing resolves; reopening starts a new cycle at the support tier. Facts (customer, queue,
priority, severity) keep the escalation current for routing; they may arrive in any order. Teams
(TeamProfileChanged, from the assignment service) say who leads the tier serving each queue.
"""

from __future__ import annotations

from supportdesk_contract.catalogue import (
    EscalationRequested,
    RequesterVerified,
    SeverityChanged,
    SlaAtRisk,
    SlaBreached,
    TeamProfileChanged,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
)
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from ..adapters import teams
from .unit_of_work import escalation_in_batch


async def on_opened(ctx: HandlerContext, env: Envelope[TicketOpened]) -> None:
    o = env.payload
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.loaded.correlation_id = env.correlation_id
        w.escalation.opened(
            customer_id=o.customer_id,
            emergency=o.emergency_contact,
            severity=o.severity,
            now=ctx.clock.now(),
            d=w.directory,
            account_manager=o.account_manager_email,
            requester_verified=o.requester_verified is not False,
        )


async def on_triaged(ctx: HandlerContext, env: Envelope[TicketTriaged]) -> None:
    t = env.payload
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.triaged(
            priority=t.priority.value,
            severity=t.severity,
            queue=t.queue,
            swat=t.swat,
            now=ctx.clock.now(),
            d=w.directory,
        )


async def on_at_risk(ctx: HandlerContext, env: Envelope[SlaAtRisk]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.at_risk(
            clock=env.payload.clock.value, signalled_at=env.occurred_at, now=ctx.clock.now(), d=w.directory
        )


async def on_breached(ctx: HandlerContext, env: Envelope[SlaBreached]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.breached(
            clock=env.payload.clock.value, signalled_at=env.occurred_at, now=ctx.clock.now(), d=w.directory
        )


async def on_requested(ctx: HandlerContext, env: Envelope[EscalationRequested]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        # The requester's words travel sealed (escalation opens no personal data): a blank reason
        # is theirs, and TicketEscalated, in clear, must not quote it anyway.
        reason = env.payload.reason if env.payload.sealed_personal is None else ""
        w.escalation.requested(reason=reason or "the requester asked to escalate", now=ctx.clock.now(), d=w.directory)


async def on_closed(ctx: HandlerContext, env: Envelope[TicketClosed]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.closed(env.payload.closure_code.value)


async def on_severity_changed(ctx: HandlerContext, env: Envelope[SeverityChanged]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.severity_confirmed(severity=env.payload.severity, now=ctx.clock.now(), d=w.directory)


async def on_requester_verified(ctx: HandlerContext, env: Envelope[RequesterVerified]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.requester_verified(now=ctx.clock.now(), d=w.directory)


async def on_reopened(ctx: HandlerContext, env: Envelope[TicketReopened]) -> None:
    async with escalation_in_batch(ctx, env.ticket_id, env.event_id) as w:
        w.escalation.reopened()


async def on_team_changed(ctx: HandlerContext, env: Envelope[TeamProfileChanged]) -> None:
    """Keep the team's latest profile: its lead is the tier lead of the queues it serves."""
    # What this batch decided so far is written with the directory it was loaded with; what
    # follows in the batch loads again and routes by this team.
    await ctx.flush()
    await teams.keep(ctx.conn, env.payload, env.event_id, env.occurred_at)


HANDLERS = (
    Handlers()
    .on(TicketOpened, do=on_opened)
    .on(TicketTriaged, do=on_triaged)
    .on(SlaAtRisk, do=on_at_risk)
    .on(SlaBreached, do=on_breached)
    .on(EscalationRequested, do=on_requested)
    .on(TicketClosed, do=on_closed)
    .on(TicketReopened, do=on_reopened)
    .on(SeverityChanged, do=on_severity_changed)
    .on(RequesterVerified, do=on_requester_verified)
    .on(TeamProfileChanged, do=on_team_changed)
)
