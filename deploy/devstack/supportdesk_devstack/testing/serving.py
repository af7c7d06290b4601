"""A service's ASGI app in the test's own event loop: called in process (its lifespan running its
relay, consumer and workers), or served by a real uvicorn server; and a probe of whether that loop
stays free while a request is handled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from ..process import free_port


@asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling `app` in process, with its lifespan started and stopped around the block."""
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        yield client


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """`app` served on a free port until the block ends; yields its base URL. As the services
    serve: the peer is the client, X-Forwarded-For read only by the app (from trusted proxies)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, proxy_headers=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: raise why
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


async def while_healthz(url: str, request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The request's answer, and the longest wait for a `/healthz` answer while it was handled.
    The server runs on this event loop: a stall while the probe pauses between requests delays the
    pause, so each round is timed whole (pause included) and the pause taken off."""
    pause, slowest = 0.02, 0.0
    async with httpx.AsyncClient(base_url=url, timeout=60) as probe:
        await probe.get("/healthz")  # the connection is open before the request starts
        pending = asyncio.ensure_future(request)
        last = time.perf_counter()
        while not pending.done():
            assert (await probe.get("/healthz")).status_code == 200
            await asyncio.sleep(pause)
            now = time.perf_counter()
            slowest, last = max(slowest, now - last - pause), now
    return pending.result(), slowest
