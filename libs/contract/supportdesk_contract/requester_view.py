"""What a requester may read of their ticket's history: the one place it is decided
(docs/architecture/rules.md#rule-11).

Each event type meant for the requester is listed here with the payload fields they may see and,
where it depends on the event, when. Everything else is hidden: an event type not listed (triage,
SLA, escalation, notification events, and any type added later) and any field not listed (sealed
tokens, internal notes, customer ids, plans, agent-only metadata, and any field added later).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Disclosure:
    fields: frozenset[str]
    # None: every event of the type; else only those for which this says True.
    when: Callable[[Mapping[str, Any]], bool] | None = None


def _public_response(payload: Mapping[str, Any]) -> bool:
    return payload.get("public") is True  # missing: hidden, as an internal note would be


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names)


REQUESTER_VISIBLE: Mapping[str, Disclosure] = {
    "TicketOpened": Disclosure(
        _fields(
            "number",
            "channel",
            "requester_email",
            "requester_phone",
            "subject",
            "description",
            "severity",
            "request_type",
            "attachments",
            "opened_at",
        )
    ),
    "CustomerReplied": Disclosure(_fields("channel", "body", "attachments")),
    "AgentResponded": Disclosure(_fields("agent", "body"), when=_public_response),
    "InfoRequested": Disclosure(_fields("agent", "question")),
    "IssueReplicated": Disclosure(_fields("agent")),  # the phase, not the engineer's note
    "WorkaroundDelivered": Disclosure(_fields("agent", "description", "is_fix")),
    "ResolutionConfirmed": Disclosure(_fields("by")),
    "TicketClosed": Disclosure(_fields("closure_code", "by")),
    "TicketReopened": Disclosure(_fields("by", "reason")),
    "SeverityChanged": Disclosure(_fields("severity", "previous")),
    "EscalationRequested": Disclosure(_fields("by", "reason")),
    "RequesterVerified": Disclosure(_fields("method", "verified_at")),  # they followed the link themselves
}


def requester_view(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The part of one event the requester may see, or None if they may not see it at all."""
    disclosure = REQUESTER_VISIBLE.get(event_type)
    if disclosure is None or (disclosure.when is not None and not disclosure.when(payload)):
        return None
    return {name: value for name, value in payload.items() if name in disclosure.fields}
