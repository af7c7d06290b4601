"""Due instants for one ticket under a policy: the answer `preview` gives and the clocks keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supportdesk_contract.vocabulary import Priority, RequestType

from .policy import Policy, Target


@dataclass(frozen=True)
class Deadlines:
    sla_exempt: bool
    first_response_target: Target | None
    first_response_due: float | None  # epoch seconds
    resolution_target: Target | None
    resolution_due: float | None


@dataclass(frozen=True)
class Targets:
    """The targets a ticket's answers run on: the same for every ticket described alike."""

    sla_exempt: bool
    first_response: Target | None
    resolution: Target | None


def targets(
    policy: Policy, *, plan: str | None, priority: Priority | None, severity: int | None, request_type: RequestType
) -> Targets:
    """MissingInput when the policy needs what the ticket does not say (never for an exempt one)."""
    if request_type in policy.exempt_request_types:
        return Targets(True, None, None)
    fr = policy.first_response.lookup(plan, priority, severity) if policy.first_response else None
    res = policy.resolution.lookup(plan, priority, severity) if policy.resolution else None
    return Targets(False, fr, res)


def due_instants(
    policy: Policy,
    chosen: Targets,
    opened_at: float,
    resolution_started_at: float | None = None,
    pauses: Sequence[tuple[float, float]] = (),
) -> tuple[float | None, float | None]:
    """First response and resolution due (epoch seconds) under `chosen`, or None without a target."""
    cal = policy.calendar
    fr, res = chosen.first_response, chosen.resolution
    started = opened_at if resolution_started_at is None else resolution_started_at
    return (
        cal.add_epoch(opened_at, fr.seconds, pauses) if fr else None,
        cal.add_epoch(started, res.seconds, pauses) if res else None,
    )


def deadlines(
    policy: Policy,
    *,
    plan: str | None,
    priority: Priority | None,
    severity: int | None,
    request_type: RequestType,
    opened_at: float,
    resolution_started_at: float | None = None,
    pauses: Sequence[tuple[float, float]] = (),
) -> Deadlines:
    """Both clocks' due instants; `pauses` are merged, sorted (start, end) epoch pairs."""
    chosen = targets(policy, plan=plan, priority=priority, severity=severity, request_type=request_type)
    if chosen.sla_exempt:
        return Deadlines(True, None, None, None, None)
    fr_due, res_due = due_instants(policy, chosen, opened_at, resolution_started_at, pauses)
    return Deadlines(
        sla_exempt=False,
        first_response_target=chosen.first_response,
        first_response_due=fr_due,
        resolution_target=chosen.resolution,
        resolution_due=res_due,
    )
