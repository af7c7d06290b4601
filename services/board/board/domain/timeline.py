"""The ticket's timeline: what the board keeps of each event it folds (`Fact`), and the line an
agent reads for it (`describe`: who did it and why). Apart from the fold of the row
(`ticket_view`): a line depends on its own event only, never on the ticket's state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from supportdesk_contract.catalogue import (
    AgentResponded,
    AssignmentReason,
    AutoCloseDue,
    CustomerReplied,
    EscalationAcknowledged,
    EscalationRequested,
    EscalationResolved,
    Event,
    InfoRequested,
    IssueReplicated,
    NotificationFailed,
    NotificationSent,
    PriorityChanged,
    RequesterErased,
    RequesterVerified,
    ResolutionConfirmed,
    SeverityChanged,
    SlaAtRisk,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockRetargeted,
    SlaClockStarted,
    SlaClockStopped,
    SlaClockSuspended,
    SlaMet,
    SwatEngaged,
    TicketAssigned,
    TicketClosed,
    TicketEscalated,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
    TicketUnassigned,
    TriageOverridden,
    WorkaroundDelivered,
)


@dataclass(frozen=True)
class Fact:
    """What the board folds of one event, and keeps of it on the timeline (where `as_of` finds it again)."""

    event_id: uuid.UUID
    ticket_id: str
    event_type: str
    occurred_at: datetime
    producer: str
    payload: Event

    @property
    def topic(self) -> str:
        return self.payload.topic.value


# Why a holder changed, as the line says it.
_WHY = {
    AssignmentReason.MANUAL: "by hand",
    AssignmentReason.CLAIMED: "claimed by the agent",
    AssignmentReason.RULE: "by the team's rule",
    AssignmentReason.OFF_SHIFT: "because the holder's shift ended",
    AssignmentReason.AWAY: "because the holder went away",
    AssignmentReason.THIRD_PARTY: "handed to a third party",
    AssignmentReason.QUEUE_CHANGED: "because triage moved it to a queue another team serves",
    AssignmentReason.CLOSED: "because the ticket closed",
}


def _assigned(event: TicketAssigned) -> str:
    if event.third_party is not None:
        to = f"third party {event.third_party}"
    elif event.agent is not None:
        to = event.agent + (f" of team {event.team}" if event.team else "")
    else:
        to = f"team {event.team}'s pool" if event.team else "nobody"
    was = event.previous_agent or (f"team {event.previous_team}" if event.previous_team else None)
    line = f"assigned to {to}" + (f" (was {was})" if was else "") + f", {_WHY[event.reason]}"
    return line + (f": {event.explanation[:300]}" if event.explanation else "")


def _unassigned(event: TicketUnassigned) -> str:
    line = "unassigned" + (f" from {event.agent}" if event.agent else "")
    line += f", back to team {event.team}'s pool" if event.team else ", nobody holds it"
    line += f", {_WHY[event.reason]}"
    return line + (f": {event.explanation[:300]}" if event.explanation else "")


@dataclass(frozen=True)
class TimelineEntry:
    """Who did it and why, in words an agent reads on the ticket's timeline."""

    actor: str
    summary: str


