"""Intake against the floor endpoint (and a baseline checkout's intake, and the peer), closed loop,
rounds interleaved."""

from __future__ import annotations

import asyncio
import os
import statistics
from functools import partial
from pathlib import Path

from vegeta import closed_loop as vegeta_closed_loop

from supportdesk_devstack.testing import RunningService, Sandbox

from .contenders import Contender, closed_loop, json_tickets
from .cpu import cpu_seconds
from .floor import floor_endpoint
from .peer import PEER_PINS


def compare_intake(
    space: Sandbox,
    work: Path,
    intakes: dict[str, RunningService],
    seconds: float,
    rounds: int,
    peer: Contender | None = None,
    vegeta: Path | None = None,
) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """Intake (and a baseline checkout's, if given) against the floor endpoint, and the peer if
    given, closed loop at c=1 and c=8 from one load generator, rounds interleaved (floor, intake,
    baseline, peer, floor, ...); medians, and ratios of the medians to the floor's. Returns the
    medians (rate, p50 ms, p99 ms, CPU ms per request) by (concurrency, name). Intake's CPU includes
    its relay publishing to Kafka; the floor has none. The peer's rate counts only the tickets that
    are in its database afterwards. The load generator is vegeta when given, unless a peer takes
    part: the peer's form needs a client that keeps its CSRF cookie, and every contender gets the
    same client."""
    medians: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    if peer is not None:
        vegeta = None
    client = "vegeta" if vegeta is not None else "a Python (httpx) client in this process"
    print(f"\nintake vs the floor (closed loop, same servers, same load generator: {client}, {rounds} round(s)):")
    with floor_endpoint(space, work) as (floor_url, floor_pid):
        contenders = [
            Contender(
                "floor", floor_url, partial(cpu_seconds, floor_pid), json_tickets("/tickets"), json_path="/tickets"
            )
        ]
        for name, svc in intakes.items():
            server_cpu = partial(cpu_seconds, svc.process.proc.pid)
            contenders.append(
                Contender(name, svc.url, server_cpu, json_tickets("/v1/tickets"), json_path="/v1/tickets")
            )
        if peer is not None:
            contenders.append(peer)
        for concurrency in (1, 8):
            runs: dict[str, list[tuple[float, float, float, float]]] = {c.name: [] for c in contenders}
            for _ in range(rounds):
                for c in contenders:
                    before = c.stored() if c.stored is not None else 0
                    if vegeta is not None and c.json_path is not None:
                        rate, p50, p99, cpu, sent = vegeta_closed_loop(
                            vegeta, work, c.url + c.json_path, concurrency, seconds, c.cpu
                        )
                    else:
                        rate, p50, p99, cpu, sent = asyncio.run(
                            closed_loop(c.url, concurrency, seconds, c.cpu, c.prepare)
                        )
                    if c.stored is not None:  # only what is really in its database counts
                        stored = c.stored() - before
                        print(f"  c={concurrency} {c.name}: {sent} answered as created, {stored} in its database")
                        rate, cpu = rate * stored / sent, cpu * sent / max(1, stored)
                    runs[c.name].append((rate, p50, p99, cpu))
            f_rate = statistics.median(r[0] for r in runs["floor"])
            f_cpu = statistics.median(r[3] for r in runs["floor"])
            for name, results in runs.items():
                rate, p50, p99, cpu = (statistics.median(r[k] for r in results) for k in range(4))
                medians[(concurrency, name)] = (rate, p50, p99, cpu)
                per_round = ", ".join(f"{r[0] / f[0]:.2f}x" for r, f in zip(results, runs["floor"], strict=True))
                print(
                    f"  c={concurrency} {name:<15} {rate:6.0f}/s p50 {p50:5.1f} ms p99 {p99:6.1f} ms "
                    f"CPU {cpu:4.2f} ms/ticket"
                    + (
                        ""
                        if name == "floor"
                        else f" | {rate / f_rate:.2f}x the floor's rate (per round {per_round}), "
                        f"{cpu / f_cpu:.1f}x its CPU per ticket"
                    )
                )
            if peer is not None:
                i_rate = statistics.median(r[0] for r in runs["intake"])
                per_round = ", ".join(
                    f"{r[0] / q[0]:.2f}x" for r, q in zip(runs["intake"], runs[peer.name], strict=True)
                )
                print(
                    f"  c={concurrency} intake / {peer.name}: {i_rate / medians[(concurrency, peer.name)][0]:.2f}x "
                    f"the rate (per round {per_round})"
                )
            print(f"  load average {os.getloadavg()[0]:.1f}")
    if peer is not None:
        print(
            f"  {peer.name}: {', '.join(PEER_PINS)};\n"
            "  gunicorn, 2 sync workers; tickets through its public form (each client GETs it once for the\n"
            "  CSRF cookie and token, then one POST per ticket, its 302 not followed), counted in its\n"
            "  database; its CPU is gunicorn's master and workers; its acknowledgement mail is rendered,\n"
            "  not sent"
        )
    return medians
