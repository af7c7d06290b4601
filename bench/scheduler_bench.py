"""The SLA scheduler with a million open tickets: our indexed tick against scanning every ticket.

Fills a real PostgreSQL (embedded, or DATABASE_URL) with N running first-response clocks, D of
them due now, the rest due over the next 30 days. Then, in the same run:
- ours: `fire_due` in batches until nothing is due (it reads the `next_check_at` index), then an
  idle tick (nothing due);
- peer: the naive tick that loads every running clock and checks each in Python.
Prints times, the ratio, and the process's peak memory after each.

Run: .venv/bin/python bench/scheduler_bench.py [--tickets N] [--due D]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from sla_clock.service_layer.projection import fire_due
from sla_clock.service_layer.workers import BATCH
from sla_clock.settings import Settings
from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import free_port
from supportdesk_messaging.db import create_engine, drop_database
from supportdesk_service.migrations import migrate

NOW = datetime(2026, 11, 23, 17, tzinfo=UTC)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


FILL = """
INSERT INTO sla_tickets (ticket_id, facts, correlation_id, updated_at)
SELECT 't' || i, '{}'::jsonb, gen_random_uuid(), CAST(:now AS timestamptz)
FROM generate_series(1, :n) AS i;
INSERT INTO clocks (ticket_id, clock, cycle, state, started_at, priority, plan, target_seconds, due_at,
                    warnings, warned, next_check_at, calendar, policy_version, updated_at)
SELECT 't' || i, 'first_response', 1, 'running', t.now - interval '1 hour', 'normal', 'gold', 14400, d.due,
       '[]'::jsonb, '[]'::jsonb, d.due, 'data-insights-business-hours', 'data-insights@bench', t.now
FROM generate_series(1, :n) AS i
CROSS JOIN (SELECT CAST(:now AS timestamptz) AS now) AS t
CROSS JOIN LATERAL (SELECT CASE WHEN i <= :due THEN t.now - interval '1 second'
                                ELSE t.now + (i % 2592000) * interval '1 second' END AS due) AS d;
ANALYZE clocks;
"""


async def run(database_url: str, tickets: int, due: int) -> None:
    name = f"bench_sla_{uuid.uuid4().hex[:8]}"
    settings = Settings(DATABASE_URL=database_url, database_name=name)
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    engine = create_engine(database_url, name)
    try:
        t = time.perf_counter()
        async with engine.begin() as conn:
            for statement in filter(str.strip, FILL.split(";")):
                await conn.execute(text(statement), {"now": NOW, "n": tickets, "due": due})
        print(f"filled {tickets:,} running clocks ({due:,} due) in {time.perf_counter() - t:.1f} s")
        base = peak_mib()

        clock = ManualClock(NOW)
        t = time.perf_counter()
        fired = 0
        while True:
            async with engine.begin() as conn:
                n = await fire_due(conn, clock, BATCH)
            fired += n
            if n < BATCH:
                break
        ours_fire = time.perf_counter() - t
        t = time.perf_counter()
        async with engine.begin() as conn:
            assert await fire_due(conn, clock, BATCH) == 0
            await conn.execute(text("SELECT min(next_check_at) FROM clocks"))
        ours_idle = time.perf_counter() - t
        ours_peak = peak_mib()
        async with engine.connect() as conn:
            breaches = (
                await conn.execute(text("SELECT count(*) FROM events WHERE event_type = 'SlaBreached'"))
            ).scalar_one()

        t = time.perf_counter()
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT ticket_id, clock, cycle, due_at, next_check_at, warnings, warned FROM clocks "
                        "WHERE state = 'running'"
                    )
                )
            ).all()
        found = sum(1 for r in rows if r.next_check_at is not None and r.next_check_at <= NOW)
        peer_tick = time.perf_counter() - t
        del rows
        peer_peak = peak_mib()

        print(
            f"ours: fired {fired:,} due clocks ({breaches:,} SlaBreached recorded) in {ours_fire * 1000:,.0f} ms; "
            f"idle tick {ours_idle * 1000:,.1f} ms; process peak {ours_peak:,.0f} MiB (before ticks {base:,.0f})"
        )
        print(
            f"peer (scan every running clock each tick): one tick {peer_tick * 1000:,.0f} ms, found {found:,} due "
            f"(run after ours fired them, so none is left); process peak {peer_peak:,.0f} MiB"
        )
        print(
            f"ratio peer tick / our idle tick: {peer_tick / ours_idle:,.0f}x; "
            f"peer tick / our whole firing of {fired:,}: {peer_tick / ours_fire:,.1f}x"
        )
    finally:
        await engine.dispose()
        await drop_database(database_url, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    args = parser.parse_args()
    external = os.environ.get("DATABASE_URL")
    if external:
        asyncio.run(run(external, args.tickets, args.due))
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(tmp),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            external_kafka="unused:9092",
        )  # the scheduler needs no broker
        servers = Servers(config, durable=False)
        servers.start()
        try:
            asyncio.run(run(servers.database_url, args.tickets, args.due))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
