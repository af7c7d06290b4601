"""SLA what-if: the same recorded facts, derived under the live policy and under a draft.

Every clock derives from a ticket's facts and a policy (`derive_clocks`), so re-deriving them under
a draft (a new holiday, new hours, new targets) answers "what would our attainment have been?"
exactly, without touching a live clock. Pure: the service layer feeds it facts and prints the
result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from supportdesk_contract.catalogue import ClockKind

from .clocks import ClockState, TicketFacts, derive_clocks
from .policy import Policy

SLA_KINDS = (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION)


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"  # stopped late, or still running past its due instant
    OPEN = "open"  # running (or paused) and not yet due
    NO_TARGET = "no_target"  # exempt, or the policy sets none


@dataclass(frozen=True)
class ClockOutcome:
    outcome: Outcome
    business_seconds: float | None  # elapsed business time of a stopped clock


def outcomes(facts: TicketFacts, policy: Policy, plan: str, now: datetime) -> dict[ClockKind, ClockOutcome]:
    """The first-response and resolution outcomes of a ticket's current cycle under `policy`."""
    found: dict[ClockKind, ClockOutcome] = {}
    for c in derive_clocks(facts, policy, plan, sla_only=True):
        if c.kind not in SLA_KINDS:
            continue
        if c.target is None:
            found[c.kind] = ClockOutcome(Outcome.NO_TARGET, c.elapsed_business_seconds)
        elif c.state is ClockState.STOPPED:
            found[c.kind] = ClockOutcome(Outcome.MET if c.met else Outcome.BREACHED, c.elapsed_business_seconds)
        elif c.due_at is not None and c.due_at <= now:
            found[c.kind] = ClockOutcome(Outcome.BREACHED, None)
        else:
            found[c.kind] = ClockOutcome(Outcome.OPEN, None)
    return found


@dataclass
class Tally:
    """One side (live or draft) of one plan x priority row."""

    tickets: int = 0
    met: int = 0
    breached: int = 0
    open: int = 0
    first_response_seconds: list[float] = field(default_factory=list)

    def count(self, first_response: ClockOutcome | None, resolution: ClockOutcome | None) -> None:
        self.tickets += 1
        for o in (first_response, resolution):
            if o is None or o.outcome is Outcome.NO_TARGET:
                continue
            if o.outcome is Outcome.MET:
                self.met += 1
            elif o.outcome is Outcome.BREACHED:
                self.breached += 1
            else:
                self.open += 1
        if first_response is not None and first_response.business_seconds is not None:
            self.first_response_seconds.append(first_response.business_seconds)

    @property
    def attainment_percent(self) -> float | None:
        decided = self.met + self.breached
        return round(100.0 * self.met / decided, 2) if decided else None

    @property
    def first_response_mean_seconds(self) -> float | None:
        s = self.first_response_seconds
        return round(sum(s) / len(s), 1) if s else None

    @property
    def first_response_p90_seconds(self) -> float | None:
        s = sorted(self.first_response_seconds)
        return round(s[min(len(s) - 1, int(0.9 * len(s)))], 1) if s else None


@dataclass(frozen=True)
class Flip:
    ticket_id: str
    clock: ClockKind
    live: Outcome
    draft: Outcome


@dataclass
class Comparison:
    rows: dict[tuple[str, str], tuple[Tally, Tally]] = field(default_factory=dict)  # (plan, priority) -> live, draft
    flips: list[Flip] = field(default_factory=list)
    tickets: int = 0


def compare(
    tickets: Iterable[tuple[str, TicketFacts]],
    live: Callable[[TicketFacts], tuple[Policy, str]],
    draft: Callable[[TicketFacts], tuple[Policy, str]],
    now: datetime,
) -> Comparison:
    """Each ticket's SLA outcomes under the policy it runs under (`live` picks policy and plan)
    and under the draft, tallied per plan x priority, with every clock whose outcome flips."""
    result = Comparison()
    rows: dict[tuple[str, str], tuple[Tally, Tally]] = defaultdict(lambda: (Tally(), Tally()))
    for ticket_id, facts in tickets:
        live_policy, live_plan = live(facts)
        draft_policy, draft_plan = draft(facts)
        before = outcomes(facts, live_policy, live_plan, now)
        after = outcomes(facts, draft_policy, draft_plan, now)
        key = (live_plan, facts.priority.value if facts.priority else "untriaged")
        rows[key][0].count(before.get(ClockKind.FIRST_RESPONSE), before.get(ClockKind.RESOLUTION))
        rows[key][1].count(after.get(ClockKind.FIRST_RESPONSE), after.get(ClockKind.RESOLUTION))
        result.tickets += 1
        for kind in SLA_KINDS:
            b, a = before.get(kind), after.get(kind)
            if b is not None and a is not None and b.outcome != a.outcome:
                result.flips.append(Flip(ticket_id, kind, b.outcome, a.outcome))
    result.rows = dict(sorted(rows.items()))
    return result
