"""The whole pipeline on this machine: intake, triage, sla-clock, escalation and the notifier as real
processes on an embedded Kafka broker and PostgreSQL, on ports of their own.

It offers web tickets at a steady open-loop rate, then a burst (a backlog after an outage), and
prints, from what it reads back on Kafka: tickets/s accepted and clocked, latency percentiles per hop
from intake's 2xx (TicketOpened published, TicketTriaged, SlaClockStarted), and CPU per ticket per
service. A hop's instant is its Kafka record's timestamp (stamped by the producing relay); the
request's instants are taken by a load generator in a process of its own that does nothing else,
so a busy loop here cannot move them. Floors run in the same process on the same servers: a bare
FastAPI endpoint doing what intake's web form minimally must (ticket row + outbox row + NOTIFY in
one transaction, SQLAlchemy async + asyncpg), against intake at the same concurrency; with
`--peer django-helpdesk`, django-helpdesk's public ticket form too (its own virtualenv under
.data/peers/, made once; never a dependency of the project).

    .venv/bin/python bench/pipeline_bench.py                 # 100/s for 60 s, burst of 2,000
    .venv/bin/python bench/pipeline_bench.py --rate 200 --seconds 60 --burst 5000
    .venv/bin/python bench/pipeline_bench.py --quick         # a small run (CI-sized)
    .venv/bin/python bench/pipeline_bench.py --intake-only --peer django-helpdesk --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pipeline.compare import compare_intake
from pipeline.report import intake_goal
from pipeline.run import PIPELINE
from pipeline.stack import started
from pipeline.whole import run_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="tickets/s offered in the steady phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=2000, help="tickets sent as fast as intake takes them")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds at the steady rate before anything is measured (the JVM's JIT, pools, caches)",
    )
    parser.add_argument("--quick", action="store_true", help="20/s for 10 s, a burst of 300, short floors")
    parser.add_argument("--intake-only", action="store_true", help="only intake against the floor endpoint")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved intake/floor rounds (medians)")
    parser.add_argument("--baseline", type=Path, help="a checkout whose intake joins the floor comparison")
    parser.add_argument(
        "--peer",
        choices=["django-helpdesk"],
        help="also drive this peer in the intake comparison (its own virtualenv under .data/peers/, made once)",
    )
    parser.add_argument(
        "--generator",
        choices=["vegeta", "python"],
        default="vegeta",
        help="the load generator: vegeta (compiled, built once with go install) or the Python one",
    )
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.burst, args.warmup = 20.0, 10.0, 300, 2.0
    floor_seconds = 5.0 if args.quick else 10.0

    services = ("intake",) if args.intake_only else PIPELINE
    with started(services, args.baseline, args.peer is not None, args.generator) as stack:
        if args.intake_only:
            print(f"intake bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
            intake_goal(
                compare_intake(
                    stack.space, stack.work, stack.intakes, floor_seconds, args.rounds, stack.peer, stack.vegeta
                )
            )
            return
        run_pipeline(
            stack,
            rate=args.rate,
            seconds=args.seconds,
            burst_size=args.burst,
            warmup=args.warmup,
            floor_seconds=floor_seconds,
            rounds=args.rounds,
        )


if __name__ == "__main__":
    main()
