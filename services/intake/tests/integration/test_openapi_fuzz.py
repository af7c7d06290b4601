"""schemathesis against intake's own OpenAPI, on a real intake process: no input makes it fail (5xx)."""

import base64
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from supportdesk_devstack.testing import TEST_API_KEY, RunningService

pytestmark = pytest.mark.e2e

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def fuzz(url: str, authorization: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_media_types", "PYTHONPATH": str(Path(__file__).parent)}
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "2026",
            "--header",
            f"Authorization: {authorization}",
            "--request-timeout",
            "10",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_schemathesis_finds_no_server_error(services: Callable[..., RunningService]) -> None:
    intake = services(
        "intake",
        INTAKE_INBOUND_BASIC_AUTH="u:p",
        INTAKE_MAILGUN_SIGNING_KEY="k",
        INTAKE_TWILIO_AUTH_TOKEN="t",
        INTAKE_PHONE_WEBHOOK_SECRET="s",
        INTAKE_ADMIN_API_KEYS=TEST_API_KEY,
    )
    # Every operation as an agent and admin; then the basic-auth inbound email endpoints with their
    # credentials, so their parsers see fuzzed payloads rather than only 401s.
    everything = fuzz(intake.url, f"Bearer {TEST_API_KEY}")
    assert everything.returncode == 0, everything.stdout[-6000:] + everything.stderr[-2000:]
    assert count_reported(everything.stdout) == operations(intake.url)  # every operation reached, whatever their number
    basic = base64.b64encode(b"u:p").decode()
    inbound = fuzz(intake.url, f"Basic {basic}", "--include-path-regex", r"^/v1/inbound/email(/sendgrid|/postmark)?$")
    assert inbound.returncode == 0, inbound.stdout[-6000:] + inbound.stderr[-2000:]
    assert count_reported(inbound.stdout) == 3
    # Postmark answers every unreadable payload 403 (its stop-retrying code), which schemathesis
    # reports as an authentication warning; the other two must have been reached with credentials.
    assert "401 Unauthorized" not in inbound.stdout


def operations(url: str) -> int:
    document = httpx.get(f"{url}/openapi.json", timeout=10).json()
    verbs = {"get", "put", "post", "delete", "patch"}
    return sum(1 for path in document["paths"].values() for verb in path if verb in verbs)


def count_reported(report: str) -> int:
    """How many operations schemathesis says it tested (its summary line `Tested: N`)."""
    found = re.search(r"Tested: (\d+)", report)
    assert found is not None, report[-3000:]
    return int(found.group(1))
