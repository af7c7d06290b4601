"""The ticket aggregate: commands decide events from history; `apply` is the one place state changes.

Phases (docs/policies.md#seed-000): new (waiting for the initial response) -> acknowledged (receipt confirmed)
-> analysis (replicated: the resolution clock runs) -> monitor (workaround or fix delivered,
waiting for the customer's confirmation) -> closed. Awaiting the customer is a pause from any
open phase, left when the customer replies. Reopening starts a new cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from supportdesk_contract.catalogue import (
    AgentResponded,
    Attachment,
    AutoCloseDue,
    Channel,
    ClockKind,
    ClosureCode,
    CustomerReplied,
    EscalationRequested,
    Event,
    InfoRequested,
    IssueReplicated,
    Priority,
    RequesterVerified,
    RequestType,
    ResolutionConfirmed,
    SeverityChanged,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    VerificationMethod,
    WorkaroundDelivered,
)


class TicketStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    AWAITING_CUSTOMER = "awaiting_customer"
    ANALYSIS = "analysis"
    MONITOR = "monitor"
    CLOSED = "closed"


OPEN = frozenset(TicketStatus) - {TicketStatus.CLOSED}


class TransitionRefused(Exception):
    """The command does not fit the ticket's history; the API answers 409 with the state."""

    def __init__(self, ticket: Ticket, command: str, reason: str) -> None:
        super().__init__(f"cannot {command}: {reason}")
        self.status = ticket.status
        self.version = ticket.version
        self.command = command
        self.reason = reason


@dataclass(frozen=True)
class OpenTicket:
    """A request as a channel hands it over."""

    channel: Channel
    subject: str
    description: str
    requester_email: str | None = None
    requester_phone: str | None = None
    customer_id: str | None = None
    plan: str | None = None
    policy: str | None = None
    severity: int | None = None
    request_type: RequestType | None = None
    suggested_priority: Priority | None = None
    emergency_contact: bool = False
    attachments: tuple[Attachment, ...] = ()
    requester_token_sealed: str | None = None
    opened_by_staff: str | None = None  # filed on the requester's behalf by this staff member
    account_manager_email: str | None = None  # the customer's, as the directory names them
    requester_verified: bool = False  # proven who they say they are (TicketOpened.requester_verified)
    requester_verification_sealed: str | None = None  # the one-time token for the requester, sealed


# Severities whose claim could page someone: SWAT takes severity 1 at once, and 1-2 on a breach.
PAGING_SEVERITIES = frozenset({1, 2})


def offers_verification(request: OpenTicket) -> bool:
    """Whether the requester is sent a one-time link to prove the address they gave is theirs: an
    unproven requester we can mail, whose claims would page someone once proven (severity 1 or 2,
    an emergency contact's address). Other claims wait for a person anyway, so they need no link
    (docs/operations/security.md#claims-from-strangers)."""
    claims_a_page = request.severity in PAGING_SEVERITIES or request.emergency_contact
    return not request.requester_verified and bool(request.requester_email) and claims_a_page


class VerificationExpired(Exception):
    """The one-time link is past its time: nothing recorded (the API answers 410)."""


