"""What the bench prints about a phase: latency per hop, CPU per ticket, and the goals' lines."""

from __future__ import annotations

import os
from itertools import pairwise

from .run import HOPS, PIPELINE, Run, hop_latencies, pct


def goal(what: str, met: bool, measured: str) -> None:
    print(f"  [{'met' if met else 'NOT MET'}] {what}: {measured}")


def intake_goal(medians: dict[tuple[int, str], tuple[float, float, float, float]]) -> None:
    rate, _, p99, _ = medians[(8, "intake")]
    floor = medians[(8, "floor")][0]
    goal(
        "intake at 8 concurrent >= 0.5x the FastAPI + SQLAlchemy floor, p99 < 50 ms",
        rate / floor >= 0.5 and p99 < 50,
        f"{rate / floor:.2f}x, p99 {p99:.1f} ms",
    )


def _ms(values: list[float]) -> str:
    return " ".join(f"{k} {pct(values, q) * 1000:7.0f}" for k, q in (("p50", 50), ("p90", 90), ("p99", 99))) + (
        f" max {max(values, default=float('nan')) * 1000:7.0f} ms"
    )


def report_hops(title: str, run: Run) -> None:
    print(f"\n{title}: {len(run.accepted)} accepted, {run.refused} refused")
    kinds = {0: "CreateTime", 1: "LogAppendTime"}
    stamp = "/".join(kinds.get(k, str(k)) for k in sorted(run.timestamp_types)) or "none seen"
    print(
        f"  a hop's instant is its Kafka record's timestamp ({stamp}: stamped by the producing relay's\n"
        "  client when the relay hands it the record; 1 ms resolution); one clock."
    )
    if run.generator == "vegeta":
        sent = "sent"
        print(
            "  'sent' (a vegeta worker began the request: its slot in the open loop, so waiting for one of\n"
            "  the 64 connections counts) and '2xx' (the whole answer read) are vegeta's, a compiled load\n"
            f"  generator in a process of its own (asked for nice -10); it used {run.generator_cpu:.1f} s of CPU"
        )
    else:
        sent = "wire"
        print(
            "  'wire' (request headers being written) and '2xx' (response headers read) are the load\n"
            "  generator's, a Python process of its own that does nothing else, "
            f"{'at nice -10' if run.generator_raised else 'at normal priority'} (its loop ran late by p99 "
            f"{run.generator_lag[0] * 1000:.1f} ms, max {run.generator_lag[1] * 1000:.1f} ms)"
        )
    print(f"  {sent} -> 2xx  (intake's answer)   {_ms([run.accepted[t] - run.wire[t] for t in run.accepted])}")
    for hop in HOPS:
        lat = hop_latencies(run, hop)
        missing = len(run.accepted) - len(lat)
        negative = sum(1 for v in lat if v < 0)
        print(
            f"  2xx  -> {hop:<16}         {_ms(lat)}"
            + (f"  ({missing} not seen)" if missing else "")
            + (f"  ({negative} published before the 2xx reached the client)" if negative else "")
        )
        print(f"  {sent} -> {hop:<16}         {_ms(hop_latencies(run, hop, run.wire))}")
    for earlier, later in pairwise(HOPS):
        both = [t for t in run.accepted if (earlier, t) in run.seen and (later, t) in run.seen]
        gaps = [run.seen[(later, t)] - run.seen[(earlier, t)] for t in both]
        print(f"  {earlier} -> {later} (one service's hop) {_ms(gaps)}")
    if run.generator == "vegeta":
        return
    queued = [run.wire[t] - run.offered[t] for t in run.accepted]
    print(f"  offered -> wire (waiting for one of the generator's 64 connections) {_ms(queued)}")
    old = hop_latencies(run, "SlaClockStarted", run.noted)
    late = [run.noted[t] - run.accepted[t] for t in run.accepted]
    print(
        f"  old method (2xx noted by the loop that also reads Kafka): 2xx -> SlaClockStarted {_ms(old)};\n"
        f"  that loop noted the 2xx late by {_ms(late)}"
    )


def cpu_per_ticket(run: Run, before: dict[str, float], after: dict[str, float]) -> None:
    """Every process's share, and the machine's: what 200 tickets/s on 2 cores must fit in. `before`
    and `after` are the meters' readings in seconds, "whole machine" and "elapsed" among them."""
    n = max(1, len(run.accepted))
    ms = {k: (after[k] - before[k]) * 1000 / n for k in before}
    services = sum(ms[k] for k in PIPELINE)
    print("  CPU per ticket (ms):", " ".join(f"{k} {ms[k]:.1f}" for k in PIPELINE), end="")
    print(f"; all services {services:.1f}", end="")
    others = [k for k in before if k not in PIPELINE and k not in ("whole machine", "elapsed")]
    print("".join(f"; {k} {ms[k]:.1f}" for k in others))
    if run.generator == "vegeta":
        print(f"  load generator {run.generator_cpu * 1000 / n:.2f}", end="; ")
    else:
        print("  ", end="")
    cores = os.cpu_count() or 1
    busy = (after["whole machine"] - before["whole machine"]) / (
        cores * max(1e-9, after["elapsed"] - before["elapsed"])
    )
    # At a steady trickle every consumer and relay pays a batch's fixed cost for an
    # event or two, so CPU per ticket falls as the rate rises: this is what the
    # phase cost, not a ceiling.
    print(
        f"whole machine {ms['whole machine']:.1f} ms per ticket; its {cores} cores "
        f"{busy:.0%} busy over the phase; load average {os.getloadavg()[0]:.1f}"
    )
