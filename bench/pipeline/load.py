"""The open-loop load generator (a Python process of its own, or vegeta) and a phase: tickets
offered at a rate while the hops are read back from Kafka, until every accepted ticket is clocked."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import queue
import threading
import time
from pathlib import Path

import httpx
from vegeta import attack as vegeta_attack

from supportdesk_devstack.testing import RunningService, Sandbox

from .hops import watching
from .run import Run, drain, pct

# What the generator process reports, one item per request: (kind, ticket id, offered, on the
# wire, 2xx); the last is ("done", None, p99, max of its loop's lateness, 1.0 if it got nice -10).
Outcome = tuple[str, str | None, float, float, float]
SENDING = "http11.send_request_headers.started"  # httpcore's trace events
ANSWERED = "http11.receive_response_headers.complete"


def generate(url: str, rate: float, count: int, out: multiprocessing.Queue[Outcome]) -> None:
    """The load generator's process: its event loop only sends and reads answers, so the instants
    it takes are not late because something else held the loop (as when one loop also parsed
    Kafka batches, which put 2xx instants after the events they caused). On a loaded machine its
    instants are only as prompt as it is scheduled, so it asks for a higher priority (it uses a few
    percent of a core); whether it got it is reported with its lateness."""
    try:
        os.nice(-10)
        raised = 1.0
    except PermissionError:
        raised = 0.0
    autogroup = Path("/proc/self/autogroup")
    if raised and autogroup.exists():
        # With autogroups the kernel shares CPU between sessions before it looks at nice values (the
        # services each run in a session of their own), so the priority goes to a session of its own.
        try:
            os.setsid()
            autogroup.write_text("-10")
        except OSError:
            raised = 0.0
    asyncio.run(_offer(url, rate, count, out, raised))


async def _offer(url: str, rate: float, count: int, out: multiprocessing.Queue[Outcome], raised: float) -> None:
    """Open loop: ticket i is offered at start + i/rate whatever the answers' latency. Instants
    from httpcore's trace: request headers about to be written (after waiting for one of the 64
    connections) and response headers read. `out.put` does not block this loop (the queue's
    feeder thread writes the pipe). A ticker measures how late this loop runs what is due."""
    lateness: list[float] = []
    finished = asyncio.Event()

    async def ticker() -> None:
        while not finished.is_set():
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lateness.append(time.perf_counter() - due)

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    # Requests past the 64 connections wait here, not in httpcore's pool, which rescans all its
    # waiters on every release: with a burst of thousands that kept this loop busy for seconds.
    connections = asyncio.Semaphore(64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        ticking = asyncio.create_task(ticker())
        start = time.time()

        async def one(i: int) -> None:
            offered = start + i / (rate or 10_000.0)  # its slot in the open loop (0: as fast as it goes)
            await asyncio.sleep(max(0.0, offered - time.time()))
            instants: dict[str, float] = {}

            async def trace(event: str, info: dict[str, object]) -> None:
                if event in (SENDING, ANSWERED):
                    instants[event] = time.time()

            body = {"requester_email": f"bench{i}@customer.example", "subject": f"Bench {i}", "description": "load"}
            try:
                async with connections:
                    r = await client.post("/v1/tickets", json=body, extensions={"trace": trace})
            except httpx.HTTPError:
                out.put(("refused", None, offered, offered, time.time()))
                return
            wire, answered = instants.get(SENDING, offered), instants.get(ANSWERED, time.time())
            ticket = str(r.json()["ticket_id"]) if r.status_code == 202 else None
            out.put(("accepted" if ticket else "refused", ticket, offered, wire, answered))

        await asyncio.gather(*(one(i) for i in range(count)))
        finished.set()
        await ticking
    out.put(("done", None, pct(lateness, 99), max(lateness, default=float("nan")), raised))


def web_ticket(i: int) -> bytes:
    return json.dumps(
        {"requester_email": f"bench{i}@customer.example", "subject": f"Bench {i}", "description": "load"}
    ).encode()


async def phase(
    space: Sandbox,
    intake: RunningService,
    rate: float,
    count: int,
    drain_seconds: float,
    vegeta: Path | None,
    work: Path,
) -> Run:
    """Offer `count` tickets at `rate`/s (0: as fast as 64 clients get answers) from a load
    generator in a process of its own while this loop reads Kafka; then wait until every accepted
    ticket is clocked. With vegeta its per-request record comes back when it is done; the Python
    generator's outcomes come back over a queue as they happen, and this loop also notes when it got
    round to each 2xx: the old method, for comparison."""
    if vegeta is not None:
        return await _phase_vegeta(space, intake, rate, count, drain_seconds, vegeta, work)
    run = Run()
    stop = asyncio.Event()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    watcher = await watching(space, run, stop)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked event loop or sockets
    outcomes: multiprocessing.Queue[Outcome] = ctx.Queue()
    generator = ctx.Process(target=generate, args=(intake.url, rate, count, outcomes), daemon=True)

    def note(item: Outcome) -> None:
        kind, ticket, offered, wire, answered = item
        if kind == "accepted" and ticket is not None:
            run.offered[ticket], run.wire[ticket], run.accepted[ticket] = offered, wire, answered
            run.noted[ticket] = time.time()
        elif kind == "refused":
            run.refused += 1
        else:
            run.generator_lag = (offered, wire)
            run.generator_raised = answered == 1.0
            done.set()

    def relay() -> None:
        while True:
            try:
                item = outcomes.get(timeout=1.0)
            except queue.Empty:  # is the generator still there?
                if generator.is_alive():
                    continue
                item = ("done", None, float("nan"), float("nan"), 0.0)
            loop.call_soon_threadsafe(note, item)
            if item[0] == "done":
                return

    generator.start()
    reader = threading.Thread(target=relay, name="generator-outcomes", daemon=True)
    reader.start()
    await done.wait()
    await asyncio.to_thread(generator.join, 30)
    await drain(run, drain_seconds)
    stop.set()
    await watcher
    return run


async def _phase_vegeta(
    space: Sandbox, intake: RunningService, rate: float, count: int, drain_seconds: float, vegeta: Path, work: Path
) -> Run:
    run = Run(generator="vegeta")
    stop = asyncio.Event()
    watcher = await watching(space, run, stop)
    bodies = (web_ticket(i) for i in range(count))
    url = intake.url + "/v1/tickets"
    hits, run.generator_cpu = await asyncio.to_thread(
        vegeta_attack, vegeta, work, url, bodies, rate=rate, workers=64, name="phase"
    )
    for hit in hits:
        if hit.status == 202:
            ticket = str(json.loads(hit.body)["ticket_id"])
            run.offered[ticket] = run.wire[ticket] = hit.began
            run.accepted[ticket] = hit.answered
        else:
            run.refused += 1
    await drain(run, drain_seconds)
    stop.set()
    await watcher
    return run
