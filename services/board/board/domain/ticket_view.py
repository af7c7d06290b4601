"""One ticket as the board shows it, folded from every service's events.

Each topic keeps its own part of the state (`LifecycleFacts`, `TriageFacts`, `SlaFacts`,
`EscalationFacts`, `NotificationFacts`, `AssignmentFacts`) and an event only ever changes the part of its own topic.
Per-ticket order holds within a topic, so each part is the same whatever order the topics
interleave in; everything the board shows that depends on more than one part is derived from the
parts at the end (`TicketView.row`), never stored as it arrives. That is what makes the board
converge, and what lets it be rebuilt from the log. The line each event adds to the ticket's
timeline depends on that event alone, not on this state: it is `timeline.describe`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from supportdesk_contract.catalogue import (
    ERASED_TEXT,
    AgentResponded,
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
from supportdesk_contract.topics import Topic

from .business_time import calendar_id

DESCRIPTION_EXCERPT = 500
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# Closing by a timer or the customer is not an agent's activity.
_NOT_AGENTS = {"customer", "sla-clock", "requester"}


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seen: int = 0  # events of this topic applied: the timeline's order within the topic


class LifecycleFacts(_Part):
    number: str | None = None
    channel: str | None = None
    requester_email: str | None = None
    requester_phone: str | None = None
    customer_id: str | None = None
    plan: str | None = None
    policy: str | None = None
    subject: str | None = None
    description_excerpt: str | None = None
    severity: int | None = None
    severity_changed: bool = False
    request_type: str | None = None
    status: str = "new"
    resume_to: str = "new"
    cycle: int = 1
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    closure_code: str | None = None
    customer_replies: int = 0
    agent_responses: int = 0
    last_customer_at: datetime | None = None
    last_agent_at: datetime | None = None
    escalation_requested_by: str | None = None


class TriageFacts(_Part):
    priority: str | None = None
    severity: int | None = None
    request_type: str | None = None
    queue: str | None = None
    swat: bool = False
    sla_exempt: bool = False
    rule: str | None = None
    plan: str | None = None
    policy: str | None = None
    channel: str | None = None
    opened_at: datetime | None = None
    last_agent_at: datetime | None = None


class ClockFacts(BaseModel):
    state: str = "running"  # running | paused | stopped
    started_at: datetime | None = None
    due_at: datetime | None = None
    target_seconds: int | None = None
    breached: bool = False
    met: bool | None = None
    warned_percent: int | None = None  # the highest warning point reached (SlaAtRisk)
    policy_version: str | None = None
    calendar: str | None = None
    # The calendar its due instant was computed in (board_calendars); None when its events carry
    # none (written before they did): no business-time countdown then.
    calendar_id: str | None = None


class SlaFacts(_Part):
    cycle: int = 0
    clocks: dict[str, ClockFacts] = Field(default_factory=dict)
    auto_close_due: str | None = None


class EscalationFacts(_Part):
    level: int = 0
    route: str | None = None
    holders: list[str] = Field(default_factory=list)
    acknowledged_by: str | None = None
    swat_engaged: bool = False
    last_agent_at: datetime | None = None


class NotificationFacts(_Part):
    sent: int = 0
    failed: int = 0


class AssignmentFacts(_Part):
    """Who holds the ticket: an agent (of a team), a team's pool only, or a third party."""

    agent: str | None = None
    team: str | None = None
    third_party: str | None = None
    held_since: datetime | None = None  # when the current agent or third party took it
    released_at: datetime | None = None  # when the last holder let go: unheld since then
    last_agent: str | None = None  # the latest agent who held it: a closed ticket shows them

    def held(self) -> bool:
        return self.agent is not None or self.third_party is not None


