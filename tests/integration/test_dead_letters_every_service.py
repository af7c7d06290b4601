"""Every consuming service, as a real process: a message it cannot read is kept as a dead letter
while the partition moves on, and `<service> dead-letters` on the command line and
`/v1/admin/dead-letters` over HTTP show the same letter; redriving it (still unreadable) leaves it
pending, with the error. (Redrive after a fix is tested on the plumbing: test_redrive.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce

pytestmark = pytest.mark.integration

ADMIN_KEY = "dead-letter-admin-key"
# A topic each one consumes.
CONSUMES = {
    "intake": Topic.SLA,
    "triage": Topic.LIFECYCLE,
    "sla-clock": Topic.LIFECYCLE,
    "escalation": Topic.SLA,
    "notifier": Topic.LIFECYCLE,
    "board": Topic.NOTIFICATIONS,
    "assignment": Topic.TRIAGE,
}


async def command(svc: RunningService, *argv: str) -> tuple[int, str]:
    done = await asyncio.to_thread(
        subprocess.run,
        [str(BIN / svc.name), "dead-letters", *argv],
        env={**os.environ, **svc.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


@pytest.mark.parametrize("name", list(CONSUMES))
async def test_a_service_lists_shows_and_redrives_its_dead_letters(
    name: str, space: Sandbox, services: Callable[..., RunningService]
) -> None:
    prefix = name.replace("-", "_").upper()
    svc = services(name, **{f"{prefix}_ADMIN_API_KEYS": ADMIN_KEY})
    topic = CONSUMES[name]
    await produce(space, topic, [(b"tkt-unreadable", b"{not json")])
    async with svc.client(api_key=ADMIN_KEY) as admin:

        async def listed() -> list[dict[str, Any]]:
            r = await admin.get("/v1/admin/dead-letters")
            assert r.status_code == 200, r.text
            found: list[dict[str, Any]] = r.json()["dead_letters"]
            return found

        letters = await eventually(listed, what=f"{name}'s dead letter")
        assert [(d["reason_class"], d["ticket_id"], d["source"]["topic"]) for d in letters] == [
            ("not_json", "tkt-unreadable", space.prefix + topic)
        ]
        code, out = await command(svc, "list", "--json")
        assert code == 0
        from_cli = [json.loads(line) for line in out.splitlines()]
        assert [(d["id"], d["reason"]) for d in from_cli] == [(letters[0]["id"], letters[0]["reason"])]
        code, out = await command(svc, "show", str(letters[0]["id"]))
        assert code == 0 and json.loads(out)["value"] == "{not json"

        code, out = await command(svc, "redrive", "--all")
        assert code == 1  # still failing
        assert [json.loads(line)["outcome"] for line in out.splitlines()] == ["failed"]
        after = (await admin.get(f"/v1/admin/dead-letters/{letters[0]['id']}")).json()
        assert after["redriven_at"] is None and after["redrive_attempts"] == 1
        assert after["last_redrive_error"].startswith("still cannot be read")
        metrics = (await admin.get("/metrics")).text
        assert f'supportdesk_dead_letters_pending{{consumer="{name}"}} 1.0' in metrics
        assert (
            f'supportdesk_dead_lettered_messages_total{{consumer="{name}",reason="not_json",'
            f'topic="{space.prefix}{topic}"}} 1.0' in metrics
        )
