"""Every answer is problem+json, on a real uvicorn server, a real broker and a real PostgreSQL:
503 with Retry-After while the database is down, 500 with the correlation id for our own bugs
(and the keep-alive connection survives), 413 for a body over the limit, 408 for a body that
never arrives, 422 naming the field for NUL, and readiness that tells degraded from not ready."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Body
from sqlalchemy import MetaData, text

from supportdesk_devstack.postgres import PostgresServer
from supportdesk_devstack.testing import Sandbox, free_port
from supportdesk_messaging.db import ensure_database, plumbing_tables
from supportdesk_observability.health import Health
from supportdesk_service import runtime as runtime_module
from supportdesk_service.app import create_app
from supportdesk_service.problems import PROBLEM_JSON
from supportdesk_service.runtime import Runtime, ServiceDefinition, ServiceRuntime
from supportdesk_service.settings import ServiceSettings

pytestmark = pytest.mark.integration

DATABASE = "web_errors"
router = APIRouter()


@router.get("/v1/boom")
async def boom() -> dict[str, str]:
    raise RuntimeError("a bug of ours")


@router.get("/v1/items/{item_id}")
async def item(item_id: str, runtime: Runtime) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        found = (await conn.execute(text("SELECT :id AS id"), {"id": item_id})).scalar_one()
    return {"id": found}


@router.post("/v1/echo")
async def echo(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return body


@dataclass
class Served:
    url: str
    runtime: ServiceRuntime


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, so stopping it leaves the session's servers alone."""
    with tempfile.TemporaryDirectory(prefix="supportdesk-own-pg-") as data_dir:
        server = PostgresServer(Path(data_dir), "127.0.0.1", free_port(), durable=False)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@asynccontextmanager
