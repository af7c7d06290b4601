"""Closed-loop ticket creation over HTTP: a contender (intake, the floor, a peer), how it takes a
ticket, and clients sending back to back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from .run import pct

# A contender's ticket creation: `prepare(client)` does what a client does once before its first
# ticket (e.g. load the form for its CSRF token) and returns `submit(i)`, which creates ticket i
# and raises if it was not accepted.
Submit = Callable[[int], Awaitable[None]]
Prepare = Callable[[httpx.AsyncClient], Awaitable[Submit]]


def json_tickets(path: str) -> Prepare:
    """Intake's and the floor's path: one JSON POST, answered 2xx."""

    async def prepare(client: httpx.AsyncClient) -> Submit:
        async def submit(i: int) -> None:
            body = {"requester_email": f"c{i}@customer.example", "subject": "s", "description": "d"}
            r = await client.post(path, json=body)
            assert r.status_code in (200, 201, 202), r.text

        return submit

    return prepare


async def closed_loop(
    url: str, concurrency: int, seconds: float, cpu: Callable[[], float], prepare: Prepare
) -> tuple[float, float, float, float, int]:
    """Requests/s, p50 and p99 ms with `concurrency` clients each sending back to back, the server's
    CPU ms per request (`cpu()` reads its seconds), and the number of requests: steadier than rates
    on a loaded machine."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        # One after the other, before the clock starts: concurrent first visits to a Django form
        # would each be handed a new CSRF cookie, and all but the last one's tokens would not match.
        submits = [await prepare(client) for _ in range(concurrency)]
        cpu_before = cpu()
        deadline = time.monotonic() + seconds

        async def worker(w: int, submit: Submit) -> None:
            i = 0
            while time.monotonic() < deadline:
                t = time.perf_counter()
                await submit(w * 1_000_000 + i)
                latencies.append(time.perf_counter() - t)
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(w, s) for w, s in enumerate(submits)))
        elapsed = time.monotonic() - started
        cpu_ms = (cpu() - cpu_before) * 1000 / max(1, len(latencies))
    return len(latencies) / elapsed, pct(latencies, 50) * 1000, pct(latencies, 99) * 1000, cpu_ms, len(latencies)


@dataclass
class Contender:
    """Something that creates tickets over HTTP, for the closed-loop comparison."""

    name: str
    url: str
    cpu: Callable[[], float]
    prepare: Prepare
    stored: Callable[[], int] | None = None  # tickets really in its database, when we count them
    json_path: str | None = None  # where it takes a ticket as one JSON POST (what vegeta can send)
