"""A ticket's SLA clocks, derived from what has happened to it.

`TicketFacts.apply` records each lifecycle or triage fact in one place; `derive_clocks` turns the
facts and the policy into clocks. Because clocks are a pure function of the facts, the projection
converges whatever order the lifecycle and triage topics arrive in, and a replay derives the
same clocks again.

- first response: from the cycle's start (open or reopen) to the first public agent response.
- resolution: from replication (or the cycle's start, if the policy says so) to a delivered
  workaround or fix.
- Both pause while the ticket awaits the customer, and stop when the ticket closes.
- monitor auto-close: from delivery, due after the policy's confirmation window.
- awaiting-customer auto-close: from an information request, due after the policy's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from supportdesk_calendar.calendar import merge_spans
from supportdesk_contract.catalogue import (
    AgentResponded,
    ClockKind,
    ClosureCode,
    CustomerReplied,
    Event,
    InfoRequested,
    IssueReplicated,
    Priority,
    PriorityChanged,
    RequestType,
    ResolutionConfirmed,
    SeverityChanged,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
    WorkaroundDelivered,
)

from .policy import MissingInput, Policy, PolicyVersions, ResolutionStart, Target


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass
class TicketFacts:
    """What sla-clock knows of one ticket. Instants are aware UTC."""

    opened_at: datetime | None = None
    cycle: int = 1
    cycle_started_at: datetime | None = None
    first_responded_at: datetime | None = None
    replicated_at: datetime | None = None
    delivered_at: datetime | None = None
    closed_at: datetime | None = None
    awaiting_since: datetime | None = None
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)
    # from triage
    triaged: bool = False
    priority: Priority | None = None
    severity: int | None = None
    request_type: RequestType | None = None
    plan: str | None = None
    policy: str | None = None
    sla_exempt: bool = False
    # An agent changed severity (lifecycle): triage's decision (another topic, any order) no longer sets it.
    severity_changed: bool = False
    # The version of the policy this cycle runs under (`name@version`), pinned at triage, and the
    # version each SLA clock runs under, pinned when it starts or moved by an operator's retarget.
    policy_version: str | None = None
    clock_versions: dict[str, str] = field(default_factory=dict)
    # While the policy is deactivated: since when (clocks hold, nothing warns or breaches), and the
    # spans of earlier deactivations, which count like pauses once the policy is active again.
    suspended_since: datetime | None = None
    suspensions: list[tuple[datetime, datetime]] = field(default_factory=list)

    def apply(self, event: Event, at: datetime) -> None:
        """Record one fact; `at` is when it happened (the event's occurred_at)."""
        match event:
            case TicketOpened():
                self.opened_at = event.opened_at
                if self.cycle == 1 and self.cycle_started_at is None:
                    self.cycle_started_at = event.opened_at
                self.severity = self.severity if self.triaged else event.severity
            case TicketTriaged():
                self.triaged = True
                self.opened_at = self.opened_at or event.opened_at
                if self.cycle == 1 and self.cycle_started_at is None:
                    self.cycle_started_at = event.opened_at
                self.priority = event.priority
                if not self.severity_changed:
                    self.severity = event.severity
                self.request_type, self.sla_exempt = event.request_type, event.sla_exempt
                self.plan, self.policy = event.plan, event.policy
            case PriorityChanged():
                self.priority = event.priority
            case SeverityChanged():
                self.severity, self.severity_changed = event.severity, True
            case AgentResponded() if event.public:
                self.first_responded_at = self.first_responded_at or at
            case InfoRequested():
                self.awaiting_since = self.awaiting_since or at
            case CustomerReplied():
                if self.awaiting_since is not None:
                    self.pauses.append((self.awaiting_since, max(at, self.awaiting_since)))
                    self.awaiting_since = None
            case IssueReplicated():
                self.replicated_at = self.replicated_at or at
            case WorkaroundDelivered():
                self.delivered_at = self.delivered_at or at
            case ResolutionConfirmed() | TicketClosed():
                self.closed_at = self.closed_at or at
            case TicketReopened():
                self.cycle += 1
                self.cycle_started_at = at
                self.first_responded_at = self.replicated_at = self.delivered_at = self.closed_at = None
                self.awaiting_since = None
                self.pauses = []
                self.suspensions = []
                self.policy_version = None  # a new cycle runs under the version in force when it starts
                self.clock_versions = {}
                if self.suspended_since is not None:
                    self.suspended_since = at

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "opened_at": iso(self.opened_at),
            "cycle": self.cycle,
            "cycle_started_at": iso(self.cycle_started_at),
            "first_responded_at": iso(self.first_responded_at),
            "replicated_at": iso(self.replicated_at),
            "delivered_at": iso(self.delivered_at),
            "closed_at": iso(self.closed_at),
            "awaiting_since": iso(self.awaiting_since),
            "pauses": [[iso(a), iso(b)] for a, b in self.pauses],
            "triaged": self.triaged,
            "priority": self.priority,
            "severity": self.severity,
            "request_type": self.request_type,
            "plan": self.plan,
            "policy": self.policy,
            "sla_exempt": self.sla_exempt,
            "severity_changed": self.severity_changed,
            "policy_version": self.policy_version,
            "clock_versions": self.clock_versions,
            "suspended_since": iso(self.suspended_since),
            "suspensions": [[iso(a), iso(b)] for a, b in self.suspensions],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TicketFacts:
        def instant(v: str) -> datetime:
            return datetime.fromisoformat(v).astimezone(UTC)

        def t(v: str | None) -> datetime | None:
            return instant(v) if v else None

        return cls(
            opened_at=t(d["opened_at"]),
            cycle=d["cycle"],
            cycle_started_at=t(d["cycle_started_at"]),
            first_responded_at=t(d["first_responded_at"]),
            replicated_at=t(d["replicated_at"]),
            delivered_at=t(d["delivered_at"]),
            closed_at=t(d["closed_at"]),
            awaiting_since=t(d["awaiting_since"]),
            pauses=[(instant(a), instant(b)) for a, b in d["pauses"]],
            triaged=d["triaged"],
            priority=Priority(d["priority"]) if d["priority"] else None,
            severity=d["severity"],
            request_type=RequestType(d["request_type"]) if d["request_type"] else None,
            plan=d["plan"],
            policy=d["policy"],
            sla_exempt=d["sla_exempt"],
            severity_changed=d.get("severity_changed", False),  # absent in facts stored before it
            # Absent from facts recorded before policy versions: pinned on the next fact.
            policy_version=d.get("policy_version"),
            clock_versions=dict(d.get("clock_versions", {})),
            suspended_since=t(d.get("suspended_since")),
            suspensions=[(instant(a), instant(b)) for a, b in d.get("suspensions", [])],
        )


@dataclass(frozen=True)
class Clock:
    kind: ClockKind
    cycle: int
    state: ClockState
    started_at: datetime
    target: Target | None  # None: no SLA target applies (exempt, or the policy sets none)
    due_at: datetime | None  # None while paused or without a target
    stopped_at: datetime | None = None
    elapsed_business_seconds: float | None = None  # when stopped
    warnings: tuple[tuple[int, datetime], ...] = ()  # (percent, instant), while running
    closure_code: ClosureCode | None = None  # auto-close clocks: the code to close with

    @property
    def met(self) -> bool | None:
        if self.state is not ClockState.STOPPED or self.due_at is None or self.stopped_at is None:
            return None
        return self.stopped_at <= self.due_at


def _target(policy: Policy, facts: TicketFacts, table: Any, plan: str) -> Target | None:
    if table is None or facts.sla_exempt or facts.request_type in policy.exempt_request_types:
        return None
    try:
        target: Target | None = table.lookup(plan, facts.priority, facts.severity)
    except MissingInput:
        return None
    return target


def derive_clocks(facts: TicketFacts, policy: Policy, plan: str, *, sla_only: bool = False) -> list[Clock]:
    """The clocks of the current cycle. Nothing before triage: targets depend on it. `sla_only`:
    first response and resolution without their warnings, what an SLA report needs (what-if)."""
    if not facts.triaged or facts.cycle_started_at is None:
        return []
    cal = policy.calendar
    closed_pauses = merge_spans([*facts.pauses, *facts.suspensions])
    held = [t for t in (facts.awaiting_since, facts.suspended_since) if t is not None]
    paused_now = min(held) if held else None

    def sla_clock(kind: ClockKind, start: datetime, stop: datetime | None, target: Target | None) -> Clock:
        pauses = [(a, b) for a, b in closed_pauses if b > start]
        end = stop or facts.closed_at
        if end is not None:
            spans = pauses + ([(paused_now, end)] if paused_now and paused_now < end else [])
            due = cal.add(start, target.seconds, spans) if target else None
            return Clock(
                kind, facts.cycle, ClockState.STOPPED, start, target, due, end, cal.business_seconds(start, end, spans)
            )
        if paused_now is not None and (paused_now >= start or facts.suspended_since is not None):
            return Clock(kind, facts.cycle, ClockState.PAUSED, start, target, None)
        due = cal.add(start, target.seconds, pauses) if target else None
        warnings = (
            tuple((p, cal.add(start, target.seconds * p / 100, pauses)) for p in policy.warning_percents)
            if target and not sla_only
            else ()
        )
        return Clock(kind, facts.cycle, ClockState.RUNNING, start, target, due, warnings=warnings)

    clocks = [
        sla_clock(
            ClockKind.FIRST_RESPONSE,
            facts.cycle_started_at,
            facts.first_responded_at,
            _target(policy, facts, policy.first_response, plan),
        )
    ]
    resolution_start = (
        facts.cycle_started_at if policy.resolution_starts is ResolutionStart.OPENED else facts.replicated_at
    )
    if resolution_start is not None:
        clocks.append(
            sla_clock(
                ClockKind.RESOLUTION,
                resolution_start,
                facts.delivered_at,
                _target(policy, facts, policy.resolution, plan),
            )
        )

    def auto_close(
        kind: ClockKind, start: datetime | None, target: Target | None, stop: datetime | None, code: ClosureCode
    ) -> None:
        if start is None or target is None:
            return
        if facts.suspended_since is not None and stop is None and facts.closed_at is None:
            # A deactivated policy closes nothing: the timer holds; it starts afresh on reactivation.
            clocks.append(Clock(kind, facts.cycle, ClockState.PAUSED, start, target, None, closure_code=code))
            return
        held = [(a, b) for a, b in facts.suspensions if b > start]  # a deactivated policy's time
        if stop is not None or facts.closed_at is not None:
            end = min(t for t in (stop, facts.closed_at) if t is not None)
            clocks.append(
                Clock(
                    kind,
                    facts.cycle,
                    ClockState.STOPPED,
                    start,
                    target,
                    cal.add(start, target.seconds, held),
                    end,
                    cal.business_seconds(start, end, held),
                    closure_code=code,
                )
            )
        else:
            clocks.append(
                Clock(
                    kind,
                    facts.cycle,
                    ClockState.RUNNING,
                    start,
                    target,
                    cal.add(start, target.seconds, held),
                    closure_code=code,
                )
            )

    if sla_only:
        return clocks
    auto_close(
        ClockKind.MONITOR_AUTO_CLOSE,
        facts.delivered_at,
        policy.monitor_auto_close,
        None,
        ClosureCode.CONFIRMATION_WINDOW_EXPIRED,
    )
    auto_close(
        ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE,
        facts.awaiting_since or _last_pause_start(facts),
        policy.awaiting_customer_auto_close,
        None if facts.awaiting_since else _last_pause_end(facts),
        ClosureCode.NO_CUSTOMER_RESPONSE,
    )
    return clocks


def cycle_version(facts: TicketFacts, versions: PolicyVersions) -> Policy:
    """The version the ticket's cycle runs under: the pinned one while the file still has it, else
    the one in force when the cycle started. It decides when the resolution clock starts and runs
    the auto-close timers."""
    pinned = _named(versions, facts.policy_version)
    if pinned is not None:
        return pinned
    return versions.at(facts.cycle_started_at) if facts.cycle_started_at else versions.latest


def derive_versioned(
    facts: TicketFacts, versions: PolicyVersions, plan_of: Callable[[Policy], str]
) -> list[tuple[Clock, Policy]]:
    """The cycle's clocks, each under its version: an SLA clock under the version pinned to it (by
    its start or by a retarget), else the one in force when it started, so a clock started before a
    version's date keeps the old targets and one started on or after it gets the new."""
    base = cycle_version(facts, versions)
    out: list[tuple[Clock, Policy]] = []
    for c in derive_clocks(facts, base, plan_of(base)):
        chosen = base
        if c.kind in (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION):
            chosen = _named(versions, facts.clock_versions.get(c.kind.value)) or versions.at(c.started_at)
        if chosen is not base:
            # The cycle's version still says when resolution starts: the clock's start is a fact of the cycle.
            again = derive_clocks(facts, replace(chosen, resolution_starts=base.resolution_starts), plan_of(chosen))
            c = next((d for d in again if d.kind is c.kind), c)
        out.append((c, chosen))
    return out


def pin_versions(facts: TicketFacts, versions: PolicyVersions, derived: list[tuple[Clock, Policy]]) -> bool:
    """Record the versions the cycle and its started SLA clocks run under, so that a version added
    later, even one dated in the past, never changes them silently. Returns whether facts changed."""
    if not facts.triaged or facts.cycle_started_at is None:
        return False
    before = (facts.policy_version, dict(facts.clock_versions))
    facts.policy_version = cycle_version(facts, versions).label
    for c, version in derived:
        if c.kind in (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION):
            facts.clock_versions[c.kind.value] = version.label
    return before != (facts.policy_version, facts.clock_versions)


def _named(versions: PolicyVersions, label: str | None) -> Policy | None:
    if label is None:
        return None
    name, _, version = label.partition("@")
    return versions.named(version) if name == versions.name else None


def business_elapsed(c: Clock, facts: TicketFacts, policy: Policy, now: datetime) -> float:
    """Business time a clock has run by `now` (SLA clocks less their pauses, an open one included)."""
    end = c.stopped_at or now
    if c.kind not in (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION):
        return policy.calendar.business_seconds(c.started_at, end)
    held = [t for t in (facts.awaiting_since, facts.suspended_since) if t is not None and t < end]
    open_pause = [(min(held), end)] if held else []
    return policy.calendar.business_seconds(c.started_at, end, [*facts.pauses, *facts.suspensions, *open_pause])


def _last_pause_start(facts: TicketFacts) -> datetime | None:
    return facts.pauses[-1][0] if facts.pauses else None


def _last_pause_end(facts: TicketFacts) -> datetime | None:
    return facts.pauses[-1][1] if facts.pauses else None
