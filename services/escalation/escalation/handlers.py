"""What escalation does with each event it consumes. Registered once, in HANDLERS at the bottom.

Triggers (SlaAtRisk, SlaBreached, a customer's EscalationRequested, severity 1 on open) raise the
level; closing resolves; reopening starts a new cycle at the support tier. Facts (customer, queue,
priority, severity) keep the row current for routing; they may arrive in any order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from supportdesk_events import Envelope, Handler, HandlerContext
from supportdesk_events.catalogue import (
    EscalationRequested,
    SlaAtRisk,
    SlaBreached,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
)

from . import machine
from .adapters.tables import ticket_escalations
from .domain.levels import TIER_LEAD, trigger_level


def breach_needs_swat(row: Any) -> bool:
    """Seed 002: SWAT for high-priority cases with severity 1 or 2 (triage's swat flag)."""
    return bool(row.swat_eligible) and row.priority in ("urgent", "high")


async def severity_one(ctx: HandlerContext, env: Envelope[Any], row: Any) -> None:
    """Seed 002: severity 1 goes to the tier lead and the SWAT team at once."""
    await machine.escalate(ctx.conn, row, TIER_LEAD, "severity 1 on open", ctx.clock, env.event_id)
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock)
    await machine.engage_swat(ctx.conn, row, "severity 1", ctx.clock, env.event_id)


async def on_opened(ctx: HandlerContext, env: Envelope[Any]) -> None:
    o: TicketOpened = env.payload
    facts = dict(
        customer_id=o.customer_id, emergency=o.emergency_contact, correlation_id=env.correlation_id, opened_seen=True
    )
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock, **facts)
    await machine.release_pending(ctx.conn, row, ctx.clock, env.event_id)
    if o.severity == 1:
        await severity_one(ctx, env, await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock))


async def on_triaged(ctx: HandlerContext, env: Envelope[Any]) -> None:
    t: TicketTriaged = env.payload
    facts = dict(priority=t.priority.value, severity=t.severity, swat_eligible=t.swat, queue=t.queue, triaged_seen=True)
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock, **facts)
    await machine.release_pending(ctx.conn, row, ctx.clock, env.event_id)
    if (row.last_sla_signal or "").startswith("SlaBreached") and breach_needs_swat(row):  # the breach came first
        await machine.engage_swat(
            ctx.conn,
            await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock),
            f"breach of a severity {row.severity} case",
            ctx.clock,
            env.event_id,
        )
    if t.severity == 1:
        await severity_one(ctx, env, await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock))


async def on_trigger(ctx: HandlerContext, env: Envelope[Any]) -> None:
    p = env.payload
    extra: dict[str, Any] = {}
    if isinstance(p, SlaAtRisk | SlaBreached):
        extra = dict(last_sla_signal=f"{env.event_type}:{p.clock.value}", last_sla_signal_at=env.occurred_at)
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock, **extra)
    level = trigger_level(env.event_type)
    assert level is not None
    reason = p.reason if isinstance(p, EscalationRequested) else f"{env.event_type} on {p.clock.value}"
    await machine.escalate(ctx.conn, row, level, reason, ctx.clock, env.event_id)
    if isinstance(p, SlaBreached) and breach_needs_swat(row):
        row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock)
        await machine.engage_swat(ctx.conn, row, f"breach of a severity {row.severity} case", ctx.clock, env.event_id)


async def on_closed(ctx: HandlerContext, env: Envelope[Any]) -> None:
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock)
    await machine.resolve(ctx.conn, row, f"ticket closed: {env.payload.closure_code.value}", ctx.clock, env.event_id)


async def on_reopened(ctx: HandlerContext, env: Envelope[Any]) -> None:
    row = await machine.ensure_row(ctx.conn, env.ticket_id, ctx.clock)
    await ctx.conn.execute(
        update(ticket_escalations)
        .where(ticket_escalations.c.ticket_id == env.ticket_id)
        .values(
            cycle=row.cycle + 1,
            level=0,
            acknowledged_level=None,
            acknowledged_by=None,
            escalated_at=None,
            resolved=False,
            swat_engaged=False,
            next_climb_at=None,
        )
    )


HANDLERS: dict[str, Handler] = {
    TicketOpened.event_type: on_opened,
    TicketTriaged.event_type: on_triaged,
    SlaAtRisk.event_type: on_trigger,
    SlaBreached.event_type: on_trigger,
    EscalationRequested.event_type: on_trigger,
    TicketClosed.event_type: on_closed,
    TicketReopened.event_type: on_reopened,
}
