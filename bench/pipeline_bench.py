"""The whole pipeline on this machine: intake, triage, sla-clock, escalation and the notifier as real
processes on an embedded Kafka broker and PostgreSQL, on ports of their own.

It offers web tickets at a steady open-loop rate, then a burst (a backlog after an outage), and
prints, from what it reads back on Kafka: tickets/s accepted and clocked, latency percentiles per hop
from intake's 2xx (TicketOpened published, TicketTriaged, SlaClockStarted), and CPU per ticket per
service. Floors run in the same process on the same servers: a bare FastAPI endpoint doing what
intake's web form minimally must (ticket row + outbox row + NOTIFY in one transaction, SQLAlchemy
async + asyncpg), against intake at the same concurrency.

    .venv/bin/python bench/pipeline_bench.py                 # 100/s for 30 s, burst of 2,000
    .venv/bin/python bench/pipeline_bench.py --rate 200 --seconds 60 --burst 5000
    .venv/bin/python bench/pipeline_bench.py --quick         # a small run (CI-sized)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text

from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import ManagedProcess, wait_until
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, free_port, start_service
from supportdesk_events.admin import ensure_topics
from supportdesk_events.catalogue import Topic
from supportdesk_events.db import create_engine, ensure_database, service_url

sys.path.insert(0, str(Path(__file__).parent))
from consumer_bench import run_floor as consumer_floor

PIPELINE = ("intake", "triage", "sla-clock", "escalation", "notifier")
HOPS = ("TicketOpened", "TicketTriaged", "SlaClockStarted")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@dataclass
class Run:
    accepted: dict[str, float] = field(default_factory=dict)  # ticket id -> when intake answered 2xx
    seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (event type, ticket) -> on Kafka
    refused: int = 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def watch(space: Sandbox, run: Run, stop: asyncio.Event) -> None:
    """Read lifecycle, triage and sla as they are published; the record timestamp is when the
    producing relay sent it."""
    for attempt in range(5):  # a broker starved of CPU (a loaded machine) may miss a bootstrap
        consumer = AIOKafkaConsumer(
            *(space.prefix + t for t in (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA)),
            bootstrap_servers=space.servers.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            break
        except KafkaConnectionError:
            await consumer.stop()
            if attempt == 4:
                raise
            await asyncio.sleep(2)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for messages in batch.values():
                for m in messages:
                    env = json.loads(m.value)
                    if env["event_type"] in HOPS:
                        if env["event_type"] == "SlaClockStarted" and env["payload"]["clock"] != "first_response":
                            continue
                        run.seen.setdefault((env["event_type"], env["ticket_id"]), m.timestamp / 1000)
    finally:
        await consumer.stop()


async def offer(client: httpx.AsyncClient, run: Run, rate: float, count: int) -> float:
    """Open loop: ticket i is sent at start + i/rate whatever the answers' latency."""
    start = time.time()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        body = {"requester_email": f"bench{i}@customer.example", "subject": f"Bench {i}", "description": "load"}
        try:
            r = await client.post("/v1/tickets", json=body)
        except httpx.HTTPError:
            run.refused += 1
            return
        if r.status_code == 202:
            run.accepted[r.json()["ticket_id"]] = time.time()
        else:
            run.refused += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.time() - start


async def closed_loop(
    url: str, path: str, concurrency: int, seconds: float, pid: int
) -> tuple[float, float, float, float]:
    """Requests/s, p50 and p99 ms with `concurrency` clients each sending back to back, and the
    server process's (`pid`) CPU ms per request: steadier than rates on a loaded machine."""
    cpu_before = cpu_seconds(pid)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def worker(w: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                body = {"requester_email": f"c{w}-{i}@customer.example", "subject": "s", "description": "d"}
                t = time.perf_counter()
                r = await client.post(path, json=body)
                latencies.append(time.perf_counter() - t)
                assert r.status_code in (200, 201, 202), r.text
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.monotonic() - started
    cpu = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, len(latencies))
    return len(latencies) / elapsed, pct(latencies, 50) * 1000, pct(latencies, 99) * 1000, cpu