async def serve(space: Sandbox, database_url: str, kafka: str | None = None, **settings: Any) -> AsyncIterator[Served]:
    await ensure_database(database_url, DATABASE)
    service_settings = ServiceSettings(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka or space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=DATABASE,
        **settings,
    )
    app = create_app(ServiceDefinition(name="probe", settings=service_settings, routers=[router]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    runtime: ServiceRuntime = app.state.runtime
    async with runtime.engine.begin() as conn:
        metadata = MetaData()
        plumbing_tables(metadata)
        await conn.run_sync(metadata.create_all)
    try:
        yield Served(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


async def test_database_down_is_503_with_retry_after_and_readiness_not_ready_then_recovers(
    space: Sandbox, own_postgres: PostgresServer
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{own_postgres.port}/postgres"
    async with serve(space, url) as served, httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        assert (await http.get("/v1/items/a")).json() == {"id": "a"}
        await asyncio.to_thread(own_postgres.stop)
        try:
            down = await http.get("/v1/items/b")
            body = is_problem(down, 503)
            assert down.headers["retry-after"].isdigit()
            assert body["correlation_id"] == down.headers["x-correlation-id"]
            # The connection stays usable: the next request answers on it.
            live = await http.get("/healthz")
            assert live.status_code == 200
            assert live.extensions["network_stream"] is down.extensions["network_stream"]
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not ready"
            assert ready.json()["checks"]["database"].startswith("failing: unavailable")
        finally:
            await asyncio.to_thread(own_postgres.start)
        assert (await http.get("/v1/items/c")).json() == {"id": "c"}
        assert (await http.get("/readyz")).json()["checks"]["database"] == "ok"


async def test_a_bug_is_500_problem_json_with_the_correlation_id_logged_and_the_connection_kept(
    space: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        serve(space, space.servers.database_url) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):
        with caplog.at_level(logging.ERROR):
            r = await http.get("/v1/boom", headers={"X-Correlation-Id": "req-42"})
        body = is_problem(r, 500)
        assert body["correlation_id"] == "req-42" == r.headers["x-correlation-id"]
        assert "a bug of ours" not in r.text  # the trace is logged, not shown
        logged = [rec for rec in caplog.records if rec.exc_info and "a bug of ours" in str(rec.exc_info[1])]
        assert logged, "the traceback is logged"
        again = await http.post("/v1/echo", json={"same": "connection"})
        assert again.json() == {"same": "connection"}
        assert again.extensions["network_stream"] is r.extensions["network_stream"]
        # Made up when the caller sends none, and echoed.
        made = await http.get("/v1/boom")
        assert is_problem(made, 500)["correlation_id"] == made.headers["x-correlation-id"] != "req-42"


async def test_nul_in_path_query_and_body_is_422_naming_the_field(space: Sandbox) -> None:
    async with (
        serve(space, space.servers.database_url) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):
        fields = lambda r: [e["field"] for e in is_problem(r, 422)["errors"]]  # noqa: E731
        assert fields(await http.get("/v1/items/a%00b")) == ["path.item_id"]
        assert fields(await http.get("/v1/items/a", params={"week": "2026\x00"})) == ["query.week"]
        assert fields(await http.post("/v1/echo", json={"queue": {"name": "a\x00"}})) == ["body.queue.name"]
        assert fields(
            await http.post("/v1/echo", content=b'{"q": "\\ud800"}', headers={"content-type": "application/json"})
        ) == ["body.q"]


async def raw_exchange(port: int, head: bytes, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        # A liveness guard, not a speed assertion: before the fix no answer ever came.
        return await asyncio.wait_for(reader.read(65536), 60)
    finally:
        writer.close()


async def test_a_body_over_the_limit_is_413_and_one_that_never_arrives_is_408(space: Sandbox) -> None:
    async with serve(space, space.servers.database_url, http_body_timeout_seconds=1.0) as served:
        port = int(served.url.rsplit(":", 1)[1])

        def head(length: int) -> bytes:
            return (
                f"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n"
            ).encode()

        too_large = await raw_exchange(port, head(100_000_000), b'{"a": 1}  ')
        assert too_large.startswith(b"HTTP/1.1 413 "), too_large[:200]
        assert PROBLEM_JSON.encode() in too_large
        stalled = await raw_exchange(port, head(1_000_000), b'{"a": 1}  ')
        assert stalled.startswith(b"HTTP/1.1 408 "), stalled[:200]
        assert PROBLEM_JSON.encode() in stalled and b"connection: close" in stalled.lower()


async def test_readiness_failing_part_is_503_degraded_part_is_200(space: Sandbox, monkeypatch: Any) -> None:
    async with (
        serve(space, space.servers.database_url) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        monkeypatch.setattr(served.runtime.relay, "health", lambda: Health("degraded", "broker unreachable"))
        degraded = await http.get("/readyz")
        assert (degraded.status_code, degraded.json()["status"]) == (200, "degraded")
        assert degraded.json()["checks"]["outbox-relay"] == "degraded: broker unreachable"
        monkeypatch.setattr(served.runtime.relay, "health", lambda: Health("failing", "no progress for 60 s"))
        failing = await http.get("/readyz")
        assert (failing.status_code, failing.json()["status"]) == (503, "not ready")


async def test_a_flood_of_readyz_opens_one_broker_admin_client(space: Sandbox, monkeypatch: Any) -> None:
    opened: list[AIOKafkaAdminClient] = []

    class Counted(AIOKafkaAdminClient):  # the real client, counted as it is made
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            opened.append(self)

    monkeypatch.setattr(runtime_module, "AIOKafkaAdminClient", Counted)
    async with (
        serve(space, space.servers.database_url) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30, limits=httpx.Limits(max_connections=50)) as http,
    ):
        answers = await asyncio.gather(*(http.get("/readyz") for _ in range(50)))
        assert [(r.status_code, r.json()["checks"]["kafka"]) for r in answers] == [(200, "ok")] * 50
        assert len(opened) <= 2, f"{len(opened)} admin clients for 50 /readyz"
        before = len(opened)
        await asyncio.sleep(runtime_module.KAFKA_CHECK_TTL_SECONDS + 0.1)
        assert (await http.get("/readyz")).json()["checks"]["kafka"] == "ok"
        assert len(opened) == before + 1, "a result older than the TTL is checked again"


async def test_kafka_down_is_degraded_not_unready_and_requests_still_work(space: Sandbox) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # no broker listens here
    async with (
        serve(space, space.servers.database_url, kafka=nobody) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "degraded"), ready.text
        assert ready.json()["checks"]["kafka"].startswith("degraded: unavailable")
        assert ready.json()["checks"]["database"] == "ok"
        assert (await http.get("/v1/items/a")).json() == {"id": "a"}
