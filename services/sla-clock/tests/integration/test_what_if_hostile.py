"""Hostile drafts to POST /v1/sla/what-if on a real uvicorn server, broker and database: a YAML
billion laughs is refused at once while `/healthz` keeps answering, an oversized body is a 413,
and a draft's name never reaches outside the policy directory (nor tells what is there)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import httpx
import pytest

from sla_clock.entrypoints.app import build_app
from sla_clock.settings import Settings
from supportdesk_devstack.testing import Sandbox, served, while_healthz
from supportdesk_service.migrations import migrate
from supportdesk_service.problems import PROBLEM_JSON

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}
RANGE = {"opened_from": "2026-11-01T00:00:00Z", "opened_to": "2026-11-30T00:00:00Z"}
SHIPPED = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
HEALTHZ_WITHIN_SECONDS = 0.25


def merge_laughs(levels: int, width: int = 9) -> str:
    """Each level merges the one below `width` times: a few hundred bytes, width**levels merges
    for the YAML loader (seven levels held the event loop for over ten seconds)."""
    lines = ["m0: &m0 {a: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * width)}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nname: data-insights\n"


@asynccontextmanager
async def served_sla_clock(space: Sandbox, policy_dir: Path) -> AsyncIterator[str]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
        api_keys="ann=ann-key",
        policy_dir=str(policy_dir),
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    async with served(build_app(settings)) as url:
        yield url


def problem(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"] == PROBLEM_JSON
    return str(r.json()["detail"])


async def test_a_billion_laughs_draft_is_refused_at_once_and_the_loop_stays_free(
    space: Sandbox, tmp_path: Path
) -> None:
    async with served_sla_clock(space, tmp_path) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        started = time.perf_counter()
        post = http.post("/v1/sla/what-if", json={"policy": merge_laughs(7), **RANGE}, headers=AGENT)
        r, slowest = await while_healthz(url, post)
        took = time.perf_counter() - started
        assert slowest < HEALTHZ_WITHIN_SECONDS, f"/healthz took {slowest:.2f} s while the draft was read"
        assert took < 2, took
        assert "aliases (*name) are not accepted" in problem(r, 422)
        # A body over the route's limit is refused before it is read.
        huge = {"policy": "a" * (600 * 1024), **RANGE}
        assert "over the limit of" in problem(await http.post("/v1/sla/what-if", json=huge, headers=AGENT), 413)


async def test_a_draft_name_never_reaches_outside_the_policy_directory(space: Sandbox, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (tmp_path / "secret.yaml").write_text("password: hunter2\napi_key: k\n")
    async with served_sla_clock(space, policies) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        answers = {}
        for name in ("../secret", "../missing"):
            draft = SHIPPED.replace("name: data-insights", f"name: {name}", 1)
            detail = problem(await http.post("/v1/sla/what-if", json={"policy": draft, **RANGE}, headers=AGENT), 422)
            assert "password" not in detail and "secret.yaml" not in detail, detail
            answers[name] = detail.replace(name, "NAME")
        # The same answer whether or not the file exists.
        assert answers["../secret"] == answers["../missing"], answers
