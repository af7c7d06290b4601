"""`sla-clock preview` is a pure calculation: it must not load the database, Kafka or web stack."""

import json
import subprocess
import sys

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
print(json.dumps({"code": code, "answer": json.loads(answer), "heavy": heavy}))
"""


def test_preview_answers_without_importing_the_service_stack() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["code"] == 0
    assert got["answer"]["first_response_due"] == "2026-11-23T19:00:00Z"
    assert got["heavy"] == []
