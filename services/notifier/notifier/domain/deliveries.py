"""Who hears about what: from one event about a ticket, the deliveries it causes.

Pure rules. A delivery is (recipient, channel, template); the ledger keys it by the cause event,
so deciding again (a replay) decides the same deliveries and sends nothing new.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from supportdesk_contract.catalogue import (
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
    TicketOpened,
    TicketTriaged,
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
    status_url: str | None = None  # where the requester follows the ticket online (docs/policies.md#seed-000)
    access_token: str | None = None  # their token for it, when intake sealed one for us
    channel: str | None = None  # web | email | phone
    policy: str | None = None
    opened_by_staff: str | None = None  # filed on the requester's behalf by this staff member
    opened_event_id: uuid.UUID | None = None  # TicketOpened: the acknowledgement's cause
    # The link that proves the requester is who they said (a one-time token in it), when intake
    # offered one: an unproven requester whose claims could page someone.
    verification_url: str | None = None


@dataclass(frozen=True)
class AckRule:
    """One level of the acknowledgement settings; None leaves the decision to the level below."""

    send: bool | None = None
    template: str | None = None
    staff_opened: bool | None = None  # also for tickets staff filed on the requester's behalf


@dataclass(frozen=True)
class Acknowledgements:
    """Whether, and with which template, a new ticket's requester is acknowledged: a customer's
    rule over its policy's over the default."""

    default: AckRule = AckRule(send=True, template="acknowledgement", staff_opened=False)
    channels: frozenset[str] = frozenset({"email", "phone"})  # the web form answers with the token itself
    policies: dict[str, AckRule] = field(default_factory=dict)
    customers: dict[str, AckRule] = field(default_factory=dict)

    def rule_for(self, policy: str | None, customer_id: str | None) -> AckRule:
        levels = [self.customers.get(customer_id or ""), self.policies.get(policy or ""), self.default]
        rules = [r for r in levels if r is not None]

        def first(name: str) -> Any:
            return next((getattr(r, name) for r in rules if getattr(r, name) is not None), None)

        return AckRule(bool(first("send")), first("template") or "acknowledgement", bool(first("staff_opened")))


@dataclass(frozen=True)
class Routing:
    """Where staff notifications go (NOTIFIER_ROUTING_FILE)."""

    queues: dict[str, Contact] = field(default_factory=dict)
    customer_webhooks: dict[str, Contact] = field(default_factory=dict)
    after_hours_notice_policies: frozenset[str] = frozenset()
    staff_hours: StaffHours | None = None  # quiet hours for non-urgent staff notifications
    acknowledgements: Acknowledgements = Acknowledgements()

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
    cause: uuid.UUID | None = None  # the ledger's cause when not the deciding event (acknowledgements)


# Where the requester's access token goes in a stored text: the ledger keeps no token (intake keeps
# only its hash); the dispatcher puts the token in when it sends the requester's email.
ACCESS_TOKEN_MARK = "[access-token:3c0e7f]"


def with_access_token(text: str, token: str | None) -> str:
    """The stored text as sent: the mark replaced by the token (or by a pointer to support when the
    token cannot be opened any more)."""
    return text.replace(ACCESS_TOKEN_MARK, token or "(ask support for it)")


# Where the requester's verification link goes in a stored text, for the same reason: the link
# holds a one-time token, which the ledger must not keep in clear.
VERIFICATION_LINK_MARK = "[verification-link:5e91c4]"


def verification_link(url_template: str, ticket_id: str, token: str) -> str:
    """The link the requester follows: NOTIFIER_REQUESTER_VERIFICATION_URL with the ticket and the token."""
    return url_template.format(ticket_id=ticket_id, token=token)


def with_verification_link(text: str, link: str | None) -> str:
    return text.replace(VERIFICATION_LINK_MARK, link or "(the link is no longer available: ask support to confirm)")


# What customers' webhooks see as `type` (Standard Webhooks: full-stop delimited), per event.
WEBHOOK_TYPES = {
    "TicketOpened": "ticket.opened",
    "AgentResponded": "ticket.responded",
    "InfoRequested": "ticket.info_requested",
    "WorkaroundDelivered": "ticket.workaround_delivered",
    "TicketClosed": "ticket.closed",
    "SlaClockStarted": "ticket.after_hours_notice",
    "SlaAtRisk": "sla.at_risk",
    "SlaBreached": "sla.breached",
    "TicketEscalated": "ticket.escalated",
    "SwatEngaged": "ticket.swat_engaged",
}

