"""One phase's record (`Run`: the instants of its requests and of their hops on Kafka) and what is
computed from it: percentiles, hop latencies, tickets clocked per second."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

PIPELINE = ("intake", "triage", "sla-clock", "escalation", "notifier", "assignment")
# TicketAssigned: to an agent (not the team's pool), by the assignment pass.
HOPS = ("TicketOpened", "TicketTriaged", "SlaClockStarted", "TicketAssigned")
PARTITIONS = 12  # of every topic the bench makes


@dataclass
class Run:
    """One phase's instants, all `time.time()` seconds on this machine's clock. `offered`, `wire` and
    `accepted` come from the load generator's own process (its loop does nothing else); `seen` is
    the Kafka record's timestamp; `noted` is the old method's 2xx: when the loop that also reads
    Kafka got round to the answer (kept to show how far off that was)."""

    offered: dict[str, float] = field(default_factory=dict)  # ticket id -> its open-loop slot came
    wire: dict[str, float] = field(default_factory=dict)  # ticket id -> request headers being written
    accepted: dict[str, float] = field(default_factory=dict)  # ticket id -> 2xx headers read
    noted: dict[str, float] = field(default_factory=dict)  # ticket id -> 2xx as the Kafka-reading loop saw it
    seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (event type, ticket) -> record timestamp
    timestamp_types: set[int] = field(default_factory=set)  # 0 CreateTime, 1 LogAppendTime
    generator_lag: tuple[float, float] = (float("nan"), float("nan"))  # p99, max of its loop's lateness
    generator_raised: bool = False  # did it get its higher priority (nice -10)
    generator: str = "python"  # or "vegeta"
    generator_cpu: float = float("nan")  # vegeta's CPU seconds over the phase
    refused: int = 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def drain(run: Run, stop_after: float) -> None:
    """Wait until every accepted ticket is clocked, or `stop_after` seconds pass."""
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        if all(("SlaClockStarted", t) in run.seen and ("TicketAssigned", t) in run.seen for t in run.accepted):
            return
        await asyncio.sleep(0.2)


def hop_latencies(run: Run, hop: str, since: dict[str, float] | None = None) -> list[float]:
    """Seconds from each ticket's instant in `since` (default: the generator's 2xx) to `hop`'s record."""
    start = run.accepted if since is None else since
    return [run.seen[(hop, t)] - at for t, at in start.items() if (hop, t) in run.seen]


def clocked_rate(run: Run) -> float:
    """Tickets clocked per second, from the first 2xx to the last SlaClockStarted."""
    ends = [run.seen[("SlaClockStarted", t)] for t in run.accepted if ("SlaClockStarted", t) in run.seen]
    if not ends:
        return 0.0
    return len(ends) / max(1e-9, max(ends) - min(run.accepted.values()))
