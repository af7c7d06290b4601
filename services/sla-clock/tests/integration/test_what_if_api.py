"""POST /v1/sla/what-if on the real broker and database: facts recorded through Kafka, a draft
policy tried on them, the flips named, and not one live clock or event touched."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sla_clock.entrypoints.app import build_app
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import AgentResponded, Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate

from .facts import OPENED, T0, TRIAGED, H, send

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}
SLA_CLOCK = str(Path(sys.executable).parent / "sla-clock")
SHIPPED = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
DRAFT = SHIPPED.replace("gold:     {urgent: 1h,   high: 2h,", "gold:     {urgent: 1h,   high: 4h,")


@pytest.fixture
async def sla(space: Sandbox) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
        api_keys="ann=ann-key",
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    app = build_app(settings, ManualClock(T0 + 30 * 24 * H))
    async with in_process(app) as c:
        yield c, settings


async def rows(settings: Settings, sql: str) -> list[Any]:
    engine = create_engine(settings.database_url, settings.database_name)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def test_a_draft_policy_tried_on_recorded_history(
    space: Sandbox, sla: tuple[httpx.AsyncClient, Settings]
) -> None:
    client, settings = sla
    for ticket, answered in (("fast", H), ("slow", 3 * H)):
        await send(
            space,
            ticket,
            Topic.LIFECYCLE,
            (opened(**OPENED), T0),
            (AgentResponded(agent="a", body="hi"), T0 + answered),
        )
        await send(space, ticket, Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))

    async def both_stopped() -> bool:
        found = await rows(settings, "SELECT 1 FROM clocks WHERE clock = 'first_response' AND state = 'stopped'")
        return len(found) == 2

    await eventually(both_stopped, what="both first responses stopped")
    clocks_before = await rows(settings, "SELECT * FROM clocks ORDER BY ticket_id, clock")
    events_before = await rows(settings, "SELECT count(*) FROM events")

    body = {"policy": DRAFT, "opened_from": (T0 - H).isoformat(), "opened_to": (T0 + H).isoformat()}
    r = await client.post("/v1/sla/what-if", json=body, headers=AGENT)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["tickets"] == 2 and report["policy"] == "data-insights"
    [row] = report["rows"]
    assert (row["plan"], row["priority"]) == ("gold", "high")
    assert (row["live"]["met"], row["live"]["breached"], row["draft"]["met"], row["draft"]["breached"]) == (1, 1, 2, 0)
    assert report["flips"] == [{"ticket_id": "slow", "clock": "first_response", "live": "breached", "draft": "met"}]

    # Nothing live moved.
    assert await rows(settings, "SELECT * FROM clocks ORDER BY ticket_id, clock") == clocks_before
    assert await rows(settings, "SELECT count(*) FROM events") == events_before

    outside = {**body, "opened_from": (T0 + H).isoformat(), "opened_to": (T0 + 2 * H).isoformat()}
    assert (await client.post("/v1/sla/what-if", json=outside, headers=AGENT)).json()["tickets"] == 0
    broken = await client.post("/v1/sla/what-if", json={**body, "policy": "name: [unclosed"}, headers=AGENT)
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "body.policy"
    backwards = await client.post("/v1/sla/what-if", json={**body, "opened_to": body["opened_from"]}, headers=AGENT)
    assert backwards.status_code == 422
    assert (await client.post("/v1/sla/what-if", json=body)).status_code == 401


async def test_the_same_report_from_the_command_line(
    space: Sandbox, sla: tuple[httpx.AsyncClient, Settings], tmp_path: Path
) -> None:
    _, settings = sla
    await send(
        space, "cli", Topic.LIFECYCLE, (opened(**OPENED), T0), (AgentResponded(agent="a", body="hi"), T0 + 3 * H)
    )
    await send(space, "cli", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))

    async def stopped() -> bool:
        return bool(await rows(settings, "SELECT 1 FROM clocks WHERE ticket_id = 'cli' AND state = 'stopped'"))

    await eventually(stopped, what="the first response stopped")
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SLA_CLOCK_DATABASE_NAME": settings.database_name,
    }
    args = ["--policy", str(draft), "--from", (T0 - H).isoformat(), "--to", (T0 + H).isoformat()]
    done = await asyncio.to_thread(what_if_cli, env, *args)
    assert done.returncode == 0, done.stderr
    assert "outcomes that flip: 1" in done.stdout and "cli first_response: breached -> met" in done.stdout
    refused = await asyncio.to_thread(what_if_cli, env, *args[:2], "--from", "2026-01-01", "--to", "2026-02-01")
    assert refused.returncode == 2 and "UTC offset" in refused.stderr


def what_if_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SLA_CLOCK, "what-if", *args], env=env, capture_output=True, text=True, timeout=60)
