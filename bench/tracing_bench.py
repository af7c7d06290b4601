"""What tracing costs: triage's real consumer and relay with tracing off, against the same with
tracing on exporting every span over OTLP/HTTP to a receiver in another process.

One embedded Kafka and PostgreSQL (free ports, throw-away data). Interleaved rounds (off, on, off,
on, ...), each on a fresh topic prefix and a freshly migrated triage database: a backlog of N
TicketOpened is produced (in the `on` rounds each with a `traceparent` header, as intake's relay
sends them), then triage's `EventConsumer` (its real handlers: triage, record TicketTriaged) and
its `OutboxRelay` run until every TicketTriaged is published. The rate runs from the first event in
the inbox to the last row published (database time; joining the consumer group is not compared).
`on` sets tracing up in this process (`tracing.configure` with a BatchSpanProcessor and the OTLP
exporter: a span per handled event and per published event, the context stored with each row and
put in the headers), `off` is the default: nothing set up. Prints each round, the medians and the
ratio on / off, and the CPU this process spent per event (steadier than rates on a shared machine).

`--micro` measures the tracing calls alone, no servers: per event what the consumer and relay
call (a handler span, `capture()` inside it, a publish span from a stored context, its end), off,
on with an exporter that drops the spans, and on with one that encodes them as OTLP protobuf.

Run: .venv/bin/python bench/tracing_bench.py [--events N] [--rounds R] [--micro]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy import text

from supportdesk_contract.catalogue import Channel, TicketOpened
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import free_port
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine, drop_database
from supportdesk_messaging.relay import OutboxRelay
from supportdesk_observability import tracing
from supportdesk_service.migrations import migrate
from supportdesk_service.settings import ServiceSettings
from triage.adapters.rule_files import load_rules
from triage.service_layer.handlers import handlers as triage_handlers

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # an upstream (intake) span

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
"""