class TicketView(BaseModel):
    """The per-topic parts of one ticket; `row()` is what the board table stores."""

    lifecycle: LifecycleFacts = Field(default_factory=LifecycleFacts)
    triage: TriageFacts = Field(default_factory=TriageFacts)
    sla: SlaFacts = Field(default_factory=SlaFacts)
    escalation: EscalationFacts = Field(default_factory=EscalationFacts)
    notifications: NotificationFacts = Field(default_factory=NotificationFacts)
    assignment: AssignmentFacts = Field(default_factory=AssignmentFacts)
    updated_at: datetime | None = None  # the latest event's instant: a max, so order-free

    def apply(self, event: Event, occurred_at: datetime) -> int:
        """Fold one event into its topic's part; returns its sequence number within that topic."""
        part = self._part(event)
        part.seen += 1
        match event:
            case _ if event.topic is Topic.LIFECYCLE:
                _lifecycle(self.lifecycle, event, occurred_at)
            case _ if event.topic is Topic.TRIAGE:
                _triage(self.triage, event, occurred_at)
            case _ if event.topic is Topic.SLA:
                _sla(self.sla, event)
            case _ if event.topic is Topic.ESCALATION:
                _escalation(self.escalation, event, occurred_at)
            case _ if event.topic is Topic.ASSIGNMENT:
                _assignment(self.assignment, event, occurred_at)
            case NotificationSent():
                self.notifications.sent += 1
            case NotificationFailed():
                self.notifications.failed += 1
        self.updated_at = occurred_at if self.updated_at is None else max(self.updated_at, occurred_at)
        return part.seen

    def _part(self, event: Event) -> _Part:
        parts: dict[Topic, _Part] = {
            Topic.LIFECYCLE: self.lifecycle,
            Topic.TRIAGE: self.triage,
            Topic.SLA: self.sla,
            Topic.ESCALATION: self.escalation,
            Topic.NOTIFICATIONS: self.notifications,
            Topic.ASSIGNMENT: self.assignment,
        }
        return parts[event.topic]

    def stored(self) -> dict[str, Any]:
        """What board_tickets.state keeps: the parts without their empty fields (0.6 of the size),
        so each write of the row parses, stores and logs less. Lossless: every field that may be
        None has None as its default, which loading fills in again (a unit test checks both)."""
        return self.model_dump(mode="json", exclude_none=True)

    def stored_json(self) -> bytes:
        """`stored()` as JSON."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    def current_clocks(self) -> dict[str, ClockFacts]:
        """The clocks of the ticket's current cycle; a reopened ticket's old clocks are history."""
        cycle = max(self.lifecycle.cycle, self.sla.cycle)
        return dict(self.sla.clocks) if self.sla.cycle == cycle else {}

    def attained_under(self) -> tuple[str, str]:
        """(plan, priority) as `row()` has them ('' for none): what SLA attainment is counted under."""
        return (self.lifecycle.plan or self.triage.plan or "", self.triage.priority or "")

    def row(self) -> dict[str, Any]:
        """The board row: everything a list, filter, sort or summary needs, derived from the parts."""
        lc, tr, esc = self.lifecycle, self.triage, self.escalation
        is_open = lc.status != "closed"
        clocks = self.current_clocks()
        running_dues = [c.due_at for c in clocks.values() if c.state == "running" and c.due_at is not None]
        breached = any(c.breached for c in clocks.values())
        at_risk = any(c.warned_percent is not None and c.state == "running" and not c.breached for c in clocks.values())
        priority = tr.priority
        agent_times = [t for t in (lc.last_agent_at, tr.last_agent_at, esc.last_agent_at) if t is not None]
        held = self.assignment
        opened_at = lc.opened_at or tr.opened_at
        return {
            "number": lc.number,
            "status": lc.status,
            "is_open": is_open,
            "cycle": max(lc.cycle, self.sla.cycle, 1),
            "channel": lc.channel or tr.channel,
            "customer_id": lc.customer_id,
            "plan": lc.plan or tr.plan,
            "policy": lc.policy or tr.policy,
            "requester_email": lc.requester_email,
            "requester_phone": lc.requester_phone,
            "subject": lc.subject,
            "description_excerpt": lc.description_excerpt,
            "priority": priority,
            "priority_rank": PRIORITY_RANK.get(priority or "", 9),
            # The ticket's own severity once changed on it; before that, triage's decision.
            "severity": lc.severity if lc.severity_changed else (tr.severity or lc.severity),
            "request_type": tr.request_type or lc.request_type,
            "queue": tr.queue,
            "swat": tr.swat or esc.swat_engaged,
            "sla_exempt": tr.sla_exempt,
            "clocks": {kind: c.model_dump(mode="json") for kind, c in sorted(clocks.items())},
            "next_due_at": min(running_dues) if running_dues and is_open else None,
            "breached": breached,
            "at_risk": at_risk and is_open,
            "escalation_level": esc.level,
            "escalation_route": esc.route,
            "escalation_holder": ", ".join(esc.holders) if esc.holders else None,
            "escalation_acknowledged_by": esc.acknowledged_by,
            "last_customer_activity_at": lc.last_customer_at,
            "last_agent_activity_at": max(agent_times) if agent_times else None,
            "customer_replies": lc.customer_replies,
            "agent_responses": lc.agent_responses,
            "notifications_sent": self.notifications.sent,
            "notifications_failed": self.notifications.failed,
            "opened_at": opened_at,
            "updated_at": self.updated_at,
            # A closed ticket keeps its last holder for its history; only open ones are anyone's work.
            "assignee": held.agent if is_open else (held.agent or held.last_agent),
            "team": held.team,
            "third_party": held.third_party,
            "assigned_at": held.held_since if held.held() else None,
            # Open and held by nobody (a team's pool is nobody): since the last holder let go, or it opened.
            "unassigned_since": (held.released_at or opened_at) if is_open and not held.held() else None,
            "closed_at": lc.closed_at if not is_open else None,
            "closure_code": lc.closure_code if not is_open else None,
        }


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else max(a, b)


def _lifecycle(lc: LifecycleFacts, event: Event, at: datetime) -> None:
    match event:
        case TicketOpened():
            lc.number, lc.channel, lc.subject = event.number, event.channel.value, event.subject
            lc.requester_email, lc.requester_phone = event.requester_email, event.requester_phone
            lc.customer_id, lc.plan, lc.policy = event.customer_id, event.plan, event.policy
            lc.description_excerpt = event.description[:DESCRIPTION_EXCERPT]
            lc.severity = event.severity
            lc.request_type = event.request_type.value if event.request_type else None
            lc.opened_at = event.opened_at
            lc.last_customer_at = _later(lc.last_customer_at, at)
        case AgentResponded():
            lc.agent_responses += 1
            lc.last_agent_at = _later(lc.last_agent_at, at)
            if event.confirms_receipt and lc.status == "new":
                lc.status = "acknowledged"
        case InfoRequested():
            lc.resume_to, lc.status = lc.status, "awaiting_customer"
            lc.last_agent_at = _later(lc.last_agent_at, at)
        case CustomerReplied():
            lc.customer_replies += 1
            lc.last_customer_at = _later(lc.last_customer_at, at)
            if lc.status == "awaiting_customer":
                lc.status = lc.resume_to
        case IssueReplicated():
            lc.status = "analysis"
            lc.last_agent_at = _later(lc.last_agent_at, at)
        case WorkaroundDelivered():
            lc.status = "monitor"
            lc.last_agent_at = _later(lc.last_agent_at, at)
        case ResolutionConfirmed():
            lc.last_customer_at = _later(lc.last_customer_at, at)
        case SeverityChanged():
            lc.severity, lc.severity_changed = event.severity, True
            lc.last_agent_at = _later(lc.last_agent_at, at)
        case TicketClosed():
            lc.status, lc.closed_at, lc.closure_code = "closed", at, event.closure_code.value
            if event.by not in _NOT_AGENTS:
                lc.last_agent_at = _later(lc.last_agent_at, at)
        case TicketReopened():
            lc.status, lc.cycle, lc.closed_at, lc.closure_code = "new", lc.cycle + 1, None, None
        case EscalationRequested():
            lc.escalation_requested_by = event.by
        case RequesterErased():
            # As a TicketOpened replayed after the erasure reads (personal.mask_event): the same
            # board whether it folded the ticket before or after.
            lc.requester_email, lc.requester_phone = None, None
            lc.subject, lc.description_excerpt = ERASED_TEXT, ERASED_TEXT


def _triage(tr: TriageFacts, event: Event, at: datetime) -> None:
    match event:
        case TicketTriaged():
            tr.priority, tr.severity = event.priority.value, event.severity
            tr.request_type, tr.queue = event.request_type.value, event.queue
            tr.swat, tr.sla_exempt, tr.rule = event.swat, event.sla_exempt, event.rule
            tr.plan, tr.policy, tr.channel = event.plan, event.policy, event.channel.value
            tr.opened_at = event.opened_at
        case PriorityChanged():
            tr.priority = event.priority.value
            if event.by != "triage-rules":
                tr.last_agent_at = _later(tr.last_agent_at, at)
        case TriageOverridden():
            if event.field == "queue":
                tr.queue = event.value
            elif event.field == "request_type":
                tr.request_type = event.value
            tr.last_agent_at = _later(tr.last_agent_at, at)


def _sla(sla: SlaFacts, event: Event) -> None:
    cycle = getattr(event, "cycle", None)
    kind = getattr(event, "clock", None)
    if cycle is None or kind is None:
        return
    if cycle > sla.cycle:  # a new cycle (reopen): the old cycle's clocks are done
        sla.cycle, sla.clocks, sla.auto_close_due = cycle, {}, None
    elif cycle < sla.cycle:
        return
    clock = sla.clocks.setdefault(kind.value, ClockFacts())
    match event:
        case SlaClockStarted():
            clock.state, clock.started_at, clock.due_at = "running", event.started_at, event.due_at
            clock.target_seconds, clock.policy_version = event.target_seconds, event.policy_version
            clock.calendar = event.calendar
            clock.calendar_id = calendar_id(event.calendar_definition) if event.calendar_definition else None
        case SlaClockPaused():
            clock.state = "paused"
        case SlaClockResumed():
            clock.state, clock.due_at = "running", event.due_at
        case SlaClockStopped():
            clock.state = "stopped"
        case SlaClockRetargeted():
            clock.due_at, clock.target_seconds = event.due_at, event.target_seconds
            clock.policy_version = event.to_version
            # Without a definition the new version's calendar is unknown: no countdown, not the old one's.
            carried = event.calendar_definition
            clock.calendar_id = calendar_id(carried) if carried else None
            clock.calendar = carried.name if carried else clock.calendar
        case SlaClockSuspended():
            clock.state = "paused"  # held by a deactivated policy; SlaClockResumed runs it again
        case SlaAtRisk():
            clock.warned_percent = max(clock.warned_percent or 0, event.threshold_percent)
        case SlaBreached():
            clock.breached, clock.met = True, False
        case SlaMet():
            clock.met = not clock.breached
        case AutoCloseDue():
            sla.auto_close_due = event.closure_code.value


def _escalation(esc: EscalationFacts, event: Event, at: datetime) -> None:
    match event:
        case TicketEscalated():
            esc.level, esc.route, esc.holders = event.level, event.route, list(event.recipients)
            esc.acknowledged_by = None
        case EscalationAcknowledged():
            esc.acknowledged_by = event.by
            esc.last_agent_at = _later(esc.last_agent_at, at)
        case SwatEngaged():
            esc.swat_engaged = True
            esc.holders = sorted({*esc.holders, *event.members})
        case EscalationResolved():
            esc.level, esc.route, esc.holders, esc.acknowledged_by = 0, None, [], None


def _assignment(held: AssignmentFacts, event: Event, at: datetime) -> None:
    was_held = held.held()
    match event:
        case TicketAssigned():
            if event.agent is None and event.third_party is None:  # to a team's pool only
                if was_held:
                    held.released_at = at
                held.held_since = None
            elif (event.agent, event.third_party) != (held.agent, held.third_party) or held.held_since is None:
                held.held_since, held.released_at = at, None
            held.agent, held.team, held.third_party = event.agent, event.team, event.third_party
            held.last_agent = event.agent or held.last_agent
        case TicketUnassigned():
            if was_held:
                held.released_at = at
            held.last_agent = held.agent or event.agent or held.last_agent
            held.agent, held.third_party, held.held_since, held.team = None, None, None, event.team
