"""The policy admin endpoints and commands on the real database: versions listed, retarget over
HTTP (422 naming the field, 404 for an unknown policy, admin key only), deactivate/activate from
the command line."""

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

from sla_clock.adapters.policy_book import policy_book
from sla_clock.entrypoints.app import build_app
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate

from .facts import OPENED, T0, TRIAGED, send
from .test_policy_versions import VERSION_BLOCK

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key"}
AGENT = {"Authorization": "Bearer ann-key"}
SLA_CLOCK = str(Path(sys.executable).parent / "sla-clock")


@pytest.fixture
async def sla(space: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    shipped = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
    (tmp_path / "data-insights.yaml").write_text(shipped + VERSION_BLOCK)
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
        api_keys="ann=ann-key",
        admin_api_keys="root=admin-key",
        policy_dir=str(tmp_path),
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    app = build_app(settings, ManualClock(T0))
    async with in_process(app) as c:
        yield c, settings
    policy_book.cache_clear()  # the book of this test's policy directory


async def rows(settings: Settings, sql: str) -> list[Any]:
    engine = create_engine(settings.database_url, settings.database_name)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


def cli(settings: Settings, tmp: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SLA_CLOCK_DATABASE_NAME": settings.database_name,
        "SLA_CLOCK_POLICY_DIR": tmp,
    }
    return subprocess.run([SLA_CLOCK, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_retarget_over_http_and_deactivate_from_the_command_line(
    space: Sandbox, sla: tuple[httpx.AsyncClient, Settings]
) -> None:
    client, settings = sla
    await send(space, "web", Topic.LIFECYCLE, (opened(**OPENED), T0))
    await send(space, "web", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))

    async def running() -> bool:
        return bool(await rows(settings, "SELECT 1 FROM clocks WHERE ticket_id = 'web' AND state = 'running'"))

    await eventually(running, what="the clock running")

    view = await client.get("/v1/admin/sla/policies/data-insights", headers=ADMIN)
    assert view.status_code == 200, view.text
    body = view.json()
    assert (body["active"], body["in_force"]) == (True, "2026-11-22.1")
    assert [v["version"] for v in body["versions"]] == ["2026-11-22.1", "2026-12"]
    assert (await client.get("/v1/admin/sla/policies/data-insights", headers=AGENT)).status_code in (401, 403)
    assert (await client.get("/v1/admin/sla/policies/nope", headers=ADMIN)).status_code == 404

    ask = {"to_version": "2026-12", "by": "lead@example.com", "reason": "new contract"}
    unknown = await client.post(
        "/v1/admin/sla/policies/data-insights/retarget", json={**ask, "to_version": "x"}, headers=ADMIN
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.to_version"
    done = await client.post("/v1/admin/sla/policies/data-insights/retarget", json=ask, headers=ADMIN)
    assert done.status_code == 200, done.text
    assert [(c["ticket_id"], c["clock"], c["target_seconds"]) for c in done.json()["changes"]] == [
        ("web", "first_response", 3600)
    ]
    again = await client.post("/v1/admin/sla/policies/data-insights/retarget", json=ask, headers=ADMIN)
    assert again.json()["changes"] == []
    assert (await rows(settings, "SELECT count(*) FROM events WHERE event_type = 'SlaClockRetargeted'"))[0][0] == 1

    tmp = settings.policy_dir
    off = await asyncio.to_thread(
        cli, settings, tmp, "deactivate", "--policy", "data-insights", "--by", "ops", "--reason", "paused"
    )
    assert off.returncode == 0, off.stderr
    assert "data-insights: now inactive; 1 tickets, 1 events" in off.stdout
    assert (await rows(settings, "SELECT state, next_check_at FROM clocks WHERE ticket_id = 'web'")) == [
        ("paused", None)
    ]
    twice = await asyncio.to_thread(
        cli, settings, tmp, "deactivate", "--policy", "data-insights", "--by", "ops", "--reason", "again"
    )
    assert "already inactive, nothing done" in twice.stdout
    on = await asyncio.to_thread(
        cli, settings, tmp, "activate", "--policy", "data-insights", "--by", "ops", "--reason", "renewed", "--json"
    )
    assert on.returncode == 0, on.stderr
    assert '"tickets": 1' in on.stdout and '"changed": true' in on.stdout
    retarget_typo = await asyncio.to_thread(
        cli,
        settings,
        tmp,
        "retarget",
        "--policy",
        "data-insights",
        "--to-version",
        "2099",
        "--by",
        "x",
        "--reason",
        "y",
    )
    assert retarget_typo.returncode == 2 and "--to-version: data-insights has no version '2099'" in retarget_typo.stderr
