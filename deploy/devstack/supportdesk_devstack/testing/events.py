"""Events as the services publish them, for tests to feed in.

Each builder starts from its event type's golden sample (the envelope frozen per type and schema
version, libs/contract/tests/golden), keeps the sample's required fields, sets what decides how a
ticket is handled to the ordinary case (no severity, not exempt, no SWAT, no requester), and takes
keyword overrides for what a test is about. A payload's instants come from a given clock, or are
the sample's; an envelope is stamped by a given clock, or the system clock as a producer would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from supportdesk_contract.catalogue import (
    PEOPLE_KEY,
    REGISTRY,
    AgentAvailabilityChanged,
    AgentProfileChanged,
    AssignmentReason,
    Availability,
    ClockKind,
    Event,
    Priority,
    SlaClockStarted,
    TeamProfileChanged,
    TicketAssigned,
    TicketOpened,
    TicketReopened,
    TicketTriaged,
    TicketUnassigned,
)
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_contract.envelope import Envelope, encode, new_envelope

from ..config import REPO_ROOT

E = TypeVar("E", bound=Event)

GOLDEN = REPO_ROOT / "libs" / "contract" / "tests" / "golden"

# The shipped data-insights policy's gold plan: the one the SLA and board tests measure against.
GOLD: Mapping[str, object] = {"plan": "gold", "policy": "data-insights"}


@cache
def golden(event_type: str) -> dict[str, Any]:
    """The golden sample of `event_type`'s current schema version: a whole envelope, as JSON."""
    path = GOLDEN / f"{event_type}.v{REGISTRY[event_type].schema_version}.json"
    sample: dict[str, Any] = json.loads(path.read_text())
    return sample


TICKET: str = golden("TicketOpened")["ticket_id"]
AT: datetime = datetime.fromisoformat(golden("TicketOpened")["occurred_at"])


def build(kind: type[E], plain: Mapping[str, object], overrides: Mapping[str, object]) -> E:
    """`kind` from its golden sample's required fields, then `plain`, then `overrides`. A name the
    event does not have fails here: events ignore unknown fields, so a misspelt one would not."""
    unknown = set(overrides) - set(kind.model_fields)
    if unknown:
        raise TypeError(f"{kind.__name__} has no field {', '.join(sorted(unknown))}")
    sample = golden(kind.__name__)["payload"]
    required = {name: sample[name] for name, f in kind.model_fields.items() if f.is_required()}
    return kind.model_validate({**required, **plain, **overrides})


def _now(clock: Clock | None) -> datetime:
    return clock.now() if clock is not None else AT


def opened(*, clock: Clock | None = None, **overrides: object) -> TicketOpened:
    """A ticket as intake opens it: the sample's number, channel, subject and description; no
    requester, customer, severity or hints; opened at `clock`'s now."""
    return build(TicketOpened, {"opened_at": _now(clock)}, overrides)


def triaged(*, clock: Clock | None = None, **overrides: object) -> TicketTriaged:
    """Triage's verdict on an ordinary ticket: normal priority, no severity, the technical queue,
    not exempt, no SWAT; the ticket opened at `clock`'s now."""
    plain = {
        "priority": Priority.NORMAL,
        "severity": None,
        "queue": "technical",
        "sla_exempt": False,
        "swat": False,
        "opened_at": _now(clock),
    }
    return build(TicketTriaged, plain, overrides)


def started(
    *, kind: ClockKind = ClockKind.FIRST_RESPONSE, clock: Clock | None = None, **overrides: object
) -> SlaClockStarted:
    """`kind`'s clock started at `clock`'s now (first cycle, under the data-insights policy) with a
    one-hour target, due when the target runs out unless `due_at` says otherwise."""
    at = overrides.get("started_at", _now(clock))
    target = overrides.get("target_seconds", 3600)
    due = at + timedelta(seconds=target) if isinstance(at, datetime) and isinstance(target, int) else None
    plain = {
        "clock": kind,
        "cycle": 1,
        "started_at": at,
        "due_at": due,
        "target_seconds": target,
        "opened_in_hours": None,
        "policy_version": "data-insights@1",
    }
    return build(SlaClockStarted, plain, overrides)


def reopened(**overrides: object) -> TicketReopened:
    """The requester reopened the ticket (the sample's reason unless `reason` says otherwise)."""
    return build(TicketReopened, {"by": "agent"}, overrides)


def agent_profile(agent_id: str, **overrides: object) -> AgentProfileChanged:
    """An active agent `agent_id` as the assignment service describes them: named after the id
    ("pat" is "Pat"), `<id>@desk.example`, no teams, capacity 8, in UTC, changed by "admin"."""
    plain = {
        "agent_id": agent_id,
        "name": agent_id.capitalize(),
        "email": f"{agent_id}@desk.example",
        "subject": None,
        "teams": (),
        "skills": (),
        "languages": (),
        "capacity": 8,
        "time_zone": "UTC",
        "by": "admin",
    }
    return build(AgentProfileChanged, plain, overrides)


def availability(agent_id: str, now: Availability, previous: Availability | None = None) -> AgentAvailabilityChanged:
    """The agent went `now` (online, away, off), by their own hand."""
    return build(
        AgentAvailabilityChanged, {"agent_id": agent_id, "availability": now, "previous": previous, "by": agent_id}, {}
    )


def team_profile(team_id: str, **overrides: object) -> TeamProfileChanged:
    """A team `team_id` named after its id, with no members, lead or queues, assigned by hand."""
    plain = {"team_id": team_id, "name": team_id.capitalize(), "members": (), "queues": (), "by": "admin"}
    return build(TeamProfileChanged, plain, overrides)


def assigned(agent: str | None, team: str | None = None, **overrides: object) -> TicketAssigned:
    """The ticket given to `agent` (of `team`; agent None: the team's pool) by the team's rule."""
    plain = {
        "agent": agent,
        "team": team,
        "third_party": None,
        "previous_agent": None,
        "previous_team": None,
        "by": "assignment",
        "reason": AssignmentReason.RULE,
        "explanation": "",
    }
    return build(TicketAssigned, plain, overrides)


def unassigned(agent: str | None, team: str | None = None, **overrides: object) -> TicketUnassigned:
    """`agent` no longer holds the ticket; `team`'s pool does (None: nobody), by hand."""
    plain = {"agent": agent, "team": team, "by": "assignment", "reason": AssignmentReason.MANUAL, "explanation": ""}
    return build(TicketUnassigned, plain, overrides)


def envelope(payload: E, ticket_id: str = TICKET, *, clock: Clock | None = None, producer: str = "test") -> Envelope[E]:
    """`payload` as its producer publishes it, stamped at `clock`'s now (the system clock's without
    one, as a real producer stamps it)."""
    return new_envelope(payload, ticket_id=ticket_id, producer=producer, clock=clock or SystemClock())


def people_envelope(payload: E, *, clock: Clock | None = None, producer: str = "assignment") -> Envelope[E]:
    """A people event as the assignment service publishes it: keyed by PEOPLE_KEY, not a ticket."""
    return envelope(payload, PEOPLE_KEY, clock=clock, producer=producer)


def as_messages(
    payloads: list[tuple[str, Event]], clock: Clock, producer: str = "test"
) -> list[tuple[bytes | None, bytes | None]]:
    """(ticket id, event payload) pairs as raw Kafka (key, value) messages for `produce`."""
    return [encode(envelope(p, t, clock=clock, producer=producer))[:2] for t, p in payloads]
