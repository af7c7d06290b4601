"""The whole pipeline's run on a started stack: the stack idle, a warm-up, a steady open-loop rate,
a burst, the bare consumer floor, the intake comparison, and the goals."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from functools import partial

from .compare import compare_intake
from .cpu import cpu_seconds, family_cpu, machine_cpu, server_pids
from .floor import bare_consumer_rate
from .load import phase
from .report import cpu_per_ticket, goal, report_hops
from .run import PIPELINE, clocked_rate, hop_latencies, pct
from .stack import Stack

IDLE_SECONDS = 10.0  # what the stack costs doing nothing, measured before the load


def run_pipeline(
    stack: Stack, *, rate: float, seconds: float, burst_size: int, warmup: float, floor_seconds: float, rounds: int
) -> None:
    """Prints each phase's hops and CPU per ticket, the floors, and ends with the goals, each met or not."""
    pids = {name: s.process.proc.pid for name, s in stack.services.items()}
    print(f"pipeline bench: {os.cpu_count()} cores; services: {', '.join(PIPELINE)}")
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    # Said first, in bold: these figures are of a smaller desk than `devstack run` starts.
    print(
        "\033[1mNOT the desk as users run it: the board is not started, the notifier has no routing "
        "(no acknowledgement mail is sent), PostgreSQL runs with fsync off\033[0m"
    )
    meters: dict[str, Callable[[], float]] = {n: partial(cpu_seconds, p) for n, p in pids.items()}
    meters |= {n: partial(family_cpu, p) for n, p in server_pids(stack.servers).items()}
    meters["this bench, reading Kafka"] = time.process_time
    meters["whole machine"] = machine_cpu
    meters["elapsed"] = time.monotonic  # wall-clock seconds, for how busy the cores were

    before = {n: m() for n, m in meters.items()}
    time.sleep(IDLE_SECONDS)
    after = {n: m() for n, m in meters.items()}
    print(
        f"idle for {IDLE_SECONDS:.0f} s (no tickets), CPU ms per second:",
        " ".join(f"{k} {(after[k] - before[k]) * 1000 / IDLE_SECONDS:.0f}" for k in meters if k != "elapsed"),
    )
    if warmup > 0:
        warm = asyncio.run(
            phase(stack.space, stack.services["intake"], rate, int(rate * warmup), 120.0, stack.vegeta, stack.work)
        )
        print(
            f"warm-up, not measured: {len(warm.accepted)} tickets at {rate:.0f}/s "
            f"({warmup:.0f} s; the broker's JIT compiler, connection pools, caches)"
        )
    before = {n: m() for n, m in meters.items()}
    steady = asyncio.run(
        phase(stack.space, stack.services["intake"], rate, int(rate * seconds), 120.0, stack.vegeta, stack.work)
    )
    after = {n: m() for n, m in meters.items()}
    report_hops(f"steady {rate:.0f} tickets/s offered for {seconds:.0f} s", steady)
    clocked = len([t for t in steady.accepted if ("SlaClockStarted", t) in steady.seen])
    assigned = len([t for t in steady.accepted if ("TicketAssigned", t) in steady.seen])
    print(f"  clocked {clocked}/{len(steady.accepted)}, assigned to an agent {assigned}/{len(steady.accepted)}")
    cpu_per_ticket(steady, before, after)

    before = {n: m() for n, m in meters.items()}
    burst = asyncio.run(phase(stack.space, stack.services["intake"], 0.0, burst_size, 300.0, stack.vegeta, stack.work))
    after = {n: m() for n, m in meters.items()}
    report_hops(f"burst of {burst_size} tickets", burst)
    burst_clocked = len([t for t in burst.accepted if ("SlaClockStarted", t) in burst.seen])
    sustained = clocked_rate(burst)
    print(f"  sustained: {sustained:.0f} tickets/s clocked end to end ({burst_clocked}/{len(burst.accepted)} clocked)")
    cpu_per_ticket(burst, before, after)
    floor_rate = bare_consumer_rate(stack.space, len(steady.accepted) + len(burst.accepted))
    print(
        f"\nbare consumer (aiokafka batches + one inbox insert per batch) on the same lifecycle topic: "
        f"{floor_rate:.0f} events/s; the pipeline clocks {sustained / floor_rate:.3f}x that in tickets/s "
        "(each ticket is consumed by triage, then sla-clock twice: lifecycle and triage)"
    )
    medians = compare_intake(stack.space, stack.work, stack.intakes, floor_seconds, rounds, stack.peer, stack.vegeta)
    print(
        "  (here intake's tickets also go through the four other services on the same cores, the\n"
        "  floor's and the peer's through nothing: `--intake-only` compares intake alone)"
    )

    steady_p99 = pct(hop_latencies(steady, "SlaClockStarted"), 99) * 1000
    wire_p99 = pct(hop_latencies(steady, "SlaClockStarted", steady.wire), 99) * 1000
    assigned_p99 = pct(hop_latencies(steady, "TicketAssigned"), 99) * 1000
    print("\ngoals:")
    goal(
        f"p99 2xx -> SlaClockStarted < 250 ms at {rate:.0f}/s for {seconds:.0f} s "
        "(goal: 100/s for 60 s), every ticket clocked",
        steady_p99 < 250 and clocked == len(steady.accepted) and not steady.refused,
        f"{steady_p99:.0f} ms (from the request on the wire: {wire_p99:.0f} ms), "
        f"{clocked}/{len(steady.accepted)} clocked, {steady.refused} refused",
    )
    goal(
        f"p99 2xx -> TicketAssigned (to an agent) within 1.5x p99 2xx -> SlaClockStarted at {rate:.0f}/s, "
        "every ticket assigned",
        assigned_p99 <= 1.5 * steady_p99 and assigned == len(steady.accepted),
        f"{assigned_p99:.0f} ms = {assigned_p99 / steady_p99:.2f}x, {assigned}/{len(steady.accepted)} assigned",
    )
    goal(
        ">= 200 tickets/s sustained through the pipeline, every ticket clocked",
        sustained >= 200 and burst_clocked == len(burst.accepted) and not burst.refused,
        f"{sustained:.0f}/s, {burst_clocked}/{len(burst.accepted)} clocked, {burst.refused} refused",
    )
    print(
        "  [--intake-only] intake at 8 concurrent >= 0.5x the floor, p99 < 50 ms: judged by "
        "`--intake-only`, where intake\n  and the floor each have the machine to themselves "
        f"(here: {medians[(8, 'intake')][0] / medians[(8, 'floor')][0]:.2f}x, "
        f"p99 {medians[(8, 'intake')][2]:.1f} ms, with the four other services busy with its tickets)"
    )
