"""Requesters in intake: one per address, personal fields sealed in the outbox under their key,
the key on the compacted keys topic (never in `events`), found and erased by admins over HTTP and
from the command line; erasure scrubs intake's tables and records RequesterErased once per ticket."""

import asyncio
import json
import os
import subprocess
from typing import Any

import pytest
from sqlalchemy import text

from intake.adapters import repository
from intake.service_layer import requesters as erasure
from intake.service_layer.workers import requester_keys as key_publisher
from supportdesk_contract.catalogue import ERASED_TEXT
from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import Sandbox, eventually, read_topic, scalar
from supportdesk_messaging.personal import ERASED_MARKER, KEYS_TOPIC

from .conftest import Intake

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-key"}
ADDRESS = "mara.quill@customer.example"


def cli(intake: Intake, space: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **space.env(), "INTAKE_DATABASE_NAME": intake.settings.database_name}
    return subprocess.run([str(BIN / "intake"), *args], env=env, capture_output=True, text=True, timeout=120)


async def test_requesters_are_sealed_found_and_erased_from_http_and_the_command_line(
    intake: Intake, space: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key publisher is woken by the commits' NOTIFY (also the command line's, another
    # process): with its idle poll an hour, the erased marker below can only come that way.
    monkeypatch.setattr(key_publisher, "IDLE_POLL_SECONDS", 3600.0)
    first = await intake.open_ticket(requester_email=ADDRESS, subject="Invoice export", description="Biscuit ate it")
    second = await intake.open_ticket(requester_email=ADDRESS.upper(), subject="Second", description="Biscuit again")
    other = await intake.open_ticket(requester_email="lee@customer.example", subject="Other", description="Lee's")
    mine = sorted([first["ticket_id"], second["ticket_id"]])

    # One requester for both (case-insensitive); the outbox holds ciphertext and no key.
    assert await scalar(intake.engine, "SELECT count(*) FROM requesters") == 2
    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE envelope::text ILIKE '%mara.quill%'") == 0
    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE envelope::text ILIKE '%biscuit%'") == 0
    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE envelope->'payload' ? 'sealed_personal'") == 3
    key = await scalar(intake.engine, "SELECT data_key FROM requesters WHERE lower(email) = :a", a=ADDRESS)
    assert (
        await scalar(intake.engine, "SELECT count(*) FROM events WHERE position(:k in envelope::text) > 0", k=key) == 0
    )
    # Intake's own read opens them.
    view = (await intake.client.get(f"/v1/tickets/{first['ticket_id']}", headers=intake.as_agent())).json()
    opened = view["history"][0]["payload"]
    assert (opened["requester_email"], opened["description"], opened["sealed_personal"]) == (
        ADDRESS,
        "Biscuit ate it",
        None,
    )

    # Found by address, over HTTP (admins only) and the command line.
    found = await intake.client.get("/v1/requesters", params={"email": ADDRESS}, headers=ADMIN)
    assert found.status_code == 200 and [r["tickets"] for r in found.json()] == [2], found.text
    requester_id = found.json()[0]["requester_id"]
    assert (await intake.client.get("/v1/requesters", params={"email": ADDRESS})).status_code == 401
    assert (await intake.client.get("/v1/requesters", headers=ADMIN)).status_code == 422
    done = await asyncio.to_thread(cli, intake, space, "requesters", "find", "--email", ADDRESS.upper())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["requester_id"] == requester_id

    # The key reaches the compacted topic (the worker publishes it after the commit).
    records = await read_topic(space, KEYS_TOPIC, expect=2, timeout=30)
    assert {r.key.decode(): r.value.decode() for r in records}[requester_id] == key

    # Erased from the command line; again over HTTP: idempotent; an unknown id is a 404.
    done = await asyncio.to_thread(cli, intake, space, "requesters", "erase", requester_id)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (sorted(report["tickets"]), report["already_erased"]) == (mine, False)
    again = await intake.client.post(f"/v1/requesters/{requester_id}/erasure", headers=ADMIN)
    assert again.status_code == 200 and again.json()["already_erased"], again.text
    missing = await intake.client.post("/v1/requesters/nobody/erasure", headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    gone = await asyncio.to_thread(cli, intake, space, "requesters", "erase", "nobody")
    assert gone.returncode == 1

    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE event_type = 'RequesterErased'") == 2
    row = "SELECT email, phone, data_key FROM requesters WHERE requester_id = :r"
    async with intake.app.state.runtime.engine.connect() as conn:
        assert tuple((await conn.execute(text(row), {"r": requester_id})).one()) == (None, None, None)
    assert await scalar(intake.engine, "SELECT count(*) FROM tickets WHERE subject = :e", e=ERASED_TEXT) == 2
    assert await scalar(intake.engine, "SELECT count(*) FROM tickets WHERE requester_email ILIKE '%mara%'") == 0
    view = (await intake.client.get(f"/v1/tickets/{first['ticket_id']}", headers=intake.as_agent())).json()
    assert view["history"][0]["payload"]["description"] == ERASED_TEXT
    assert view["history"][0]["payload"]["requester_email"] is None

    # A late reply on an erased requester's ticket is recorded masked, not in clear.
    r = await intake.client.post(
        f"/v1/tickets/{first['ticket_id']}/replies",
        json={"body": "Biscuit says hi"},
        headers=intake.as_requester(first["access_token"]),
    )
    assert r.status_code == 200, r.text
    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE envelope::text ILIKE '%biscuit%'") == 0

    async def marked() -> bool:
        records = await read_topic(space, KEYS_TOPIC, expect=3, timeout=5)
        latest = {r.key.decode(): r.value for r in records}
        return latest.get(requester_id) == ERASED_MARKER

    await eventually(marked, timeout=30, what="the erased marker on the keys topic")
    # The other requester is untouched.
    view = (await intake.client.get(f"/v1/tickets/{other['ticket_id']}", headers=intake.as_agent())).json()
    assert view["history"][0]["payload"]["description"] == "Lee's"


async def test_an_erasure_between_the_web_forms_two_statements_leaves_no_ticket_behind_it(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web form reads the requester's key, then writes the ticket in a second statement that
    checks the key is still theirs: an erasure committed in between writes nothing under the erased
    requester (whom the erasure could not scrub of it); the ticket opens under a new one."""
    first = await intake.open_ticket(requester_email=ADDRESS)
    erased = await scalar(intake.engine, "SELECT requester_id FROM tickets WHERE ticket_id = :t", t=first["ticket_id"])
    real = repository.save_new
    calls: list[str] = []

    async def erasing_first(conn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["requester"].requester_id)
        if len(calls) == 1:  # between the lookup and the write, on another connection
            runtime = intake.app.state.runtime
            async with runtime.engine.begin() as other:
                assert await erasure.erase_in(other, erased, runtime.clock) is not None
        return await real(conn, *args, **kwargs)

    monkeypatch.setattr(repository, "save_new", erasing_first)
    second = await intake.open_ticket(requester_email=ADDRESS, subject="After", description="Biscuit again")
    assert calls[0] == erased and len(calls) == 2 and calls[1] != erased  # refused, then a new requester
    assert await scalar(intake.engine, "SELECT count(*) FROM tickets WHERE requester_id = :r", r=erased) == 1
    assert await scalar(intake.engine, "SELECT count(*) FROM tickets WHERE ticket_id = :t", t=second["ticket_id"]) == 1
    now = await scalar(intake.engine, "SELECT requester_id FROM tickets WHERE ticket_id = :t", t=second["ticket_id"])
    assert now == calls[1]
    assert await scalar(intake.engine, "SELECT erased_at IS NULL FROM requesters WHERE requester_id = :r", r=now)
    assert await scalar(intake.engine, "SELECT count(*) FROM events WHERE envelope::text ILIKE '%biscuit%'") == 0
    view = (await intake.client.get(f"/v1/tickets/{second['ticket_id']}", headers=intake.as_agent())).json()
    assert view["history"][0]["payload"]["description"] == "Biscuit again"