FLOOR_APP = textwrap.dedent(
    """
    # The floor: what a web form minimally does, built from the parts intake uses.
    import json, os, uuid
    from fastapi import FastAPI
    from pydantic import BaseModel
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(os.environ["FLOOR_DSN"], pool_size=10)
    app = FastAPI()

    class TicketIn(BaseModel):
        requester_email: str
        subject: str
        description: str

    @app.post("/tickets", status_code=202)
    async def open_ticket(t: TicketIn) -> dict[str, str]:
        ticket_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = {"id": ticket_id, "e": t.requester_email, "s": t.subject}
            await conn.execute(text("INSERT INTO tickets VALUES (:id, :e, :s)"), row)
            event = {"id": ticket_id, "env": json.dumps(t.model_dump())}
            await conn.execute(text("INSERT INTO outbox (ticket_id, envelope) VALUES (:id, :env)"), event)
            await conn.execute(text("NOTIFY outbox"))
        return {"ticket_id": ticket_id}
    """
)


@contextmanager
def floor_endpoint(space: Sandbox, work: Path) -> Iterator[tuple[str, int]]:
    database = space.database("floor")

    async def create() -> None:
        await ensure_database(space.servers.database_url, database)
        engine = create_engine(space.servers.database_url, database)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE tickets (id text PRIMARY KEY, email text, subject text)"))
            await conn.execute(
                text("CREATE TABLE outbox (position bigserial PRIMARY KEY, ticket_id text, envelope jsonb)")
            )
        await engine.dispose()

    asyncio.run(create())
    (work / "floor_app.py").write_text(FLOOR_APP)
    port = free_port()
    dsn = service_url(space.servers.database_url, database).render_as_string(hide_password=False)
    proc = ManagedProcess(
        "floor",
        [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--log-level", "warning"],
        work / "floor.log",
        env={"FLOOR_DSN": dsn, "PYTHONPATH": str(work)},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), timeout=30, what="floor endpoint", alive=proc.alive, log=proc.log)
    try:
        yield url, proc.proc.pid
    finally:
        proc.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/docs", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def drain(run: Run, stop_after: float) -> None:
    """Wait until every accepted ticket is clocked, or `stop_after` seconds pass."""
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        if all(("SlaClockStarted", t) in run.seen for t in run.accepted):
            return
        await asyncio.sleep(0.2)


def hop_latencies(run: Run, hop: str) -> list[float]:
    return [run.seen[(hop, t)] - at for t, at in run.accepted.items() if (hop, t) in run.seen]


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


def report_hops(title: str, run: Run) -> None:
    print(f"\n{title}: {len(run.accepted)} accepted, {run.refused} refused")
    for hop in HOPS:
        lat = hop_latencies(run, hop)
        missing = len(run.accepted) - len(lat)
        print(
            f"  2xx -> {hop:<16} p50 {pct(lat, 50) * 1000:8.0f} ms  p90 {pct(lat, 90) * 1000:8.0f} ms  "
            f"p99 {pct(lat, 99) * 1000:8.0f} ms  max {max(lat, default=float('nan')) * 1000:8.0f} ms"
            + (f"  ({missing} not seen)" if missing else "")
        )


async def phase(space: Sandbox, intake: RunningService, rate: float, count: int, drain_seconds: float) -> Run:
    run = Run()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(space, run, stop))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=intake.url, limits=limits, timeout=30) as client:
        await offer(client, run, rate, count)
    await drain(run, drain_seconds)
    stop.set()
    await watcher
    return run


