"""The floors: a bare FastAPI + SQLAlchemy endpoint doing what intake's web form minimally must,
and consumer_bench's bare consumer on the lifecycle topic the runs filled."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from consumer_bench import run_floor as consumer_floor
from sqlalchemy import text

from supportdesk_devstack.process import ManagedProcess, wait_until
from supportdesk_devstack.testing import Sandbox, free_port
from supportdesk_messaging.db import create_engine, ensure_database, service_url

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


def bare_consumer_rate(space: Sandbox, events: int) -> float:
    """The floor for consumers (consumer_bench's): aiokafka batch reads of the lifecycle topic
    the runs filled, each batch's ids inserted into an inbox in one transaction; events/s over the
    first `events` (the tickets intake acknowledged: each is one TicketOpened there, at least)."""
    servers = (space.servers.bootstrap_servers, space.servers.database_url)
    return float(asyncio.run(consumer_floor(servers, space.prefix, "triage", events)))
