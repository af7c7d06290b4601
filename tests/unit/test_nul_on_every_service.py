"""NUL in any path id, query or JSON body, on every route of every service, is a 422 naming the
field before any route runs (a NUL in a path id was once a 500 on all of them, as was a NUL in a
triage override's `queue`). No servers needed: the guard answers first."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assignment.entrypoints.app import build_app as assignment_app
from board.entrypoints.app import build_app as board_app
from escalation.entrypoints.app import build_app as escalation_app
from intake.entrypoints.app import build_app as intake_app
from notifier.entrypoints.app import build_app as notifier_app
from sla_clock.entrypoints.app import build_app as sla_clock_app
from triage.entrypoints.app import build_app as triage_app

APPS: dict[str, Callable[[], FastAPI]] = {
    "intake": intake_app,
    "triage": triage_app,
    "sla-clock": sla_clock_app,
    "escalation": escalation_app,
    "notifier": notifier_app,
    "board": board_app,
    "assignment": assignment_app,
}
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def routes_with_path_ids() -> list[tuple[str, str, str, str]]:
    """From each service's OpenAPI document: every operation with a path parameter."""
    out = []
    for service, build in APPS.items():
        for path, operations in build().openapi()["paths"].items():
            for method in sorted(operations):
                out.extend((service, method.upper(), path, name) for name in PARAM.findall(path))
    return out


CASES = routes_with_path_ids()


def test_the_cases_cover_every_service_with_path_ids() -> None:
    # The notifier's one read takes the ticket id as a query (tested below).
    assert {service for service, *_ in CASES} >= {"intake", "triage", "sla-clock", "escalation", "board", "assignment"}


async def ask(service: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=APPS[service]())
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        return await client.request(method, url, **kwargs)


def fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(("service", "method", "path", "param"), CASES, ids=[" ".join(c) for c in CASES])
async def test_nul_in_a_path_id_is_422_naming_it(service: str, method: str, path: str, param: str) -> None:
    url = PARAM.sub(lambda m: "a%00b" if m.group(1) == param else "x", path)
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    assert fields(await ask(service, method, url, **body)) == [f"path.{param}"]


async def test_nul_in_a_query_and_in_a_triage_override_queue() -> None:
    r = await ask("sla-clock", "GET", "/v1/sla/reports/weekly", params={"week": "2026-W48\x00"})
    assert fields(r) == ["query.week"]
    r = await ask("notifier", "GET", "/v1/notifications", params={"ticket_id": "\x00"})
    assert fields(r) == ["query.ticket_id"]
    r = await ask("triage", "POST", "/v1/tickets/t-1/overrides", json={"queue": "billing\x00", "reason": "why"})
    assert fields(r) == ["body.queue"]