def compare_intake(
    space: Sandbox, work: Path, intakes: dict[str, RunningService], seconds: float, rounds: int
) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """Intake (and a baseline checkout's, if given) against the floor endpoint, closed loop at c=1
    and c=8, rounds interleaved (floor, intake, baseline, floor, ...); medians, and ratios of the
    medians to the floor's. Returns the medians (rate, p50 ms, p99 ms, CPU ms per request) by
    (concurrency, name). Intake's CPU includes its relay publishing to Kafka; the floor has none."""
    medians: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    print(f"\nintake vs the floor (closed loop, same servers, same load generator, {rounds} round(s)):")
    with floor_endpoint(space, work) as (floor_url, floor_pid):
        for concurrency in (1, 8):
            runs: dict[str, list[tuple[float, float, float, float]]] = {"floor": [], **{n: [] for n in intakes}}
            for _ in range(rounds):
                runs["floor"].append(asyncio.run(closed_loop(floor_url, "/tickets", concurrency, seconds, floor_pid)))
                for name, svc in intakes.items():
                    pid = svc.process.proc.pid
                    runs[name].append(asyncio.run(closed_loop(svc.url, "/v1/tickets", concurrency, seconds, pid)))
            f_rate = statistics.median(r[0] for r in runs["floor"])
            f_cpu = statistics.median(r[3] for r in runs["floor"])
            for name, results in runs.items():
                rate, p50, p99, cpu = (statistics.median(r[k] for r in results) for k in range(4))
                medians[(concurrency, name)] = (rate, p50, p99, cpu)
                per_round = ", ".join(f"{r[0] / f[0]:.2f}x" for r, f in zip(results, runs["floor"], strict=True))
                print(
                    f"  c={concurrency} {name:<9} {rate:6.0f}/s p50 {p50:5.1f} ms p99 {p99:6.1f} ms "
                    f"CPU {cpu:4.2f} ms/ticket"
                    + (
                        ""
                        if name == "floor"
                        else f" | {rate / f_rate:.2f}x the floor's rate (per round {per_round}), "
                        f"{cpu / f_cpu:.1f}x its CPU per ticket"
                    )
                )
            print(f"  load average {os.getloadavg()[0]:.1f}")
    return medians


def start_baseline(space: Sandbox, work: Path, checkout: Path, extra: dict[str, str]) -> RunningService:
    """Intake from another checkout (e.g. `git archive main libs services | tar -x -C DIR`), on its
    own database: its modules come first on PYTHONPATH, ahead of this checkout's editable installs."""
    base = Sandbox(space.servers, prefix=space.prefix.rstrip(".") + "base.")
    asyncio.run(ensure_topics(space.servers.bootstrap_servers, base.prefix, partitions=12))
    path = os.pathsep.join(str(checkout / p) for p in ("libs/events", "services/intake"))
    return start_service("intake", base, work / "baseline", {**extra, "PYTHONPATH": path})


def bare_consumer_rate(space: Sandbox, events: int) -> float:
    """The floor for consumers (consumer_bench's): aiokafka batch reads of the lifecycle topic
    the runs filled, each batch's ids inserted into an inbox in one transaction; events/s over the
    first `events` (the tickets intake acknowledged: each is one TicketOpened there, at least)."""
    servers = (space.servers.bootstrap_servers, space.servers.database_url)
    return float(asyncio.run(consumer_floor(servers, space.prefix, "triage", events)))


