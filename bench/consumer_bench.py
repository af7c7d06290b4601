"""A service's consumer draining a backlog, against a bare consumer built from the same parts.

One embedded Kafka and PostgreSQL (free ports, throw-away data; or KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL). A backlog of N events is produced once; then, interleaved, R rounds of:
- ours: the service's real `EventConsumer` with its real handlers in a fresh, migrated database,
  timed until every event is in its inbox. Per ticket: triage: TicketOpened, which triages and
  records TicketTriaged; sla-clock and board: TicketOpened + TicketTriaged (the same backlog, so
  the two compare: `--service board --versus sla-clock`); escalation: TicketOpened +
  TicketTriaged + SlaAtRisk (which escalates); notifier: TicketOpened (email, with a requester) +
  TicketTriaged + SlaClockStarted (which queues the acknowledgement);
- floor: a bare aiokafka consumer reading the same topics in batches of the same size, parsing
  each message's JSON for its event id, and inserting the batch's ids into an inbox table in one
  transaction per batch (one multi-row INSERT), then committing offsets.
Each run has its own consumer group, so each reads the whole backlog. Prints events/s of each run,
the medians and the ratio ours / floor. Rates run from the first event in the inbox to the last
(joining the consumer group is not what is compared).

With `--baseline DIR` (another checkout, e.g. `git archive main libs services | tar -x -C DIR`),
each round also runs `ours` with that checkout's libraries and services, in a child process on
the same servers and backlog: before and after a change, paired in one run. With `--versus
SERVICE` each round also runs that service's consumer on the same backlog (from the `--baseline`
checkout when one is given), e.g. the board against sla-clock.

Run: .venv/bin/python bench/consumer_bench.py [--service triage|sla-clock|escalation|notifier|board]
     [--events N] [--rounds R] [--baseline DIR] [--versus SERVICE]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import (
    Channel,
    ClockKind,
    Event,
    Priority,
    RequestType,
    SlaAtRisk,
    SlaClockStarted,
    TicketOpened,
    TicketTriaged,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Headers, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import free_port
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine, drop_database, ensure_database
from supportdesk_messaging.handler_context import Handler
from supportdesk_service.migrations import migrate
from supportdesk_service.settings import ServiceSettings

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)  # a Monday, 09:00 Pacific
BATCH = 200


SERVICES = ("triage", "sla-clock", "escalation", "notifier", "board")
# The events of each ticket in a service's backlog; services on the same backlog compare directly.
PER_TICKET: dict[str, tuple[str, ...]] = {
    "triage": ("opened",),
    "sla-clock": ("opened", "triaged"),
    "board": ("opened", "triaged"),
    "escalation": ("opened", "triaged", "at_risk"),
    "notifier": ("opened", "triaged", "clock_started"),
}


def backlog(service: str, events: int) -> list[tuple[str, bytes, bytes, Headers]]:
    """(topic, key, value, headers) of the events the service is asked to drain: as the outbox
    relay publishes them, with the event_type, schema_version and id headers consumers route by."""
    clock = ManualClock(T0)
    out: list[tuple[str, bytes, bytes, Headers]] = []
    kinds = PER_TICKET[service]
    due = T0 + timedelta(hours=4)
    for n in range(events // len(kinds)):
        ticket = f"ticket-{n}"
        email = n % 2 == 1
        payloads: dict[str, tuple[Event, str]] = {
            "opened": (
                TicketOpened(
                    number=f"TKT-{n}",
                    channel=Channel.EMAIL if email else Channel.WEB,
                    subject=f"subject {n}",
                    description="The export is empty",
                    requester_email=f"requester{n}@example.com",
                    opened_at=T0,
                    plan="gold",
                    policy="data-insights",
                ),
                "intake",
            ),
            "triaged": (
                TicketTriaged(
                    priority=Priority.HIGH,
                    severity=2,
                    request_type=RequestType.PROBLEM,
                    queue="technical",
                    sla_exempt=False,
                    swat=False,
                    rule="bench",
                    channel=Channel.WEB,
                    plan="gold",
                    policy="data-insights",
                    opened_at=T0,
                ),
                "triage",
            ),
            "at_risk": (SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=due), "sla-clock"),
            "clock_started": (
                SlaClockStarted(
                    clock=ClockKind.FIRST_RESPONSE,
                    started_at=T0,
                    due_at=due,
                    target_seconds=4 * 3600,
                    calendar="pacific",
                    policy_version="data-insights@1",
                ),
                "sla-clock",
            ),
        }
        for kind in kinds:
            payload, producer = payloads[kind]
            key, value, headers = encode(new_envelope(payload, ticket_id=ticket, producer=producer, clock=clock))
            out.append((payload.topic.value, key, value, headers))
    return out


TOPIC_OF = {"opened": Topic.LIFECYCLE, "triaged": Topic.TRIAGE, "at_risk": Topic.SLA, "clock_started": Topic.SLA}


def topics_of(service: str) -> list[str]:
    return sorted({TOPIC_OF[kind].value for kind in PER_TICKET[service]})


async def produce(bootstrap: str, prefix: str, messages: list[tuple[str, bytes, bytes, Headers]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(prefix + topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in messages
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def service_handlers(service: str) -> Mapping[str, Handler]:
    if service == "triage":
        from triage.adapters.rule_files import load_rules
        from triage.service_layer.handlers import handlers as triage_handlers

        return triage_handlers(load_rules())
    if service == "escalation":
        from escalation.service_layer.handlers import HANDLERS

        return HANDLERS
    if service == "notifier":
        from notifier.adapters.routing_file import load_routing
        from notifier.adapters.templates import Templates
        from notifier.service_layer.handlers import Notifier
        from notifier.service_layer.handlers import handlers as notifier_handlers
        from notifier.settings import Settings as NotifierSettings

        settings = NotifierSettings()
        return notifier_handlers(
            Notifier(settings, load_routing(settings.routing_file), Templates(settings.template_dir))
        )
    if service == "board":
        from board.service_layer.handlers import handlers as board_handlers

        return board_handlers()
    from sla_clock.adapters.policy_book import PolicyBook
    from sla_clock.service_layer.handlers import handlers as sla_handlers

    return sla_handlers(PolicyBook("data-insights", "basic"))


async def inbox_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one())


async def drain_rate(engine: AsyncEngine, events: int, task: asyncio.Task[None]) -> float:
    """Events/s from the first event in the inbox to the last: joining the consumer group and
    fetching metadata are the same for both sides and not what is compared."""
    first: tuple[float, int] | None = None
    while (done := await inbox_count(engine)) < events:
        if first is None and done:
            first = (time.perf_counter(), done)
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the consumer stopped before draining the backlog")
        await asyncio.sleep(0.02)
    if first is None:  # drained within one poll: the first batch is all of it
        raise RuntimeError(f"{events} events drained before the first poll; use a larger --events")
    return (events - first[1]) / (time.perf_counter() - first[0])


async def run_ours(servers: tuple[str, str], prefix: str, service: str, events: int) -> float:
    """Events/s."""
    bootstrap, database_url = servers
    name = f"bench_{service.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(DATABASE_URL=database_url, database_name=name)
    await asyncio.to_thread(migrate, settings, f"{service.replace('-', '_')}:migrations")
    engine = create_engine(database_url, name)
    consumer = EventConsumer(
        engine,
        service=service,
        handlers=service_handlers(service),
        bootstrap_servers=bootstrap,
        clock=ManualClock(T0),
        topic_prefix=prefix,
        batch_size=BATCH,
        group_id=f"{prefix}{name}",
    )
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(consumer.run(stop))
        rate = await drain_rate(engine, events, task)
        stop.set()
        await task
        return rate
    finally:
        await engine.dispose()
        await drop_database(database_url, name)


INBOX_DDL = """CREATE TABLE inbox (consumer text NOT NULL, event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))"""


async def run_floor(servers: tuple[str, str], prefix: str, service: str, events: int) -> float:
    """Events/s."""
    bootstrap, database_url = servers
    name = f"bench_floor_{uuid.uuid4().hex[:8]}"
    await ensure_database(database_url, name)
    engine = create_engine(database_url, name)
    async with engine.begin() as conn:
        await conn.execute(text(INBOX_DDL))
    topics = [prefix + topic for topic in topics_of(service)]
    stop = asyncio.Event()

    async def bare() -> None:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}{name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=BATCH,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=BATCH)
                if not batch:
                    continue
                ids = [json.loads(m.value)["event_id"] for msgs in batch.values() for m in msgs]
                rows = ",".join(f"(:c, CAST(:e{i} AS uuid))" for i in range(len(ids)))
                async with engine.begin() as conn:
                    await conn.execute(
                        text(f"INSERT INTO inbox (consumer, event_id) VALUES {rows} ON CONFLICT DO NOTHING"),
                        {"c": service, **{f"e{i}": e for i, e in enumerate(ids)}},
                    )
                await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batch.items()})
        finally:
            await consumer.stop()

    try:
        task = asyncio.create_task(bare())
        rate = await drain_rate(engine, events, task)
        stop.set()
        await task
        return rate
    finally:
        await engine.dispose()
        await drop_database(database_url, name)


async def run_baseline(baseline: Path, servers: tuple[str, str], prefix: str, service: str, events: int) -> float:
    """`ours` with another checkout's libraries and services (e.g. before a change), in a child
    process on the same servers and backlog, so before and after are paired in one run."""
    libs = sorted(os.listdir(baseline / "libs"))  # libs/events before the split, libs/* after
    roots = [*(baseline / "libs" / lib for lib in libs), *(baseline / "services" / s for s in SERVICES)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(r) for r in roots)}
    args = ["--service", service, "--events", str(events), "--only-ours", prefix, servers[0], servers[1]]
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the baseline run failed ({child.returncode})")
    return float(out.decode().strip().splitlines()[-1])


async def run_versus(
    versus: str, baseline: Path | None, servers: tuple[str, str], prefix: str, service: str, events: int
) -> float:
    """Another service's consumer on this service's backlog (the baseline checkout's, if any)."""
    if PER_TICKET[versus] != PER_TICKET[service]:
        raise ValueError(f"{versus} drains another backlog than {service}")
    if baseline is not None:
        return await run_baseline(baseline, servers, prefix, versus, events)
    return await run_ours(servers, prefix, versus, events)


async def bench(
    bootstrap: str,
    database_url: str,
    service: str,
    events: int,
    rounds: int,
    baseline: Path | None,
    versus: str | None = None,
) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix, partitions=6)  # as measured before the default became 12
    messages = backlog(service, events)
    events = len(messages)
    await produce(bootstrap, prefix, messages)
    print(f"{service}: backlog of {events:,} events produced; batches of {BATCH}; {rounds} interleaved rounds")
    runs: dict[str, list[float]] = {"floor": [], "ours": []}
    kinds: list[tuple[str, Callable[..., Any]]] = [("floor", run_floor), ("ours", run_ours)]
    if baseline is not None:
        runs["baseline"] = []
        kinds.append(("baseline", functools.partial(run_baseline, baseline)))
    if versus is not None:
        runs[versus] = []
        kinds.append((versus, functools.partial(run_versus, versus, baseline)))
    for r in range(rounds):
        for kind, run in kinds if r % 2 == 0 else list(reversed(kinds)):
            rate = await run((bootstrap, database_url), prefix, service, events)
            runs[kind].append(rate)
            print(f"  round {r + 1} {kind:10}: {rate:10,.0f} events/s")
    floor, ours = statistics.median(runs["floor"]), statistics.median(runs["ours"])
    print(
        f"{service} consumer: median {ours:,.0f} events/s; bare floor {floor:,.0f} events/s; ratio {ours / floor:.3f}x"
    )
    if baseline is not None:
        before = statistics.median(runs["baseline"])
        print(
            f"baseline ({baseline}): median {before:,.0f} events/s; ratio to floor {before / floor:.3f}x; "
            f"ours / baseline {ours / before:.2f}x"
        )
    if versus is not None:
        other = statistics.median(runs[versus])
        where = f" of {baseline}" if baseline is not None else ""
        print(
            f"{versus}{where} on the same backlog: median {other:,.0f} events/s; "
            f"ratio to floor {other / floor:.3f}x; {service} / {versus} {ours / other:.2f}x"
        )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retries while a fresh topic elects leaders
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", choices=SERVICES, default="triage")
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout to pair against (its libraries and services), e.g. git archive main libs services",
    )
    parser.add_argument(
        "--versus",
        choices=SERVICES,
        help="also run this service's consumer on the same backlog (the --baseline checkout's, if given)",
    )
    parser.add_argument("--only-ours", nargs=3, metavar=("PREFIX", "BOOTSTRAP", "DATABASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_ours:  # the child of run_baseline: one run, its rate on the last line
        prefix, kafka, database = args.only_ours
        print(asyncio.run(run_ours((kafka, database), prefix, args.service, args.events)))
        return
    baseline = args.baseline.resolve() if args.baseline else None
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        asyncio.run(bench(kafka, database, args.service, args.events, args.rounds, baseline, args.versus))
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(tmp),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
        )
        servers = Servers(config, durable=False)
        servers.start()
        try:
            asyncio.run(
                bench(
                    servers.bootstrap_servers,
                    servers.database_url,
                    args.service,
                    args.events,
                    args.rounds,
                    baseline,
                    args.versus,
                )
            )
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
