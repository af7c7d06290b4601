"""Due instants for one ticket under a policy: the answer `preview` gives and the clocks keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supportdesk_events.vocabulary import Priority, RequestType

from .policy import Policy, Target


@dataclass(frozen=True)
class Deadlines:
    sla_exempt: bool
    first_response_target: Target | None
    first_response_due: float | None  # epoch seconds
    resolution_target: Target | None
    resolution_due: float | None


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
    if request_type in policy.exempt_request_types:
        return Deadlines(True, None, None, None, None)
    cal = policy.calendar
    fr = policy.first_response.lookup(plan, priority, severity) if policy.first_response else None
    res = policy.resolution.lookup(plan, priority, severity) if policy.resolution else None
    started = opened_at if resolution_started_at is None else resolution_started_at
    return Deadlines(
        sla_exempt=False,
        first_response_target=fr,
        first_response_due=cal.add_epoch(opened_at, fr.seconds, pauses) if fr else None,
        resolution_target=res,
        resolution_due=cal.add_epoch(started, res.seconds, pauses) if res else None,
    )
