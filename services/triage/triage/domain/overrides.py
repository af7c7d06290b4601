"""An agent overrides triage: what changes, and the events that say who changed it and why.

Pure rules. Priority changes are `PriorityChanged` (sla-clock and escalation follow priority);
request type and queue changes are `TriageOverridden`. An override that changes nothing decides
nothing. Once an agent has set the priority, the rules no longer change it (see the handlers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from supportdesk_contract.catalogue import Event, Priority, PriorityChanged, RequestType, TriagedField, TriageOverridden


@dataclass(frozen=True)
class CurrentTriage:
    priority: Priority
    request_type: RequestType
    queue: str


@dataclass(frozen=True)
class Override:
    reason: str
    priority: Priority | None = None
    request_type: RequestType | None = None
    queue: str | None = None


@dataclass(frozen=True)
class Overridden:
    """What to write (column -> value) and what to tell the world."""

    changes: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def override(current: CurrentTriage, wanted: Override, agent: str) -> Overridden:
    result = Overridden()
    if wanted.priority is not None and wanted.priority != current.priority:
        result.events.append(
            PriorityChanged(priority=wanted.priority, previous=current.priority, by=agent, reason=wanted.reason)
        )
        result.changes.update(priority=wanted.priority.value, priority_set_by=agent, rule=f"override by {agent}")
    for name, new, old in (
        (TriagedField.REQUEST_TYPE, wanted.request_type and wanted.request_type.value, current.request_type.value),
        (TriagedField.QUEUE, wanted.queue, current.queue),
    ):
        if new is not None and new != old:
            result.events.append(TriageOverridden(field=name, value=new, previous=old, by=agent, reason=wanted.reason))
            result.changes[name.value] = new
    return result