def describe(event: Event, producer: str) -> TimelineEntry:
    """The timeline's line for one event: the agent's reason, the rule, the policy, the delivery."""
    match event:
        case TicketOpened():
            who = event.requester_email or event.requester_phone or "unknown requester"
            return TimelineEntry(who, f"opened {event.number} by {event.channel.value}: {event.subject}")
        case CustomerReplied():
            return TimelineEntry("customer", f"replied by {event.channel.value}")
        case RequesterErased():
            return TimelineEntry(producer, "the requester's personal data was erased")
        case AgentResponded():
            kind = "responded" if event.public else "added an internal note"
            return TimelineEntry(event.agent, kind + (" (receipt confirmed)" if event.confirms_receipt else ""))
        case InfoRequested():
            return TimelineEntry(event.agent, f"asked the customer: {event.question[:200]}")
        case IssueReplicated():
            return TimelineEntry(event.agent, "replicated the issue" + (f": {event.note[:200]}" if event.note else ""))
        case WorkaroundDelivered():
            return TimelineEntry(event.agent, ("delivered a fix" if event.is_fix else "delivered a workaround"))
        case ResolutionConfirmed():
            return TimelineEntry(event.by, "confirmed the resolution")
        case TicketClosed():
            note = f" ({event.note[:200]})" if event.note else ""
            return TimelineEntry(event.by, f"closed: {event.closure_code.value}{note}")
        case TicketReopened():
            return TimelineEntry(event.by, f"reopened: {event.reason}")
        case SeverityChanged():
            return TimelineEntry(event.by, f"severity {event.previous} -> {event.severity}: {event.reason}")
        case EscalationRequested():
            return TimelineEntry(event.by, f"requested escalation: {event.reason}")
        case RequesterVerified():
            return TimelineEntry("requester", "proved who they are (followed the emailed link): their claims count")
        case TicketTriaged():
            return TimelineEntry(
                producer,
                f"triaged {event.priority.value}, queue {event.queue}, {event.request_type.value}"
                f" (rule {event.rule}{', queue rule ' + event.queue_rule if event.queue_rule else ''})"
                + (", SWAT" if event.swat else ""),
            )
        case PriorityChanged():
            return TimelineEntry(event.by, f"priority {event.previous.value} -> {event.priority.value}: {event.reason}")
        case TriageOverridden():
            return TimelineEntry(event.by, f"{event.field} {event.previous} -> {event.value}: {event.reason}")
        case SlaClockStarted():
            due = event.due_at.isoformat() if event.due_at else "no target"
            return TimelineEntry(
                producer,
                f"{event.clock.value} clock started (cycle {event.cycle}), due {due},"
                f" policy {event.policy_version}, calendar {event.calendar}",
            )
        case SlaClockPaused():
            return TimelineEntry(producer, f"{event.clock.value} clock paused")
        case SlaClockResumed():
            due = event.due_at.isoformat() if event.due_at else "no target"
            return TimelineEntry(producer, f"{event.clock.value} clock resumed, due {due}")
        case SlaClockStopped():
            return TimelineEntry(
                producer, f"{event.clock.value} clock stopped after {event.elapsed_business_seconds} business seconds"
            )
        case SlaClockRetargeted():
            due = event.due_at.isoformat() if event.due_at else "none while paused"
            return TimelineEntry(
                event.by,
                f"{event.clock.value} clock moved from {event.from_version} to {event.to_version}, due {due}:"
                f" {event.reason[:200]}",
            )
        case SlaClockSuspended():
            what = f"{event.clock.value} clock suspended: policy {event.policy} deactivated"
            return TimelineEntry(event.by, f"{what}: {event.reason[:200]}")
        case SlaAtRisk():
            return TimelineEntry(producer, f"{event.clock.value} at {event.threshold_percent}% of its target")
        case SlaBreached():
            return TimelineEntry(producer, f"{event.clock.value} breached (due {event.due_at.isoformat()})")
        case SlaMet():
            return TimelineEntry(producer, f"{event.clock.value} met")
        case AutoCloseDue():
            return TimelineEntry(producer, f"{event.clock.value} elapsed: close as {event.closure_code.value}")
        case TicketEscalated():
            to = ", ".join(event.recipients) or event.route
            return TimelineEntry(producer, f"escalated to level {event.level} ({event.route}: {to}): {event.reason}")
        case EscalationAcknowledged():
            return TimelineEntry(event.by, f"acknowledged escalation level {event.level}")
        case SwatEngaged():
            return TimelineEntry(producer, f"SWAT engaged: {event.reason}")
        case EscalationResolved():
            return TimelineEntry(producer, f"escalation resolved: {event.reason}")
        case TicketAssigned():
            return TimelineEntry(event.by, _assigned(event))
        case TicketUnassigned():
            return TimelineEntry(event.by, _unassigned(event))
        case NotificationSent():
            return TimelineEntry(producer, f"{event.template} sent by {event.channel} to {event.recipient}")
        case NotificationFailed():
            return TimelineEntry(
                producer,
                f"{event.channel} to {event.recipient} failed after {event.attempts} attempts: {event.reason[:200]}",
            )
    return TimelineEntry(producer, event.event_type)
