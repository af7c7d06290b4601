"""What notifier does with each event it consumes. Registered once, in `handlers()` at the bottom.

Facts about a ticket (opened, triaged, priority) keep its contact row current. Events people must
hear about become deliveries in the ledger, keyed by (cause event, recipient, channel), so a
redelivered or replayed event adds nothing. An event that arrives before its ticket's
TicketOpened (topics interleave freely) is parked and decided when the ticket is known.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from supportdesk_events import Envelope, HandlerContext, Handlers, tracing
from supportdesk_events.catalogue import (
    AgentResponded,
    InfoRequested,
    PriorityChanged,
    SlaAtRisk,
    SlaBreached,
    SlaClockStarted,
    SwatEngaged,
    TicketClosed,
    TicketEscalated,
    TicketOpened,
    TicketTriaged,
    WorkaroundDelivered,
)
from supportdesk_events.envelope import read_recorded
from supportdesk_events.sealing import unseal

from ..adapters.tables import deliveries, parked, ticket_contacts
from ..adapters.templates import Templates
from ..domain.deliveries import Delivery, Routing, TicketInfo, decide
from ..settings import Settings

DELIVERABLE = (
    AgentResponded,
    InfoRequested,
    WorkaroundDelivered,
    TicketClosed,
    SlaAtRisk,
    SlaBreached,
    TicketEscalated,
    SwatEngaged,
    SlaClockStarted,
)
_IDS = uuid.UUID("3f1d8e2a-5b7c-4e11-9a0d-6c2b8f4e7a19")


def delivery_id(cause: uuid.UUID, recipient: str, channel: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{cause}/{channel}/{recipient}")


class Notifier:
    def __init__(self, settings: Settings, routing: Routing, templates: Templates) -> None:
        self.settings, self.routing, self.templates = settings, routing, templates
        acks = routing.acknowledgements
        for rule in (acks.default, *acks.policies.values(), *acks.customers.values()):
            if rule.template:
                templates.check(rule.template)  # a missing template fails at start, not per ticket

    async def ticket_info(self, ctx: HandlerContext, ticket_id: str) -> TicketInfo | None:
        row = (await ctx.conn.execute(select(ticket_contacts).where(ticket_contacts.c.ticket_id == ticket_id))).first()
        if row is None or not row.number:  # triage facts may arrive first: no TicketOpened yet
            return None
        return TicketInfo(
            row.number,
            row.subject,
            row.requester_email,
            row.customer_id,
            row.queue,
            row.priority,
            row.emergency_contact,
            self.settings.ticket_status_url.format(ticket_id=ticket_id),
            self.access_token(row.requester_token_sealed),
            row.channel,
            row.policy,
            row.opened_by_staff,
            row.opened_event_id,
        )

    def access_token(self, sealed: str | None) -> str | None:
        key = self.settings.requester_token_key.get_secret_value()
        return unseal(key, sealed) if key and sealed else None

    async def on_opened(self, ctx: HandlerContext, env: Envelope[Any]) -> None:
        o: TicketOpened = env.payload
        values = dict(
            number=o.number,
            requester_email=o.requester_email,
            requester_phone=o.requester_phone,
            subject=o.subject,
            customer_id=o.customer_id,
            emergency_contact=o.emergency_contact,
            requester_token_sealed=o.requester_token_sealed,
            channel=o.channel.value,
            policy=o.policy,
            opened_by_staff=o.opened_by_staff,
            opened_event_id=env.event_id,
            updated_at=ctx.clock.now(),
        )
        await ctx.conn.execute(
            insert(ticket_contacts)
            .values(ticket_id=env.ticket_id, **values)
            .on_conflict_do_update(index_elements=["ticket_id"], set_=values)
        )
        await self.on_deliverable(ctx, env)  # the customer's webhook hears `ticket.opened`
        await self.release_parked(ctx, env.ticket_id)

    async def release_parked(self, ctx: HandlerContext, ticket_id: str) -> None:
        """Decide again what waited for this ticket's facts (what still cannot be decided parks again)."""
        query = select(parked.c.envelope).where(parked.c.ticket_id == ticket_id).order_by(parked.c.parked_at)
        waiting = (await ctx.conn.execute(query)).all()
        await ctx.conn.execute(delete(parked).where(parked.c.ticket_id == ticket_id))
        for row in waiting:
            await self.on_deliverable(ctx, read_recorded(row.envelope))

    async def on_routing_fact(self, ctx: HandlerContext, env: Envelope[Any]) -> None:
        p = env.payload
        values: dict[str, Any] = {"priority": p.priority.value, "updated_at": ctx.clock.now()}
        if isinstance(p, TicketTriaged):
            values["queue"] = p.queue
        # Upsert: triage may be consumed before the ticket's TicketOpened (number "" until then).
        await ctx.conn.execute(
            insert(ticket_contacts)
            .values(ticket_id=env.ticket_id, number="", subject="", **values)
            .on_conflict_do_update(index_elements=["ticket_id"], set_=values)
        )
        if isinstance(p, TicketTriaged):
            if p.sla_exempt:  # no first-response clock will start: acknowledge without a target
                await self.on_deliverable(ctx, env)
            await self.release_parked(ctx, env.ticket_id)

    def send_at(self, d: Delivery, info: TicketInfo, now: datetime) -> datetime:
        """Quiet hours: only non-urgent staff notifications about non-emergency tickets wait."""
        hours = self.routing.staff_hours
        if hours is None or not d.to_staff or d.urgent or info.emergency_contact:
            return now
        return hours.next_open(now)

    async def on_deliverable(self, ctx: HandlerContext, env: Envelope[Any]) -> None:
        info = await self.ticket_info(ctx, env.ticket_id)
        needs_queue = isinstance(env.payload, SlaAtRisk | SlaBreached)  # told to the owning queue
        if info is None or (needs_queue and info.queue is None):
            await ctx.conn.execute(
                insert(parked)
                .values(
                    event_id=str(env.event_id),
                    ticket_id=env.ticket_id,
                    envelope=env.model_dump(mode="json"),
                    parked_at=ctx.clock.now(),
                )
                .on_conflict_do_nothing()
            )
            return
        now = ctx.clock.now()
        for d in decide(env.payload, info, self.routing):
            rendered = self.templates.render(d.template, ticket=info.__dict__, **d.context)
            cause = d.cause or env.event_id
            did = delivery_id(cause, d.recipient, d.channel)
            await ctx.conn.execute(
                insert(deliveries)
                .values(
                    cause_event_id=cause,
                    recipient=d.recipient,
                    channel=d.channel,
                    ticket_id=env.ticket_id,
                    template=d.template,
                    status="pending",
                    attempts=0,
                    next_attempt_at=self.send_at(d, info, now),
                    created_at=now,
                    urgent=d.urgent,
                    subject=f"{rendered.subject}",
                    body=rendered.body,
                    secret=" ".join(d.secrets) or None,  # whsec_ secrets hold no spaces
                    delivery_id=did,
                    message_id=f"<{info.number}.{did.hex}@{self.settings.message_id_domain}>",
                    correlation_id=env.correlation_id,
                    context={"event_type": env.event_type, "ticket": info.number, **d.context},
                    trace_context=tracing.capture(),  # each attempt's span continues this handler's trace
                )
                .on_conflict_do_nothing()
            )


def handlers(notifier: Notifier) -> Handlers:
    return (
        Handlers()
        .on(TicketOpened, do=notifier.on_opened)
        .on(TicketTriaged, PriorityChanged, do=notifier.on_routing_fact)
        .on(*DELIVERABLE, do=notifier.on_deliverable)
    )