# Addresses that are machines, not people (RFC 3834: never answer them automatically).
MACHINE_LOCAL_PARTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply")


def is_machine_address(email: str) -> bool:
    local = email.partition("@")[0].lower()
    return local.startswith(MACHINE_LOCAL_PARTS) or local.startswith("bounce")


def business_time_in_words(seconds: int) -> str:
    """`8 business hours`, `30 business minutes`, `1 business hour 30 minutes`."""
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{minutes} business minute{'s' * (minutes != 1)}"
    words = f"{hours} business hour{'s' * (hours != 1)}"
    return f"{words} {minutes} minute{'s' * (minutes != 1)}" if minutes else words


def acknowledgement(t: TicketInfo, routing: Routing, target_seconds: int | None, due_at: str | None) -> list[Delivery]:
    """Automatic acknowledgement of a new ticket to its requester, by email, once (its ledger cause
    is the TicketOpened event, whichever fact completed it): the number, the status link and token,
    and the first-response target in words (none for requests outside the SLA).

    A requester offered a verification link gets it here whatever the channel and the settings
    say: the web form's answer shows no link, and it is their only way to prove who they are."""
    rule = routing.acknowledgements.rule_for(t.policy, t.customer_id)
    proving = t.verification_url is not None
    if (
        not (rule.send or proving)
        or t.opened_event_id is None
        or not t.requester_email
        or is_machine_address(t.requester_email)
        or (t.channel not in routing.acknowledgements.channels and not proving)
        or (t.opened_by_staff is not None and not rule.staff_opened)
    ):
        return []
    target = business_time_in_words(target_seconds) if target_seconds else None
    ctx = dict(
        status_url=t.status_url,
        access_token=t.access_token,
        target_words=target,
        due_at=due_at,
        verification_url=t.verification_url,
    )
    assert rule.template is not None
    return [Delivery(t.requester_email, "email", rule.template, False, context=ctx, cause=t.opened_event_id)]


CLOSURE_WORDS = {
    ClosureCode.CUSTOMER_CONFIRMED: "you confirmed the request is resolved",
    ClosureCode.NO_CUSTOMER_RESPONSE: "we did not hear back from you for 10 business days",
    ClosureCode.CONFIRMATION_WINDOW_EXPIRED: "the confirmation window passed without a reply",
}


def _to_customer(t: TicketInfo, routing: Routing, template: str, urgent: bool, **ctx: Any) -> list[Delivery]:
    """The requester by email, and their company's webhook. The access token goes only to the
    requester: whoever reads the webhook's endpoint is not them; it gets the status link alone."""
    out = []
    if t.requester_email:
        out.append(Delivery(t.requester_email, "email", template, urgent, context=ctx))
    hook = routing.customer_webhooks.get(t.customer_id or "")
    if hook is not None and hook.webhook_url:
        shared = {**ctx, "access_token": None} if "access_token" in ctx else ctx
        out.append(Delivery(hook.webhook_url, "webhook", template, urgent, hook.webhook_secrets, shared))
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
        case TicketOpened():
            hook = routing.customer_webhooks.get(t.customer_id or "")
            if hook is None or not hook.webhook_url:
                return []
            ctx = dict(channel=event.channel.value, opened_at=event.opened_at.isoformat())
            return [Delivery(hook.webhook_url, "webhook", "ticket_opened", urgent, hook.webhook_secrets, ctx)]
        case TicketTriaged() if event.sla_exempt:
            return acknowledgement(t, routing, None, None)  # no first-response clock will start
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
        case SlaClockStarted() if event.clock.value == "first_response":
            out = []
            if event.cycle == 1:  # the ticket's first clock, not a reopened one
                due = event.due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if event.due_at else None
                out += acknowledgement(t, routing, event.target_seconds, due)
            policy = event.policy_version.partition("@")[0]
            after_hours = event.opened_in_hours is False and policy in routing.after_hours_notice_policies
            if after_hours and not t.emergency_contact:
                # docs/policies.md#seed-004: the customer is told before charges accrue for non-emergency
                # after-hours work.
                out += _to_customer(t, routing, "after_hours_notice", False, policy=policy)
            return out
    return []
