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

from supportdesk_contract.catalogue import (
    AgentResponded,
    InfoRequested,
    PriorityChanged,
    RequesterErased,
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
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers
from supportdesk_messaging.sealing import unseal
from supportdesk_observability import tracing

from ..adapters import repository
from ..adapters.templates import Templates
from ..domain.deliveries import (
    ACCESS_TOKEN_MARK,
    VERIFICATION_LINK_MARK,
    Delivery,
    Routing,
    TicketInfo,
    decide,
    verification_link,
)
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


class TicketsOfBatch:
    """What a batch's events need to know of their tickets: each contact row and the events parked
    for it, read for all of them at once and kept current as the batch's handlers queue changes."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any] | None] = {}
        self.parked: dict[str, list[Envelope[Any]]] = {}

    async def load(self, ctx: HandlerContext, ticket_id: str) -> None:
        if ticket_id in self.contacts:
            return
        ids = sorted({ticket_id, *(e.ticket_id for e in ctx.batch)} - self.contacts.keys())
        for t in ids:
            self.contacts[t], self.parked[t] = None, []
        contacts, waiting = await repository.contacts_and_parked(ctx.conn, ids)
        for row in contacts:
            self.contacts[row["ticket_id"]] = row
        for ticket, env in waiting:
            self.parked[ticket].append(env)

    async def contact(self, ctx: HandlerContext, ticket_id: str) -> dict[str, Any] | None:
        await self.load(ctx, ticket_id)
        return self.contacts[ticket_id]

    async def queue(self, ctx: HandlerContext) -> None:
        """Nothing of its own: every change was queued with `ctx.write` as it was made."""


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
        row = await ctx.state(TicketsOfBatch).contact(ctx, ticket_id)
        if row is None or not row["number"]:  # triage facts may arrive first: no TicketOpened yet
            return None
        return TicketInfo(
            row["number"],
            row["subject"],
            row["requester_email"],
            row["customer_id"],
            row["queue"],
            row["priority"],
            row["emergency_contact"],
            self.settings.ticket_status_url.format(ticket_id=ticket_id),
            self.access_token(row["requester_token_sealed"]),
            row["channel"],
            row["policy"],
            row["opened_by_staff"],
            row["opened_event_id"],
            self.verification_url(ticket_id, row["requester_verification_sealed"]),
        )

    def access_token(self, sealed: str | None) -> str | None:
        key = self.settings.requester_token_key.get_secret_value()
        return unseal(key, sealed) if key and sealed else None

    def verification_url(self, ticket_id: str, sealed: str | None) -> str | None:
        token = self.access_token(sealed)  # sealed under the same key
        return verification_link(self.settings.requester_verification_url, ticket_id, token) if token else None

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
            requester_verification_sealed=o.requester_verification_sealed,
            channel=o.channel.value,
            policy=o.policy,
            opened_by_staff=o.opened_by_staff,
            opened_event_id=env.event_id,
            updated_at=ctx.clock.now(),
        )
        await self.remember(ctx, env.ticket_id, values)
        ctx.write(env.ticket_id, repository.OPENED, {"ticket_id": env.ticket_id, **values})
        await self.on_deliverable(ctx, env)  # the customer's webhook hears `ticket.opened`
        await self.release_parked(ctx, env.ticket_id)

    async def remember(self, ctx: HandlerContext, ticket_id: str, values: dict[str, Any]) -> None:
        """The contact row as the queued upsert of `values` leaves it, for the rest of the batch."""
        batch = ctx.state(TicketsOfBatch)
        row = await batch.contact(ctx, ticket_id)
        if row is None:
            row = repository.blank_contact()
            batch.contacts[ticket_id] = row
        row.update(values, ticket_id=ticket_id)

    async def release_parked(self, ctx: HandlerContext, ticket_id: str) -> None:
        """Decide again what waited for this ticket's facts (what still cannot be decided parks again)."""
        batch = ctx.state(TicketsOfBatch)
        await batch.load(ctx, ticket_id)
        waiting, batch.parked[ticket_id] = batch.parked[ticket_id], []
        if not waiting:
            return
        ctx.write(ticket_id, repository.UNPARK, {"ticket_id": ticket_id})
        for env in waiting:
            await self.on_deliverable(ctx, env)

    async def on_routing_fact(self, ctx: HandlerContext, env: Envelope[Any]) -> None:
        p = env.payload
        values: dict[str, Any] = {"priority": p.priority.value, "updated_at": ctx.clock.now()}
        if isinstance(p, TicketTriaged):
            values["queue"] = p.queue
        await self.remember(ctx, env.ticket_id, values)
        upsert = repository.PRIORITY_AND_QUEUE if isinstance(p, TicketTriaged) else repository.PRIORITY
        ctx.write(env.ticket_id, upsert, {"ticket_id": env.ticket_id, "number": "", "subject": "", **values})
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
            ctx.write(
                env.ticket_id,
                repository.PARK,
                dict(
                    event_id=str(env.event_id),
                    ticket_id=env.ticket_id,
                    envelope=env.model_dump(mode="json"),
                    parked_at=ctx.clock.now(),
                ),
            )
            batch = ctx.state(TicketsOfBatch)
            if all(e.event_id != env.event_id for e in batch.parked[env.ticket_id]):
                batch.parked[env.ticket_id].append(env)
            return
        now = ctx.clock.now()
        secret = ("access_token", "verification_url")
        ticket = {k: v for k, v in info.__dict__.items() if k not in secret}
        for d in decide(env.payload, info, self.routing):
            # The ledger keeps no token: the requester's email holds a mark the dispatcher fills in
            # when it sends (from the sealed token), and no other delivery is rendered with one.
            stored = {k: v for k, v in d.context.items() if k not in secret}
            token = ACCESS_TOKEN_MARK if d.channel == "email" and d.context.get("access_token") else None
            shown = {**stored, "access_token": token} if "access_token" in d.context else stored
            if "verification_url" in d.context:
                link = d.channel == "email" and d.context["verification_url"]
                shown["verification_url"] = VERIFICATION_LINK_MARK if link else None
            rendered = self.templates.render(d.template, ticket=ticket, **shown)
            cause = d.cause or env.event_id
            did = delivery_id(cause, d.recipient, d.channel)
            ctx.write(
                env.ticket_id,
                repository.DELIVERY,
                dict(
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
                    context={"event_type": env.event_type, "ticket": info.number, **stored},
                    trace_context=tracing.capture(),  # each attempt's span continues this handler's trace
                ),
            )


async def on_requester_erased(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Forget the requester of this ticket: their contact, their deliveries (sent or pending: the
    ledger's rows exist to send once, and with the address gone nothing can be decided for them
    again; a rebuild after the erasure makes none either), and the rendered texts of the ticket's
    other deliveries (they quote the subject)."""
    # What this batch's earlier events queued (a contact row, deliveries) goes in first, so that
    # it is erased too; the batch's state is dropped with the flush and read again after this.
    await ctx.flush()
    await repository.erase_requester(ctx.conn, env.ticket_id)


def handlers(notifier: Notifier) -> Handlers:
    return (
        Handlers()
        .on(TicketOpened, do=notifier.on_opened)
        .on(TicketTriaged, PriorityChanged, do=notifier.on_routing_fact)
        .on(*DELIVERABLE, do=notifier.on_deliverable)
        .on(RequesterErased, do=on_requester_erased)
    )
