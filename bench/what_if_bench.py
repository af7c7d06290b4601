"""SLA what-if on a quarter of generated history: 100,000 tickets' facts re-derived under the live
data-insights policy and under a draft (a closure day, shorter hours, tighter Gold targets).

The goal (the event-log issue): 100,000 tickets in under 10 s on this machine. The floor, run in
the same process: deriving the same tickets' clocks once under one policy, all of them (what the
live service does per fact); the what-if derives only the SLA clocks, twice (live and draft).

    .venv/bin/python bench/what_if_bench.py [--tickets 100000] [--database]

With --database, also the whole path an operator runs: the same tickets' facts written to a
migrated sla-clock database (embedded PostgreSQL of its own), then timed: the service's `what_if`
(read every ticket opened in the quarter, parse its facts, compare), and `sla-clock what-if` as a
process (start-up included), whose table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert

from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.adapters.policy_files import parse_policy, shipped_policy
from sla_clock.adapters.tables import sla_tickets
from sla_clock.domain.clocks import TicketFacts, derive_clocks
from sla_clock.domain.policy import Policy
from sla_clock.domain.what_if import compare
from sla_clock.service_layer.what_if import what_if
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import Priority, RequestType
from supportdesk_devstack.postgres import PostgresServer
from supportdesk_devstack.process import free_port
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate

DRAFT = """
name: data-insights
version: draft
calendar:
  name: data-insights-draft
  zone: America/Los_Angeles
  business_day: 10h
  hours:
    mon-fri: [["07:00", "17:00"]]
  holidays:
    - {name: New Year's Day, month: 1, day: 1, observed: federal}
    - {name: Thanksgiving Day, month: 11, weekday: thu, nth: 4}
    - {name: Day after Thanksgiving, after: Thanksgiving Day}
    - {name: Christmas Day, month: 12, day: 25, observed: federal}
    - {name: Company offsite, "on": 2026-08-14}
plans: [basic, silver, gold, platinum]
first_response:
  by_plan_and_priority:
    basic:    {urgent: 2h,   high: 4h, normal: 8h, low: 24h}
    silver:   {urgent: 1.5h, high: 3h, normal: 8h, low: 16h}
    gold:     {urgent: 45m,  high: 90m, normal: 3h, low: 10h}
    platinum: {urgent: 30m,  high: 1h, normal: 3h, low: 8h}
resolution:
  by_plan_and_priority:
    basic:    {urgent: 1d, high: 20d, normal: 30d, low: 60d}
    silver:   {urgent: 1d, high: 15d, normal: 25d, low: 30d}
    gold:     {urgent: 1d, high: 10d, normal: 20d, low: 25d}
    platinum: {urgent: 1d, high: 5d,  normal: 10d, low: 20d}
resolution_starts: replicated
auto_close:
  monitor: 5d
  awaiting_customer: 10d
"""

QUARTER_START = datetime(2026, 7, 1, tzinfo=UTC)


def generated(n: int, seed: int = 7) -> list[tuple[str, TicketFacts]]:
    """A quarter of tickets: opened at any hour, answered within minutes to days, some awaiting the
    customer for a while, most replicated and fixed, most closed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        opened = QUARTER_START + timedelta(seconds=rng.uniform(0, 91 * 86400))
        answered = opened + timedelta(minutes=rng.expovariate(1 / 240))
        f = TicketFacts(
            opened_at=opened,
            cycle_started_at=opened,
            first_responded_at=answered if rng.random() < 0.95 else None,
            triaged=True,
            priority=rng.choice(list(Priority)),
            request_type=rng.choice([RequestType.PROBLEM, RequestType.QUESTION, RequestType.REQUEST]),
            plan=rng.choice(["basic", "silver", "gold", "platinum"]),
            policy="data-insights",
        )
        if rng.random() < 0.3:
            start = answered + timedelta(hours=rng.uniform(1, 48))
            f.pauses.append((start, start + timedelta(hours=rng.uniform(1, 72))))
        if rng.random() < 0.8:
            f.replicated_at = answered + timedelta(hours=rng.uniform(1, 24))
            if rng.random() < 0.8:
                f.delivered_at = f.replicated_at + timedelta(hours=rng.expovariate(1 / 72))
                if rng.random() < 0.9:
                    f.closed_at = f.delivered_at + timedelta(days=rng.uniform(0, 7))
        out.append((f"t{i}", f))
    return out


async def from_database(tickets: list[tuple[str, TicketFacts]], draft_file: Path, now: datetime) -> None:
    """The service's what-if and the command line over the same tickets in a real database."""
    with tempfile.TemporaryDirectory(prefix="supportdesk-what-if-bench-") as data_dir:
        server = PostgresServer(Path(data_dir), "127.0.0.1", free_port(), durable=False)
        server.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
            settings = Settings(DATABASE_URL=url, database_name="sla_clock_what_if_bench")
            await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
            engine = create_engine(url, settings.database_name)
            started = time.perf_counter()
            rows = [
                {"ticket_id": t, "facts": f.to_json(), "correlation_id": uuid.uuid4(), "updated_at": f.opened_at}
                for t, f in tickets
            ]
            for first in range(0, len(rows), 10_000):
                async with engine.begin() as conn:
                    await conn.execute(insert(sla_tickets), rows[first : first + 10_000])
            print(f"database: {len(rows):,} tickets' facts written in {time.perf_counter() - started:.1f} s")
            book = PolicyBook(settings.default_policy, settings.default_plan)
            draft = parse_policy(DRAFT, "draft")
            end = QUARTER_START + timedelta(days=92)
            started, cpu = time.perf_counter(), time.process_time()
            report = await what_if(engine, book, draft, QUARTER_START, end, now)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"service what_if (read, parse, compare) over {report.tickets:,} tickets: {took:.2f} s,"
                f" CPU {cpu:.2f} s; load average {os.getloadavg()[0]:.2f}"
            )
            await engine.dispose()
            env = {**os.environ, "DATABASE_URL": url, "SLA_CLOCK_DATABASE_NAME": settings.database_name}
            command = [
                str(Path(sys.executable).parent / "sla-clock"),
                "what-if",
                "--policy",
                str(draft_file),
                "--from",
                QUARTER_START.isoformat(),
                "--to",
                end.isoformat(),
                "--flips",
                "3",
            ]
            started = time.perf_counter()
            done = await asyncio.to_thread(
                subprocess.run, command, env=env, capture_output=True, text=True, timeout=600, check=True
            )
            took = time.perf_counter() - started
            print(
                f"`sla-clock what-if` as a process (evaluated now, not at the quarter's end): {took:.2f} s;"
                f" load average {os.getloadavg()[0]:.2f}"
            )
            print(done.stdout, end="")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database", action="store_true", help="also through the database and the command line")
    args = parser.parse_args()
    live = shipped_policy("data-insights")
    draft = parse_policy(DRAFT, "draft")
    tickets = generated(args.tickets)
    now = QUARTER_START + timedelta(days=95)

    def chooser(policy: Policy) -> Callable[[TicketFacts], tuple[Policy, str]]:
        def choose(f: TicketFacts) -> tuple[Policy, str]:
            return policy, f.plan if f.plan in policy.plans else policy.plans[0]

        return choose

    started = time.perf_counter()
    for _, f in tickets:
        derive_clocks(f, live, f.plan or "basic")
    floor = time.perf_counter() - started

    started, cpu = time.perf_counter(), time.process_time()
    result = compare(tickets, chooser(live), chooser(draft), now)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu

    print(f"what-if over {len(tickets):,} tickets: {took:.2f} s ({len(tickets) / took:,.0f} tickets/s); goal < 10 s")
    # On a machine shared with other jobs the wall time is mostly waiting for a core; the CPU time
    # is what the what-if itself took.
    print(f"  CPU time of this process meanwhile: {cpu:.2f} s; load average {os.getloadavg()[0]:.2f}")
    print(f"floor, one derivation per ticket: {floor:.2f} s; what-if / floor = {took / floor:.2f}x (two derivations)")
    print(f"outcomes that flip under the draft: {len(result.flips):,}")
    header = ("plan", "priority", "tickets", "live %", "draft %", "live p90 FR h", "draft p90 FR h")
    print("{:<9} {:<8} {:>7}  {:>7} {:>7}  {:>13} {:>14}".format(*header))
    for (plan, priority), (before, after) in result.rows.items():
        lp, dp = before.first_response_p90_seconds, after.first_response_p90_seconds
        print(
            f"{plan:<9} {priority:<8} {before.tickets:>7}  {before.attainment_percent or 0:>7.1f} "
            f"{after.attainment_percent or 0:>7.1f}  {(lp or 0) / 3600:>13.2f} {(dp or 0) / 3600:>14.2f}"
        )
    if args.database:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as draft_file:
            draft_file.write(DRAFT)
            draft_file.flush()
            asyncio.run(from_database(tickets, Path(draft_file.name), now))


if __name__ == "__main__":
    main()
