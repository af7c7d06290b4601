"""Who gets what priority, which queue, whether SWAT: rules as data, evaluated in order.

Each list is ordered; the first rule whose conditions all hold decides (for priority, also
whether the request is outside the SLA). Every decision records the rule that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from supportdesk_contract.catalogue import Channel, Priority, RequestType

SEVERITY_PRIORITY = {1: Priority.URGENT, 2: Priority.HIGH, 3: Priority.NORMAL, 4: Priority.LOW}
FROM_SUGGESTION = "from_suggestion"
FROM_SEVERITY = "from_severity"


@dataclass(frozen=True)
class TicketFacts:
    """What triage decides from: the ticket as opened, and its customer as intake found it."""

    channel: Channel
    request_type: RequestType | None
    severity: int | None
    suggested_priority: Priority | None
    emergency_contact: bool
    customer_id: str | None
    plan: str | None
    policy: str | None


@dataclass(frozen=True)
class Conditions:
    """All given conditions must hold; an empty condition set always holds."""

    channel: frozenset[Channel] | None = None
    request_type: frozenset[RequestType] | None = None
    severity: frozenset[int] | None = None
    suggested_priority: frozenset[Priority] | None = None
    has_suggestion: bool | None = None
    has_severity: bool | None = None
    emergency_contact: bool | None = None
    known_customer: bool | None = None
    plan: frozenset[str] | None = None
    policy: frozenset[str] | None = None

    def hold(self, t: TicketFacts, request_type: RequestType) -> bool:
        checks = [
            self.channel is None or t.channel in self.channel,
            self.request_type is None or request_type in self.request_type,
            self.severity is None or t.severity in self.severity,
            self.suggested_priority is None or t.suggested_priority in self.suggested_priority,
            self.has_suggestion is None or (t.suggested_priority is not None) == self.has_suggestion,
            self.has_severity is None or (t.severity is not None) == self.has_severity,
            self.emergency_contact is None or t.emergency_contact == self.emergency_contact,
            self.known_customer is None or (t.customer_id is not None) == self.known_customer,
            self.plan is None or t.plan in self.plan,
            self.policy is None or t.policy in self.policy,
        ]
        return all(checks)


@dataclass(frozen=True)
class PriorityRule:
    name: str
    when: Conditions
    priority: Priority | str  # a Priority, or FROM_SUGGESTION / FROM_SEVERITY
    sla_exempt: bool = False


@dataclass(frozen=True)
class QueueRule:
    name: str
    when: Conditions
    queue: str


@dataclass(frozen=True)
class RuleSet:
    version: str
    default_request_type: RequestType
    priority: tuple[PriorityRule, ...]
    queue: tuple[QueueRule, ...]
    swat: Conditions
    queues: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class TriageDecision:
    priority: Priority
    severity: int | None
    request_type: RequestType
    queue: str
    sla_exempt: bool
    swat: bool
    rule: str  # the priority rule
    queue_rule: str


class NoRuleMatched(ValueError):
    pass


def triage(t: TicketFacts, rules: RuleSet) -> TriageDecision:
    request_type = t.request_type or rules.default_request_type
    for p in rules.priority:
        if not p.when.hold(t, request_type):
            continue
        if p.priority == FROM_SUGGESTION:
            if t.suggested_priority is None:
                continue
            priority = t.suggested_priority
        elif p.priority == FROM_SEVERITY:
            if t.severity is None:
                continue
            priority = SEVERITY_PRIORITY[t.severity]
        else:
            priority = Priority(p.priority)
        break
    else:
        raise NoRuleMatched("no priority rule matched: end the list with a rule without conditions")
    queue_rule = next((q for q in rules.queue if q.when.hold(t, request_type)), None)
    if queue_rule is None:
        raise NoRuleMatched("no queue rule matched: end the list with a rule without conditions")
    swat = rules.swat != Conditions() and rules.swat.hold(t, request_type)
    return TriageDecision(
        priority, t.severity, request_type, queue_rule.queue, p.sla_exempt, swat, p.name, queue_rule.name
    )
