"""End-to-end throughput with 1, 2 and 3 replicas of every service.

For each replica count: the six services as real processes (`supportdesk_devstack.chaos.desk.Desk`, N
of each on one database and consumer group per service, 12 partitions per topic) on one embedded
Kafka broker and PostgreSQL. Sends T tickets (web, email and phone in turn, each web and email one
answered by an agent: one mail) as fast as C concurrent clients spread over intake's replicas can,
and times from the first request until every ticket is in every read model (intake, triage,
sla-clock, escalation, notifier). Prints tickets/s accepted by intake, tickets/s end to end, and
each end-to-end rate as a ratio to one replica's in the same run (the floor).

Run: .venv/bin/python bench/replicas_bench.py [--tickets 150] [--concurrency 12] [--replicas 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from supportdesk_contract.topics import SERVICE_NAMES
from supportdesk_devstack.chaos.desk import Desk
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.testing import SmtpSink, free_port


async def one_run(servers: Servers, replicas: int, tickets: int, concurrency: int, work: Path) -> tuple[float, float]:
    log_dir = work / f"r{replicas}"
    log_dir.mkdir()
    with SmtpSink() as smtp:
        desk = await Desk.on(servers, log_dir, smtp, partitions=12)
        await desk.start(dict.fromkeys(SERVICE_NAMES, replicas))
        try:
            gate = asyncio.Semaphore(concurrency)
            async with httpx.AsyncClient(timeout=30) as http:

                async def send() -> None:
                    async with gate:
                        await desk.send_one(http)

                t0 = time.monotonic()
                await asyncio.gather(*(send() for _ in range(tickets)))
                accepted_s = time.monotonic() - t0
                while await desk.missing():
                    if time.monotonic() - t0 > 600:
                        raise RuntimeError(f"not converged after 600 s: {await desk.missing()}")
                    await asyncio.sleep(0.25)
                end_to_end_s = time.monotonic() - t0
            acked = sum(1 for s in desk.sent if s.acknowledged)
            if acked != tickets:
                raise RuntimeError(f"{tickets - acked} tickets not accepted")
            return tickets / accepted_s, tickets / end_to_end_s
        finally:
            desk.stop()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=150)
    ap.add_argument("--concurrency", type=int, default=12)
    ap.add_argument("--replicas", default="1,2,3")
    args = ap.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    with tempfile.TemporaryDirectory(prefix="supportdesk-replicas-bench-") as data:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(data),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
        )
        servers = Servers(config, durable=False)
        await asyncio.to_thread(servers.start)  # its readiness probes run their own event loop
        try:
            results = {}
            for n in counts:
                results[n] = await one_run(servers, n, args.tickets, args.concurrency, Path(data))
                print(
                    f"{n} replica(s): accepted {results[n][0]:.1f} tickets/s, end to end {results[n][1]:.1f} tickets/s"
                )
        finally:
            await asyncio.to_thread(servers.stop)
    floor = results[counts[0]][1]
    print(f"\n| replicas of every service | accepted by intake (tickets/s) | end to end (tickets/s) | vs {counts[0]} |")
    print("|---|---|---|---|")
    for n in counts:
        accepted, e2e = results[n]
        print(f"| {n} | {accepted:.1f} | {e2e:.1f} | {e2e / floor:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
