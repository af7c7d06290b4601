"""schemathesis against every service's own `/openapi.json`, each service a real process on the real
broker and database, called with a key that is both an agent's and an admin's: no input makes a
service fail (5xx), and every answer is one its OpenAPI document declares (status code, content
type, body schema, required headers), so a client generated from the document handles it.

Bounded for `make test`: deterministic generation and a few examples per operation."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from supportdesk_devstack.testing import TEST_API_KEY, RunningService

pytestmark = pytest.mark.integration

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
INTAKE_HOOKS = Path(__file__).parents[2] / "services" / "intake" / "tests" / "integration"
SERVICES = ("intake", "triage", "sla-clock", "escalation", "notifier", "board", "assignment")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# Test cases per operation, valid and invalid (schemathesis' default mode: both), after the
# examples the document gives; deterministic generation (no seed, no example database): every run
# sends the same requests. (Its coverage phase, boundary values of every field, would send about
# five times more.)
MAX_EXAMPLES = 5
# A stream never ends, so every request to it would only time out; its filters are the board
# list's, fuzzed there.
NOT_FUZZED = {"board": r"^/v1/board/stream$"}
# Settings that switch on the routes that are off until configured (intake's inbound channels).
CONFIGURED = {
    "intake": {
        "INTAKE_INBOUND_BASIC_AUTH": "u:p",
        "INTAKE_MAILGUN_SIGNING_KEY": "k",
        "INTAKE_TWILIO_AUTH_TOKEN": "t",
        "INTAKE_PHONE_WEBHOOK_SECRET": "s",
    }
}


@dataclass
class Fuzzed:
    service: str
    operations: int = 0
    requests: int = 0
    breaks: list[str] = field(default_factory=list)
    output: str = ""


def start(services: Callable[..., RunningService], name: str) -> RunningService:
    prefix = name.replace("-", "_").upper()
    return services(name, **{f"{prefix}_ADMIN_API_KEYS": TEST_API_KEY, **CONFIGURED.get(name, {})})


async def fuzz(svc: RunningService, reports: Path) -> Fuzzed:
    report = reports / f"{svc.name}.json"
    argv = [
        "run",
        f"{svc.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        # Hypothesis' own check that generating is fast enough fails on a busy machine: the run's
        # length is bounded by MAX_EXAMPLES anyway.
        "--suppress-health-check",
        "too_slow",
        "--phases",
        "examples,fuzzing",
        "--continue-on-failure",
        "--no-shrink",
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {TEST_API_KEY}",
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    if svc.name in NOT_FUZZED:
        argv += ["--exclude-path-regex", NOT_FUZZED[svc.name]]
    # intake's raw-MIME route: messages to generate, which schemathesis has no strategy for.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_media_types", "PYTHONPATH": str(INTAKE_HOOKS)}
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, *argv, cwd=reports, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    found = Fuzzed(svc.name, output=out.decode(errors="replace"))
    if report.exists():
        read_report(json.loads(report.read_text()), found)
    return found


def read_report(report: dict[str, Any], into: Fuzzed) -> None:
    """What schemathesis' JSON report says: operations tested, test cases sent (each one request:
    no shrinking), and one line per kind of break and operation."""
    into.operations = report["operations"]["tested"]
    into.requests = report["test_cases"]["generated"]
    for failure in report["failures"]:
        into.breaks += [f"{failure['title']} ({failure['code']}): {op}" for op in failure["operations"]]
    into.breaks += [f"error: {error['title']} (x{error['count']})" for error in report["errors"]]


def operations(url: str, excluded: str | None) -> int:
    """How many operations the service's document has, less those not fuzzed."""
    document = httpx.get(f"{url}/openapi.json", timeout=10).json()
    verbs = {"get", "put", "post", "delete", "patch"}
    return sum(
        1
        for path, item in document["paths"].items()
        for verb in item
        if verb in verbs and not (excluded and re.search(excluded, path))
    )


async def test_every_service_answers_only_what_its_openapi_declares(
    services: Callable[..., RunningService], tmp_path: Path
) -> None:
    began = time.monotonic()
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        running = list(pool.map(lambda name: start(services, name), SERVICES))
    print(f"started in {time.monotonic() - began:.1f} s")
    # All at once: each fuzzer mostly waits for its service's answers.
    results = await asyncio.gather(*(fuzz(svc, tmp_path) for svc in running))
    for r in results:
        print(f"{r.service}: {r.operations} operations, {r.requests} requests, {len(r.breaks)} breaks")
    print(f"fuzzed in {time.monotonic() - began:.1f} s")
    breaks = [f"{r.service}: {b}" for r in results for b in r.breaks]
    details = "\n\n".join(r.output[-8000:] for r in results if r.breaks)
    assert not breaks, "\n".join(breaks) + "\n\nschemathesis said:\n" + details
    for svc, r in zip(running, results, strict=True):
        # Every operation reached, whatever their number: a run that tested nothing passes nothing.
        assert r.operations == operations(svc.url, NOT_FUZZED.get(svc.name)), r.output[-3000:]
        assert r.requests >= r.operations, r.output[-3000:]