async def produce(bootstrap: str, prefix: str, events: int, traced: bool) -> None:
    clock = ManualClock(T0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = []
        for n in range(events):
            opened = TicketOpened(
                number=f"TKT-{n}", channel=Channel.WEB, subject=f"subject {n}", description="d", opened_at=T0
            )
            key, value, headers = encode(new_envelope(opened, ticket_id=f"ticket-{n}", producer="intake", clock=clock))
            if traced:
                headers = [*headers, ("traceparent", TRACEPARENT.encode())]
            sends.append(await producer.send(prefix + Topic.LIFECYCLE.value, value=value, key=key, headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def one_round(bootstrap: str, database_url: str, events: int, traced: bool, endpoint: str) -> tuple[float, float]:
    """(events/s, this process's CPU milliseconds per event, the exporter's thread included)."""
    prefix = f"b{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix)
    database = f"bench_tracing_{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(database_url=database_url, database_name=database)
    await asyncio.to_thread(migrate, settings, "triage:migrations")
    await produce(bootstrap, prefix, events, traced)
    if traced:
        tracing.configure("triage", processor=BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    engine = create_engine(database_url, database)
    stop = asyncio.Event()
    consumer = EventConsumer(
        engine,
        service="triage",
        handlers=triage_handlers(load_rules()),
        bootstrap_servers=bootstrap,
        clock=ManualClock(T0),
        topic_prefix=prefix,
    )
    relay = OutboxRelay(engine, service="triage", bootstrap_servers=bootstrap, topic_prefix=prefix)
    cpu = time.process_time()
    tasks = [asyncio.create_task(consumer.run(stop)), asyncio.create_task(relay.run(stop))]
    try:
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                done = (await conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NOT NULL"))).scalar()
            if done == events:
                break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError("the round did not finish")
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT min(processed_at) FROM inbox"))).scalar_one()
            last = (await conn.execute(text("SELECT max(published_at) FROM events"))).scalar_one()
            stored = (await conn.execute(text("SELECT count(trace_context) FROM events"))).scalar_one()
        assert (stored == events) if traced else (stored == 0), f"trace contexts stored: {stored}"
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await engine.dispose()
        tracing.shutdown()  # flushes the last spans (outside the timed window, inside the CPU count)
        cpu = time.process_time() - cpu
        await drop_database(database_url, database)
    return events / max((last - first).total_seconds(), 1e-6), cpu * 1000 / events


async def bench(bootstrap: str, database_url: str, events: int, rounds: int, endpoint: str) -> None:
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    await one_round(bootstrap, database_url, min(events, 200), False, endpoint)  # warm-up, not counted
    for r in range(rounds):
        for mode in ("off", "on"):
            rate, ms = await one_round(bootstrap, database_url, events, mode == "on", endpoint)
            rates[mode].append(rate)
            cpu[mode].append(ms)
            print(f"round {r + 1} tracing {mode}: {rate:,.0f} events/s, {ms:.2f} ms CPU/event", flush=True)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    per_round = ", ".join(f"{b / a:.2f}x" for a, b in zip(rates["off"], rates["on"], strict=True))
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    cpu_round = ", ".join(f"{b / a:.2f}x" for a, b in zip(cpu["off"], cpu["on"], strict=True))
    print(f"triage consumer + relay, {events} events, {rounds} rounds, load {os.getloadavg()[0]:.1f}")
    print(f"median tracing off: {off:,.0f} events/s; on (OTLP/HTTP): {on:,.0f} events/s")
    print(f"rate on / off: {on / off:.2f}x (per round {per_round})")
    print(f"median CPU per event off: {cpu_off:.2f} ms; on: {cpu_on:.2f} ms")
    print(f"CPU on / off: {cpu_on / cpu_off:.2f}x (per round {cpu_round})")


def micro(events: int = 5_000) -> None:
    from types import SimpleNamespace

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class Encode(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    opened = TicketOpened(number="TKT-1", channel=Channel.WEB, subject="s", description="d", opened_at=T0)
    env = new_envelope(opened, ticket_id="ticket-1", producer="intake", clock=ManualClock(T0))
    headers = [("traceparent", TRACEPARENT.encode())]
    msg = SimpleNamespace(topic="tickets.lifecycle", partition=1, offset=5, headers=headers)
    row = {"event_id": str(env.event_id), "ticket_id": "ticket-1", "event_type": "TicketOpened"}
    stored = json.dumps({"traceparent": TRACEPARENT})
    landed = SimpleNamespace(partition=1, offset=6)
    results = {}
    for label, exporter in (("off", None), ("on, spans dropped", Drop()), ("on, OTLP-encoded", Encode())):
        if exporter is not None:
            tracing.configure("triage", processor=BatchSpanProcessor(exporter))
        cpu = time.process_time()
        for _ in range(events):
            with tracing.handler_span("triage", "triage", msg, env):
                tracing.capture()
            sent: list[tuple[str, bytes]] = []
            tracing.end_publish(tracing.publish_span(stored, "tickets.triage", row, sent), landed)
        tracing.shutdown()  # flushes what is queued: counted
        results[label] = (time.process_time() - cpu) * 1e6 / events
        print(f"{label}: {results[label]:.1f} us CPU per event (a handler span and a publish span)")
    print(f"load {os.getloadavg()[0]:.1f}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retries while a fresh topic elects leaders
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--micro", action="store_true", help="the tracing calls alone, no servers")
    args = parser.parse_args()
    if args.micro:
        micro()
        return
    env = StackConfig.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        config = StackConfig(
            data_dir=Path(tmp),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
        )
        port = free_port()
        # The collector in a process of its own, as it would be: receiving is not our cost.
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
        servers = Servers(config, durable=False)
        servers.start()
        try:
            endpoint = f"http://127.0.0.1:{port}/v1/traces"
            asyncio.run(bench(servers.bootstrap_servers, servers.database_url, args.events, args.rounds, endpoint))
        finally:
            servers.stop()
            receiver.terminate()
            receiver.wait()


if __name__ == "__main__":
    main()
