"""Who hears about what: from one event about a ticket, the deliveries it causes.

Pure rules. A delivery is (recipient, channel, template); the ledger keys it by the cause event,
so deciding again (a replay) decides the same deliveries and sends nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supportdesk_events.catalogue import (
    AgentResponded,
    ClosureCode,
    Event,
    InfoRequested,
    SlaAtRisk,
    SlaBreached,
    SlaClockStarted,
    SwatEngaged,
    TicketClosed,
    TicketEscalated,
    WorkaroundDelivered,
)

from .quiet_hours import StaffHours


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    webhook_url: str | None = None
    # Standard Webhooks `whsec_` secrets; several while a secret is being rotated (each signs).
    webhook_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketInfo:
    """What the notifier has learnt about a ticket from its events."""

    number: str
    subject: str
    requester_email: str | None
    customer_id: str | None
    queue: str | None
    priority: str | None
    emergency_contact: bool
    status_url: str | None = None  # where the requester follows the ticket online (seed 000)
    access_token: str | None = None  # their token for it, when intake sealed one for us


@dataclass(frozen=True)
class Routing:
    """Where staff notifications go (NOTIFIER_ROUTING_FILE)."""

    queues: dict[str, Contact] = field(default_factory=dict)
    customer_webhooks: dict[str, Contact] = field(default_factory=dict)
    after_hours_notice_policies: frozenset[str] = frozenset()
    staff_hours: StaffHours | None = None  # quiet hours for non-urgent staff notifications

    def webhook_secrets(self, url: str) -> tuple[str, ...] | None:
        """The secrets configured now for a webhook URL (None: the URL is no longer routed), so a
        retry after a rotation signs with the current secrets, not those of when it was decided."""
        found = [
            c.webhook_secrets for c in (*self.queues.values(), *self.customer_webhooks.values()) if c.webhook_url == url
        ]
        return tuple(dict.fromkeys(s for secrets in found for s in secrets)) if found else None


@dataclass(frozen=True)
class Delivery:
    recipient: str  # an email address or a webhook URL
    channel: str  # email | webhook
    template: str
    urgent: bool
    secrets: tuple[str, ...] = ()  # webhook signing secrets
    context: dict[str, Any] = field(default_factory=dict)
    to_staff: bool = False


CLOSURE_WORDS = {
    ClosureCode.CUSTOMER_CONFIRMED: "you confirmed the request is resolved",
    ClosureCode.NO_CUSTOMER_RESPONSE: "we did not hear back from you for 10 business days",
    ClosureCode.CONFIRMATION_WINDOW_EXPIRED: "the confirmation window passed without a reply",
}


def _to_customer(t: TicketInfo, routing: Routing, template: str, urgent: bool, **ctx: Any) -> list[Delivery]:
    out = []
    if t.requester_email:
        out.append(Delivery(t.requester_email, "email", template, urgent, context=ctx))
    hook = routing.customer_webhooks.get(t.customer_id or "")
    if hook is not None and hook.webhook_url:
        out.append(Delivery(hook.webhook_url, "webhook", template, urgent, hook.webhook_secrets, ctx))
    return out


def _to_staff(contact: Contact | None, template: str, urgent: bool, **ctx: Any) -> list[Delivery]:
    if contact is None:
        return []
    out = []
    if contact.email:
        out.append(Delivery(contact.email, "email", template, urgent, context=ctx, to_staff=True))
    if contact.webhook_url:
        out.append(
            Delivery(contact.webhook_url, "webhook", template, urgent, contact.webhook_secrets, ctx, to_staff=True)
        )
    return out


def decide(event: Event, t: TicketInfo, routing: Routing) -> list[Delivery]:
    urgent = t.priority in ("urgent", "high") or t.emergency_contact
    match event:
        case AgentResponded() if event.public:
            template = "receipt_confirmed" if event.confirms_receipt else "agent_responded"
            return _to_customer(
                t,
                routing,
                template,
                urgent,
                body=event.body,
                agent=event.agent,
                status_url=t.status_url,
                access_token=t.access_token,
            )
        case InfoRequested():
            return _to_customer(t, routing, "info_requested", urgent, question=event.question)
        case WorkaroundDelivered():
            return _to_customer(
                t, routing, "workaround_delivered", urgent, description=event.description, is_fix=event.is_fix
            )
        case TicketClosed():
            return _to_customer(
                t,
                routing,
                "ticket_closed",
                False,
                closure_code=event.closure_code.value,
                closure_words=CLOSURE_WORDS.get(event.closure_code, event.closure_code.value),
            )
        case SlaAtRisk():
            return _to_staff(
                routing.queues.get(t.queue or ""),
                "sla_at_risk",
                urgent,
                clock=event.clock.value,
                threshold_percent=event.threshold_percent,
                due_at=event.due_at.isoformat(),
            )
        case SlaBreached():
            return _to_staff(
                routing.queues.get(t.queue or ""),
                "sla_breached",
                True,
                clock=event.clock.value,
                due_at=event.due_at.isoformat(),
            )
        case TicketEscalated():
            return [
                d
                for r in event.recipients
                for d in _to_staff(
                    Contact(email=r), "escalated", True, level=event.level, route=event.route, reason=event.reason
                )
            ]
        case SwatEngaged():
            return [
                d for m in event.members for d in _to_staff(Contact(email=m), "swat_engaged", True, reason=event.reason)
            ]
        case SlaClockStarted() if event.clock.value == "first_response" and event.opened_in_hours is False:
            policy = event.policy_version.partition("@")[0]
            if policy in routing.after_hours_notice_policies and not t.emergency_contact:
                # Seed 004: the customer is told before charges accrue for non-emergency after-hours work.
                return _to_customer(t, routing, "after_hours_notice", False, policy=policy)
    return []
