"""What triage does with each event it consumes. Registered once, in `handlers()` at the bottom."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert

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

from ..adapters.tables import ticket_triage
from ..domain.rules import RuleSet, TicketFacts, triage

# Built once: the consumer queues them with parameters (`ctx.write`) and sends a batch's worth of each
# in one executemany.
_TRIAGED = insert(ticket_triage).on_conflict_do_nothing()
_OPEN_OR_CLOSED = (
    update(ticket_triage)
    .where(ticket_triage.c.ticket_id == bindparam("b_ticket_id"))
    .values(is_open=bindparam("b_is_open"), updated_at=bindparam("b_now"))
)


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
    ctx.write(
        env.ticket_id,
        _TRIAGED,
        dict(
            ticket_id=env.ticket_id,
            number=opened.number,
            channel=opened.channel.value,
            priority=decision.priority.value,
            severity=decision.severity,
            request_type=decision.request_type.value,
            queue=decision.queue,
            sla_exempt=decision.sla_exempt,
            swat=decision.swat,
            rule=decision.rule,
            queue_rule=decision.queue_rule,
            facts=opened.model_dump_json(),
            triaged_at=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        ),
    )
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
    """Seed 002: severity may change during the case; priority follows it unless an agent set it."""
    changed = env.payload
    await ctx.flush()  # the row may have been queued by this batch's TicketOpened
    row = (await ctx.conn.execute(select(ticket_triage).where(ticket_triage.c.ticket_id == env.ticket_id))).first()
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
    await ctx.conn.execute(update(ticket_triage).where(ticket_triage.c.ticket_id == env.ticket_id).values(**values))


async def on_open_or_closed(ctx: HandlerContext, env: Envelope[Event]) -> None:
    ctx.write(
        env.ticket_id,
        _OPEN_OR_CLOSED,
        dict(b_ticket_id=env.ticket_id, b_is_open=isinstance(env.payload, TicketReopened), b_now=ctx.clock.now()),
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