def clocked_rate(run: Run) -> float:
    """Tickets clocked per second, from the first 2xx to the last SlaClockStarted."""
    ends = [run.seen[("SlaClockStarted", t)] for t in run.accepted if ("SlaClockStarted", t) in run.seen]
    if not ends:
        return 0.0
    return len(ends) / max(1e-9, max(ends) - min(run.accepted.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="tickets/s offered in the steady phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=2000, help="tickets sent as fast as intake takes them")
    parser.add_argument("--quick", action="store_true", help="20/s for 10 s, a burst of 300, short floors")
    parser.add_argument("--intake-only", action="store_true", help="only intake against the floor endpoint")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved intake/floor rounds (medians)")
    parser.add_argument("--baseline", type=Path, help="a checkout whose intake joins the floor comparison")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.burst = 20.0, 10.0, 300
    floor_seconds = 5.0 if args.quick else 10.0

    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-") as tmp:
        work = Path(tmp)
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=work / "data",
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            external_kafka=env.external_kafka,
            external_database_url=env.external_database_url,
        )
        servers = Servers(config, durable=False)
        servers.start()
        space = Sandbox(servers, prefix=f"bench{uuid.uuid4().hex[:6]}.")
        running: list[RunningService] = []
        try:
            asyncio.run(ensure_topics(servers.bootstrap_servers, space.prefix, partitions=12))
            with SmtpSink() as smtp:
                extra = {"NOTIFIER_SMTP_PORT": str(smtp.port), "LOG_LEVEL": "WARNING"}
                for name in ("intake",) if args.intake_only else PIPELINE:
                    running.append(start_service(name, space, work, extra))
                by_name = {s.name: s for s in running}
                pids = {s.name: s.process.proc.pid for s in running}
                intakes = {"intake": by_name["intake"]}
                if args.baseline is not None:
                    (work / "baseline").mkdir()
                    running.append(start_baseline(space, work, args.baseline.resolve(), extra))
                    intakes["baseline"] = running[-1]

                if args.intake_only:
                    print(f"intake bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
                    intake_goal(compare_intake(space, work, intakes, floor_seconds, args.rounds))
                    return
                print(f"pipeline bench: {os.cpu_count()} cores; services: {', '.join(PIPELINE)}")
                print(f"load average {os.getloadavg()[0]:.1f} at the start")
                before = {n: cpu_seconds(p) for n, p in pids.items()}
                steady = asyncio.run(phase(space, by_name["intake"], args.rate, int(args.rate * args.seconds), 120.0))
                after = {n: cpu_seconds(p) for n, p in pids.items()}
                report_hops(f"steady {args.rate:.0f} tickets/s offered for {args.seconds:.0f} s", steady)
                clocked = len([t for t in steady.accepted if ("SlaClockStarted", t) in steady.seen])
                print(f"  clocked {clocked}/{len(steady.accepted)}; CPU per ticket (ms):", end="")
                total = 0.0
                for n in PIPELINE:
                    ms = (after[n] - before[n]) * 1000 / max(1, len(steady.accepted))
                    total += ms
                    print(f" {n} {ms:.1f}", end="")
                print(f"; all services {total:.1f}; load average {os.getloadavg()[0]:.1f}")

                before = {n: cpu_seconds(p) for n, p in pids.items()}
                burst = asyncio.run(phase(space, by_name["intake"], 10_000.0, args.burst, 300.0))
                after = {n: cpu_seconds(p) for n, p in pids.items()}
                report_hops(f"burst of {args.burst} tickets", burst)
                burst_clocked = len([t for t in burst.accepted if ("SlaClockStarted", t) in burst.seen])
                sustained = clocked_rate(burst)
                cpu = sum(after[n] - before[n] for n in PIPELINE) * 1000 / max(1, len(burst.accepted))
                print(
                    f"  sustained: {sustained:.0f} tickets/s clocked end to end ({burst_clocked}/"
                    f"{len(burst.accepted)} clocked); {cpu:.1f} ms CPU per ticket, all services; "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
                floor_rate = bare_consumer_rate(space, len(steady.accepted) + len(burst.accepted))
                print(
                    f"\nbare consumer (aiokafka batches + one inbox insert per batch) on the same lifecycle topic: "
                    f"{floor_rate:.0f} events/s; the pipeline clocks {sustained / floor_rate:.3f}x that in tickets/s "
                    "(each ticket is consumed by triage, then sla-clock twice: lifecycle and triage)"
                )
                medians = compare_intake(space, work, intakes, floor_seconds, args.rounds)

                steady_p99 = pct(hop_latencies(steady, "SlaClockStarted"), 99) * 1000
                print("\ngoals (issue 11):")
                goal(
                    f"p99 2xx -> SlaClockStarted < 250 ms at {args.rate:.0f}/s for {args.seconds:.0f} s "
                    "(goal: 100/s for 60 s), every ticket clocked",
                    steady_p99 < 250 and clocked == len(steady.accepted) and not steady.refused,
                    f"{steady_p99:.0f} ms, {clocked}/{len(steady.accepted)} clocked, {steady.refused} refused",
                )
                goal(
                    ">= 200 tickets/s sustained through the pipeline, every ticket clocked",
                    sustained >= 200 and burst_clocked == len(burst.accepted) and not burst.refused,
                    f"{sustained:.0f}/s, {burst_clocked}/{len(burst.accepted)} clocked, {burst.refused} refused",
                )
                intake_goal(medians)
        finally:
            for s in reversed(running):
                s.process.stop()
            servers.stop()


if __name__ == "__main__":
    main()
