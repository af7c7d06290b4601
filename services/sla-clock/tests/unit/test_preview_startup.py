"""`sla-clock preview` is a pure calculation: it must not load the database, Kafka or web stack."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = """
import io, json, sys
sys.argv = ["sla-clock", "preview", "--batch"]
sys.stdin = io.StringIO(json.dumps({"id": 1, "policy": "data-insights", "plan": "gold", "priority": "high",
                                    "opened_at": "2026-11-23T17:00:00Z"}) + "\\n")
out, sys.stdout = sys.stdout, io.StringIO()
from sla_clock.entrypoints.cli import main
code = main()
answer, sys.stdout = sys.stdout.getvalue(), out
heavy = sorted(m for m in ("sqlalchemy", "aiokafka", "asyncpg", "uvicorn", "fastapi", "alembic") if m in sys.modules)
validating = sorted(m for m in ("pydantic", "ruamel.yaml", "yaml", "holidays", "tempfile") if m in sys.modules)
print(json.dumps({"code": code, "answer": json.loads(answer), "heavy": heavy, "validating": validating}))
"""


def probe(cache: Path) -> dict[str, Any]:
    env = {**os.environ, "SLA_CLOCK_POLICY_CACHE": str(cache)}
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    got: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return got


def test_preview_answers_without_importing_the_service_stack(tmp_path: Path) -> None:
    cold, warm = probe(tmp_path), probe(tmp_path)
    for got in (cold, warm):
        assert got["code"] == 0
        assert got["answer"]["first_response_due"] == "2026-11-23T19:00:00Z"
        assert got["heavy"] == []
    assert warm["answer"] == cold["answer"]
    # The first start validates the shipped policy; a later one takes it from the compiled cache.
    assert "pydantic" in cold["validating"]
    assert warm["validating"] == []
