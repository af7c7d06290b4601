"""sla-clock's what-if and preview are rate limited per client address, on a real uvicorn server,
broker and database: past the limit a 429 problem+json with Retry-After, counted in /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sla_clock.entrypoints.app import build_app
from sla_clock.settings import Settings
from supportdesk_devstack.testing import Sandbox, served
from supportdesk_service.migrations import migrate
from supportdesk_service.problems import PROBLEM_JSON
from supportdesk_service.rate_limits import RateLimitSettings

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}
SHIPPED = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
WHAT_IF = {"policy": SHIPPED, "opened_from": "2026-11-01T00:00:00Z", "opened_to": "2026-11-30T00:00:00Z"}
PREVIEW = {"opened_at": "2026-12-07T10:00:00Z", "severity": 2, "plan": "gold"}


@asynccontextmanager
async def served_sla_clock(space: Sandbox, **limits: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
        api_keys="ann=ann-key",
        rate_limits=RateLimitSettings(**{"enabled": True, **limits}),
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    async with served(build_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield http


def refused(r: httpx.Response, limit: str) -> None:
    assert r.status_code == 429, r.text[:500]
    assert r.headers["content-type"] == PROBLEM_JSON
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["limit"] == limit


async def refusals(http: httpx.AsyncClient, route: str, limit: str) -> float:
    """supportdesk_rate_limited_total for this route and limit, as /metrics shows it now."""
    wanted = {"service": "sla-clock", "route": route, "limit": limit}
    for family in text_string_to_metric_families((await http.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == "supportdesk_rate_limited_total" and sample.labels == wanted:
                return sample.value
    return 0.0


async def test_the_what_if_route_is_limited_per_address(space: Sandbox) -> None:
    async with served_sla_clock(space, what_if_address="2/minute") as http:
        before = await refusals(http, "/v1/sla/what-if", "what_if_address")
        for _ in range(2):
            r = await http.post("/v1/sla/what-if", json=WHAT_IF, headers=AGENT)
            assert r.status_code == 200, r.text[:500]
        refused(await http.post("/v1/sla/what-if", json=WHAT_IF, headers=AGENT), "what_if_address")
        assert await refusals(http, "/v1/sla/what-if", "what_if_address") == before + 1


async def test_the_public_preview_is_limited_per_address(space: Sandbox) -> None:
    async with served_sla_clock(space, preview_address="2/minute") as http:
        for _ in range(2):
            r = await http.post("/v1/sla/preview", json=PREVIEW)
            assert r.status_code != 429, r.text[:500]
        refused(await http.post("/v1/sla/preview", json=PREVIEW), "preview_address")


async def test_off_the_what_if_route_is_not_limited(space: Sandbox) -> None:
    async with served_sla_clock(space, enabled=False, what_if_address="1/minute") as http:
        for _ in range(3):
            r = await http.post("/v1/sla/what-if", json=WHAT_IF, headers=AGENT)
            assert r.status_code == 200, r.text[:500]