@dataclass
class Ticket:
    id: str
    number: str = ""
    status: TicketStatus = TicketStatus.NEW
    version: int = 0  # events in the stream; a save appends after it
    cycle: int = 1
    severity: int | None = None
    # The severity is the desk's own: the requester was proven when it opened, or an agent set it.
    # Until then an agent may set it to the very value claimed, to confirm it.
    severity_confirmed: bool = True
    requester_verified: bool = True  # as TicketOpened said, or proven since (RequesterVerified)
    receipt_confirmed: bool = False
    resume_to: TicketStatus = TicketStatus.NEW  # where a customer's reply returns an awaiting ticket
    opened_at: datetime | None = None
    pending: list[Event] = field(default_factory=list)  # decided, not yet recorded

    # --- creation and history -------------------------------------------------------------

    @classmethod
    def open(cls, ticket_id: str, number: str, request: OpenTicket, now: datetime) -> Ticket:
        ticket = cls(id=ticket_id)
        ticket._trigger(
            TicketOpened(
                number=number,
                channel=request.channel,
                requester_email=request.requester_email,
                requester_phone=request.requester_phone,
                customer_id=request.customer_id,
                plan=request.plan,
                policy=request.policy,
                subject=request.subject,
                description=request.description,
                severity=request.severity,
                request_type=request.request_type,
                suggested_priority=request.suggested_priority,
                emergency_contact=request.emergency_contact,
                attachments=request.attachments,
                opened_at=now,
                requester_token_sealed=request.requester_token_sealed,
                opened_by_staff=request.opened_by_staff,
                account_manager_email=request.account_manager_email,
                requester_verified=request.requester_verified,
                requester_verification_sealed=request.requester_verification_sealed,
            )
        )
        return ticket

    @classmethod
    def from_history(cls, ticket_id: str, history: list[Event]) -> Ticket:
        ticket = cls(id=ticket_id)
        for event in history:
            ticket.apply(event)
        return ticket

    def _trigger(self, event: Event) -> None:
        self.apply(event)
        self.pending.append(event)

    def _require(self, command: str, allowed: frozenset[TicketStatus] | set[TicketStatus]) -> None:
        if self.status not in allowed:
            raise TransitionRefused(self, command, f"the ticket is {self.status.value}")

    # --- agents ---------------------------------------------------------------------------

    def respond(self, agent: str, body: str, public: bool = True) -> None:
        self._require("respond", OPEN)
        self._trigger(
            AgentResponded(
                agent=agent, body=body, public=public, confirms_receipt=public and not self.receipt_confirmed
            )
        )

    def request_info(self, agent: str, question: str) -> None:
        self._require("request information", OPEN - {TicketStatus.AWAITING_CUSTOMER})
        if not self.receipt_confirmed:  # asking the customer is itself the initial response
            self.respond(agent, question)
        self._trigger(InfoRequested(agent=agent, question=question))

    def mark_replicated(self, agent: str, note: str = "") -> None:
        self._require("mark replicated", {TicketStatus.NEW, TicketStatus.ACKNOWLEDGED})
        self._trigger(IssueReplicated(agent=agent, note=note))

    def deliver_workaround(self, agent: str, description: str, is_fix: bool = False) -> None:
        self._require("deliver a workaround", {TicketStatus.NEW, TicketStatus.ACKNOWLEDGED, TicketStatus.ANALYSIS})
        self._trigger(WorkaroundDelivered(agent=agent, description=description, is_fix=is_fix))

    def change_severity(self, by: str, severity: int, reason: str) -> None:
        self._require("change severity", OPEN)
        if severity == self.severity and (self.severity_confirmed or self.severity is None):
            raise TransitionRefused(self, "change severity", f"severity is already {severity}")
        self._trigger(SeverityChanged(severity=severity, previous=self.severity, by=by, reason=reason))

    def close(self, by: str, code: ClosureCode, note: str = "") -> None:
        self._require("close", OPEN)
        self._trigger(TicketClosed(closure_code=code, by=by, note=note))

    def reopen(self, by: str, reason: str) -> None:
        self._require("reopen", {TicketStatus.CLOSED})
        self._trigger(TicketReopened(by=by, reason=reason))

    # --- customers ------------------------------------------------------------------------

    def customer_reply(
        self, body: str, channel: Channel, message_id: str | None = None, attachments: tuple[Attachment, ...] = ()
    ) -> None:
        if self.status is TicketStatus.CLOSED:  # a reply to a closed ticket reopens it
            self.reopen("customer", "the customer replied to a closed ticket")
        self._trigger(CustomerReplied(channel=channel, body=body, message_id=message_id, attachments=attachments))

    def confirm_resolution(self, by: str) -> None:
        self._require("confirm the resolution", {TicketStatus.MONITOR})
        self._trigger(ResolutionConfirmed(by=by))
        self._trigger(TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by=by))

    def verify_requester(self, now: datetime, valid_for: timedelta) -> None:
        """The requester sent back the one-time token of their link (the caller checked it is this
        ticket's): who they said they are is proven, once, within `valid_for` of the opening. Not
        refused on a closed ticket: proving an address changes no phase, and a reopened one gains."""
        if self.requester_verified:
            raise TransitionRefused(self, "verify the requester", "the requester is proven already")
        if self.opened_at is None or now > self.opened_at + valid_for:
            raise VerificationExpired(self.id)
        self._trigger(RequesterVerified(method=VerificationMethod.EMAILED_LINK, verified_at=now))

    def request_escalation(self, by: str, reason: str) -> None:
        self._require("request escalation", OPEN)
        self._trigger(EscalationRequested(by=by, reason=reason))

    # --- timers ---------------------------------------------------------------------------

    def auto_close(self, due: AutoCloseDue) -> bool:
        """Close on sla-clock's timer if it still applies; False (and no event) if it does not."""
        still = {
            ClockKind.MONITOR_AUTO_CLOSE: TicketStatus.MONITOR,
            ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE: TicketStatus.AWAITING_CUSTOMER,
        }.get(due.clock)
        if due.cycle != self.cycle or still is None or self.status is not still:
            return False
        self._trigger(TicketClosed(closure_code=due.closure_code, by="sla-clock", note=f"{due.clock.value} elapsed"))
        return True

    # --- the one place state changes --------------------------------------------------------

    def apply(self, event: Event) -> None:
        self.version += 1
        match event:
            case TicketOpened():
                self.number, self.status, self.opened_at = event.number, TicketStatus.NEW, event.opened_at
                self.severity = event.severity
                self.requester_verified = event.requester_verified is not False
                self.severity_confirmed = self.requester_verified
            case RequesterVerified():
                self.requester_verified = self.severity_confirmed = True
            case AgentResponded():
                if event.confirms_receipt:
                    self.receipt_confirmed = True
                    if self.status is TicketStatus.NEW:
                        self.status = TicketStatus.ACKNOWLEDGED
            case InfoRequested():
                self.resume_to = self.status
                self.status = TicketStatus.AWAITING_CUSTOMER
            case CustomerReplied():
                if self.status is TicketStatus.AWAITING_CUSTOMER:
                    self.status = self.resume_to
            case IssueReplicated():
                self.status = TicketStatus.ANALYSIS
            case WorkaroundDelivered():
                self.status = TicketStatus.MONITOR
            case SeverityChanged():
                self.severity, self.severity_confirmed = event.severity, True
            case TicketClosed():
                self.status = TicketStatus.CLOSED
            case TicketReopened():
                self.status, self.cycle, self.receipt_confirmed = TicketStatus.NEW, self.cycle + 1, False
