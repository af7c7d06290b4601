"""What triage does with each event it consumes. Registered once, in `handlers()` at the bottom."""

from __future__ import annotations

import json
from typing import Any

from supportdesk_contract.catalogue import (
    Event,
    Priority,
    PriorityChanged,
    SeverityChanged,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
)
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers

from ..adapters import repository
from ..domain.rules import RuleSet, TicketFacts, triage


def facts_of(opened: TicketOpened, severity: int | None = None) -> TicketFacts:
    return TicketFacts(
        opened.channel,
        opened.request_type,
        severity if severity is not None else opened.severity,
        opened.suggested_priority,
        opened.emergency_contact,
        opened.customer_id,
        opened.plan,
        opened.policy,
    )


async def on_ticket_opened(ctx: HandlerContext, env: Envelope[TicketOpened], rules: RuleSet) -> None:
    opened = env.payload
    decision = triage(facts_of(opened), rules)
    ctx.write(env.ticket_id, repository.TRIAGED, repository.triaged(env.ticket_id, opened, decision, ctx.clock.now()))
    await ctx.emit(
        env,
        TicketTriaged(
            priority=decision.priority,
            severity=decision.severity,
            request_type=decision.request_type,
            queue=decision.queue,
            sla_exempt=decision.sla_exempt,
            swat=decision.swat,
            rule=decision.rule,
            queue_rule=decision.queue_rule,
            channel=opened.channel,
            plan=opened.plan,
            policy=opened.policy,
            opened_at=opened.opened_at,
        ),
    )


async def on_severity_changed(ctx: HandlerContext, env: Envelope[SeverityChanged], rules: RuleSet) -> None:
    """docs/policies.md#seed-002: severity may change during the case; priority follows it unless an agent set it."""
    changed = env.payload
    await ctx.flush()  # the row may have been queued by this batch's TicketOpened
    row = await repository.get(ctx.conn, env.ticket_id)
    if row is None or row.facts is None:
        return
    decision = triage(facts_of(TicketOpened.model_validate(json.loads(row.facts)), changed.severity), rules)
    values: dict[str, Any] = dict(severity=changed.severity, swat=decision.swat, updated_at=ctx.clock.now())
    if row.priority_set_by is None and decision.priority.value != row.priority:
        values.update(priority=decision.priority.value, rule=decision.rule)
        await ctx.emit(
            env,
            PriorityChanged(
                priority=decision.priority,
                previous=Priority(row.priority),
                by="triage-rules",
                reason=f"severity {changed.previous} -> {changed.severity}: rule {decision.rule}",
            ),
        )
    await repository.change(ctx.conn, env.ticket_id, values)


async def on_open_or_closed(ctx: HandlerContext, env: Envelope[Event]) -> None:
    is_open = isinstance(env.payload, TicketReopened)
    ctx.write(
        env.ticket_id, repository.OPEN_OR_CLOSED, repository.open_or_closed(env.ticket_id, is_open, ctx.clock.now())
    )


def handlers(rules: RuleSet) -> Handlers:
    async def opened(ctx: HandlerContext, env: Envelope[TicketOpened]) -> None:
        await on_ticket_opened(ctx, env, rules)

    async def severity(ctx: HandlerContext, env: Envelope[SeverityChanged]) -> None:
        await on_severity_changed(ctx, env, rules)

    return (
        Handlers()
        .on(TicketOpened, do=opened)
        .on(SeverityChanged, do=severity)
        .on(TicketClosed, TicketReopened, do=on_open_or_closed)
    )
