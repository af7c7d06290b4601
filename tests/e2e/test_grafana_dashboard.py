"""The operators' Grafana dashboard (deploy/grafana/supportdesk.json) queries only metrics that a
running stack exposes: every service as a real process, each /metrics read after a ticket went
through. A metric renamed in code, or a panel written for one that does not exist, fails here."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from supportdesk_devstack.config import SERVICES
from supportdesk_devstack.testing import RunningService, eventually

pytestmark = pytest.mark.e2e

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "supportdesk.json"
# A name in PromQL: followed by a selector, a range or the end of an argument.
METRIC = re.compile(r"\b((?:http|supportdesk)_[a-z0-9_]+)\b")
SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count")


def queried_metrics() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs, "the dashboard has no queries"
    return {m for e in exprs for m in METRIC.findall(e)}


def family(name: str) -> str:
    for suffix in SAMPLE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


async def test_every_metric_the_dashboard_queries_exists(services: Callable[..., RunningService]) -> None:
    running = [services(spec.name) for spec in SERVICES]
    intake = running[0]
    async with intake.client(api_key=None) as web:
        r = await web.post(
            "/v1/tickets", json={"requester_email": "o@customer.example", "subject": "s", "description": "d"}
        )
        assert r.status_code == 202, r.text

    exposed: set[str] = set()

    async def scraped_all() -> bool:
        exposed.clear()
        for svc in running:
            async with svc.client() as c:
                text = (await c.get("/metrics")).text
            exposed.update(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
        return "supportdesk_outbox_published_total" in exposed

    await eventually(scraped_all, what="every service's /metrics")
    missing = sorted(m for m in queried_metrics() if family(m) not in exposed)
    assert not missing, f"the dashboard queries metrics no service exposes: {missing}"
