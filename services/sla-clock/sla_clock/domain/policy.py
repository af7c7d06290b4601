"""SLA policies: which calendar, which targets for which ticket, which timers close tickets.

Plain data built by the policy loader (adapters/policy_files.py) from the YAML files in
`sla_clock/policies/`; nothing here knows about YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from supportdesk_calendar.calendar import BusinessCalendar
from supportdesk_contract.vocabulary import Priority, RequestType

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Target:
    seconds: int  # business seconds
    written: str  # as the policy says it: "1.5h", "20d"


def parse_duration(text: str, business_day_seconds: int) -> Target:
    """'30m', '1.5h', '20d' (business days: N x the calendar's business-day length)."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '30m', '1.5h' or '2d'")
    amount, unit = float(m.group(1)), m.group(2)
    per = business_day_seconds if unit == "d" else _UNIT_SECONDS[unit]
    seconds = amount * per
    if seconds != int(seconds):
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return Target(int(seconds), text.strip())


class TargetBasis(StrEnum):
    PLAN_AND_PRIORITY = "plan_and_priority"
    PRIORITY = "priority"
    SEVERITY = "severity"
    FIXED = "fixed"


class MissingInput(ValueError):
    """The ticket lacks what the policy needs to choose a target; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class TargetTable:
    basis: TargetBasis
    by_plan_and_priority: dict[str, dict[Priority, Target]] = field(default_factory=dict)
    by_priority: dict[Priority, Target] = field(default_factory=dict)
    by_severity: dict[int, Target] = field(default_factory=dict)
    fixed: Target | None = None

    def lookup(self, plan: str | None, priority: Priority | None, severity: int | None) -> Target | None:
        match self.basis:
            case TargetBasis.FIXED:
                return self.fixed
            case TargetBasis.SEVERITY:
                if severity is None:
                    raise MissingInput("severity", "this policy sets targets by severity (1-4)")
                return self.by_severity.get(severity)
            case TargetBasis.PRIORITY:
                if priority is None:
                    raise MissingInput("priority", "this policy sets targets by priority")
                return self.by_priority.get(priority)
            case TargetBasis.PLAN_AND_PRIORITY:
                if plan is None or plan not in self.by_plan_and_priority:
                    raise MissingInput(
                        "plan", f"this policy sets targets by plan: one of {', '.join(self.by_plan_and_priority)}"
                    )
                if priority is None:
                    raise MissingInput("priority", "this policy sets targets by plan and priority")
                return self.by_plan_and_priority[plan].get(priority)
        raise AssertionError(self.basis)


class ResolutionStart(StrEnum):
    REPLICATED = "replicated"  # docs/policies.md#seed-000: the Analysis phase starts the resolution clock
    OPENED = "opened"


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    calendar: BusinessCalendar
    plans: tuple[str, ...]
    first_response: TargetTable | None
    resolution: TargetTable | None
    resolution_starts: ResolutionStart = ResolutionStart.REPLICATED
    exempt_request_types: frozenset[RequestType] = frozenset({RequestType.FEATURE_REQUEST})
    monitor_auto_close: Target | None = None  # no confirmation within this: closed
    awaiting_customer_auto_close: Target | None = None  # awaiting the customer longer: closed
    warning_percents: tuple[int, ...] = (75, 90)
    effective_from: datetime | None = None  # None: the file's first version, in force since always

    @property
    def label(self) -> str:
        """How clocks, events and reports name the version: `name@version`."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class PolicyVersions:
    """Every version of one policy, oldest first; each in force from its `effective_from` until the
    next one's. The first has no date: it is in force for anything before the second."""

    name: str
    versions: tuple[Policy, ...]

    def __post_init__(self) -> None:
        if not self.versions or self.versions[0].effective_from is not None:
            raise ValueError("the first version of a policy has no effective_from")

    def at(self, instant: datetime) -> Policy:
        """The version in force at `instant` (on or after its date: the new one)."""
        chosen = self.versions[0]
        for v in self.versions[1:]:
            assert v.effective_from is not None
            if v.effective_from > instant:
                break
            chosen = v
        return chosen

    def named(self, version: str) -> Policy | None:
        return next((v for v in self.versions if v.version == version), None)

    @property
    def latest(self) -> Policy:
        return self.versions[-1]
