"""Who gets what priority, and why.

A first cut for the walking skeleton: the rules the seeds state outright. The rules-as-data engine
(YAML, plans, emergency contacts) replaces this function, keeping its signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from supportdesk_events.catalogue import Channel, Priority, RequestType, TicketOpened

SEVERITY_PRIORITY = {1: Priority.URGENT, 2: Priority.HIGH, 3: Priority.NORMAL, 4: Priority.LOW}

FIRST_LEVEL = "first-level"
TECHNICAL = "technical"


@dataclass(frozen=True)
class TriageDecision:
    priority: Priority
    severity: int | None
    request_type: RequestType
    queue: str
    sla_exempt: bool
    swat: bool
    rule: str


def triage(ticket: TicketOpened) -> TriageDecision:
    request_type = ticket.request_type or RequestType.PROBLEM
    # Seed 003: first-level support triages everything; technical support owns technical requests.
    queue = TECHNICAL if request_type is RequestType.PROBLEM and ticket.customer_id else FIRST_LEVEL
    swat = ticket.severity in (1, 2)  # seed 002: a SWAT team takes severity 1-2

    def decided(priority: Priority, rule: str, exempt: bool = False) -> TriageDecision:
        return TriageDecision(priority, ticket.severity, request_type, queue, exempt, swat, rule)

    if request_type is RequestType.FEATURE_REQUEST:
        # Seed 000: enhancement and feature requests are outside the SLA.
        return decided(Priority.LOW, "feature-request-is-low-and-exempt", exempt=True)
    if ticket.channel is Channel.EMAIL:
        # Seed 000: "All issues submitted by email will be classified as Normal by default".
        return decided(Priority.NORMAL, "email-defaults-to-normal")
    if ticket.severity is not None:
        return decided(SEVERITY_PRIORITY[ticket.severity], f"severity-{ticket.severity}")
    if ticket.suggested_priority is not None:
        return decided(ticket.suggested_priority, "agent-suggested-priority")
    return decided(Priority.NORMAL, "default-normal")
