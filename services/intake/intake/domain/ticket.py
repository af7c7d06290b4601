"""The ticket aggregate: commands decide events from history; `apply` is the one place state changes.

The walking skeleton opens tickets; the lifecycle commands (acknowledge, request info, replicate,
deliver workaround, confirm, close, reopen, escalate) join here as methods of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from supportdesk_events.catalogue import Channel, Event, Priority, RequestType, TicketOpened


class TicketStatus(StrEnum):
    NEW = "new"  # waiting for the initial response (seed 000)
    ACKNOWLEDGED = "acknowledged"  # receipt confirmed
    AWAITING_CUSTOMER = "awaiting_customer"
    ANALYSIS = "analysis"  # replicated: the resolution clock runs
    MONITOR = "monitor"  # workaround or fix delivered, waiting for confirmation
    CLOSED = "closed"


@dataclass(frozen=True)
class OpenTicket:
    """A request as a channel hands it over."""

    channel: Channel
    subject: str
    description: str
    requester_email: str | None = None
    requester_phone: str | None = None
    severity: int | None = None
    request_type: RequestType | None = None
    suggested_priority: Priority | None = None


@dataclass
class Ticket:
    id: str
    number: str = ""
    status: TicketStatus = TicketStatus.NEW
    version: int = 0  # how many events the stream has; commands append after it
    opened_at: datetime | None = None
    pending: list[Event] = field(default_factory=list)  # decided, not yet recorded

    @classmethod
    def open(cls, ticket_id: str, number: str, request: OpenTicket, now: datetime) -> Ticket:
        ticket = cls(id=ticket_id)
        ticket._trigger(
            TicketOpened(
                number=number,
                channel=request.channel,
                requester_email=request.requester_email,
                requester_phone=request.requester_phone,
                subject=request.subject,
                description=request.description,
                severity=request.severity,
                request_type=request.request_type,
                suggested_priority=request.suggested_priority,
                opened_at=now,
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

    def apply(self, event: Event) -> None:
        self.version += 1
        match event:
            case TicketOpened():
                self.number = event.number
                self.status = TicketStatus.NEW
                self.opened_at = event.opened_at
