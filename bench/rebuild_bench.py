"""`<service> rebuild` on a generated backlog, against the live consumer draining the same backlog.

One embedded Kafka and PostgreSQL (ports 18590/18591/18595, throw-away data; or
KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). A backlog of N events is produced once (the generator of
`consumer_bench.py`: TicketOpened, and TicketTriaged for sla-clock and the board); then:
- live: the service's `EventConsumer` with its real handlers drains it into a migrated database
  (the peer: the same handlers, the same inbox, the service's own batch size);
- rebuild: `supportdesk_service.rebuild.command.rebuild` on that live database: a shadow created and
  migrated, the log replayed into it, every compared table checked, the shadow dropped.
Prints both rates, the ratio, the time the comparison took, whether the shadow was identical, and
the time a million events would take at the measured rebuild rate.

Run: .venv/bin/python bench/rebuild_bench.py [--service triage|sla-clock|board] [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from supportdesk_contract.clock import SystemClock
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine, drop_database
from supportdesk_service.migrations import migrate
from supportdesk_service.rebuild.command import rebuild
from supportdesk_service.rebuild.kafka import group_offsets, log_bounds, partitions_of
from supportdesk_service.rebuild.spec import RebuildSpec
from supportdesk_service.settings import ServiceSettings

sys.path.insert(0, str(Path(__file__).parent))
from consumer_bench import backlog, produce  # a sibling script, not a package


def spec_and_settings(service: str, values: dict[str, str]) -> tuple[RebuildSpec, ServiceSettings]:
    if service == "triage":
        from triage.entrypoints.rebuild import rebuild_spec as triage_spec
        from triage.settings import Settings as TriageSettings

        triage = TriageSettings.model_validate(values)
        return triage_spec(triage), triage
    if service == "sla-clock":
        from sla_clock.entrypoints.rebuild import rebuild_spec as sla_spec
        from sla_clock.settings import Settings as SlaSettings

        sla = SlaSettings.model_validate(values)
        return sla_spec(sla), sla
    from board.entrypoints.rebuild import rebuild_spec as board_spec
    from board.settings import Settings as BoardSettings

    board = BoardSettings.model_validate(values)
    return board_spec(board), board


async def drain_live(spec: RebuildSpec, settings: ServiceSettings) -> float:
    """Seconds for the live consumer to commit the whole backlog, from its start."""
    engine = create_engine(settings.database_url, settings.database_name)
    consumer = EventConsumer(
        engine,
        service=spec.service,
        handlers=spec.handlers,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        clock=SystemClock(),
        topic_prefix=settings.topic_prefix,
        batch_size=settings.consumer_batch_size,
    )
    bootstrap = settings.kafka_bootstrap_servers
    partitions = await partitions_of(bootstrap, consumer.topics)
    _, end = await log_bounds(bootstrap, partitions)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(stop))
    try:
        while True:
            committed = await group_offsets(bootstrap, consumer.group_id)
            if all(committed.get(tp, 0) >= end[tp] for tp in partitions if end[tp]):
                return time.perf_counter() - started
            if task.done():
                task.result()
                raise RuntimeError("the live consumer stopped")
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
        await engine.dispose()


async def bench(bootstrap: str, database_url: str, service: str, events: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix)
    messages = backlog("triage" if service == "triage" else "sla-clock", events)
    await produce(bootstrap, prefix, messages)
    n = len(messages)
    values = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "database_name": f"bench_live_{uuid.uuid4().hex[:8]}",
    }
    spec, settings = spec_and_settings(service, values)
    await asyncio.to_thread(migrate, settings, spec.migrations)
    try:
        live = await drain_live(spec, settings)
        progress = io.StringIO()
        started = time.perf_counter()
        rebuilt = await rebuild(spec, settings, out=progress)
        total = time.perf_counter() - started
    finally:
        await drop_database(database_url, settings.database_name)
    replay = rebuilt.replayed.seconds
    print(f"{service}: {n:,} events on the log")
    print(f"  live consumer drained them in {live:,.1f} s: {n / live:,.0f} events/s")
    print(
        f"  rebuild replayed them in {replay:,.1f} s: {n / replay:,.0f} events/s ({live / replay:.2f}x the live rate)"
    )
    print(f"  rebuild in all (shadow created and migrated, replay, compare, drop): {total:,.1f} s")
    print(f"  shadow {'identical' if rebuilt.identical else 'DIFFERENT'}: {[t.table for t in rebuilt.comparisons]}")
    print(f"  at this rate a million events take {1_000_000 / (n / replay) / 60:,.0f} minutes to replay")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", choices=["triage", "sla-clock", "board"], default="triage")
    parser.add_argument("--events", type=int, default=4_000)
    args = parser.parse_args()
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        asyncio.run(bench(kafka, database, args.service, args.events))
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(tmp),
            cache_dir=env.cache_dir,
            kafka_port=int(os.environ.get("REBUILD_BENCH_KAFKA_PORT", "18590")),
            kafka_controller_port=int(os.environ.get("REBUILD_BENCH_KAFKA_CONTROLLER_PORT", "18591")),
            postgres_port=int(os.environ.get("REBUILD_BENCH_POSTGRES_PORT", "18595")),
        )
        servers = Servers(config, durable=False)
        servers.start()
        try:
            asyncio.run(bench(servers.bootstrap_servers, servers.database_url, args.service, args.events))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
