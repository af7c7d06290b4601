"""Erasure that keeps the numbers: a requester files by web, email and phone, the tickets flow
through all six services (real processes, real broker and database), an agent's response meets
the SLA; then an admin erases the requester. Afterwards no service database and no topic holds
their address, phone, name or a phrase they wrote, in clear; another requester's data is still
there (the search is not blind), and the board's SLA attainment is unchanged. A rebuild of the
board and of the notifier from the log then ends identical to their live, masked, read models."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, eventually
from supportdesk_messaging.db import create_engine

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "triage", "sla-clock", "escalation", "notifier", "board")
INBOUND = {"Authorization": "Basic " + base64.b64encode(b"mta:pipe").decode()}
ADMIN = {"Authorization": "Bearer admin-key"}
ADDRESS = "mara.quill@erasure-test.example"
PHONE = "+1 415 555 0199"
NAME = "Mara Quill"
PHRASE = "Biscuit the tabby walked across the keyboard"
REPLY_PHRASE = "my landlord Mr Pemberton"
OTHER = "lee.other@erasure-test.example"  # not erased: must still be found
SECRETS = (ADDRESS, PHONE, NAME, "Biscuit the tabby", "Pemberton")


def database_of(space: Sandbox, service: str) -> str:
    return f"t_{space.prefix.strip('.')}_{service.replace('-', '_')}"


async def found_in_databases(space: Sandbox, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """needle -> "service.table.column" holding it: every column of every table, as text (jsonb,
    tsvector and all), bytea as bytes."""
    hits: dict[str, list[str]] = {n: [] for n in needles}
    for service in SERVICES:
        engine = create_engine(space.servers.database_url, database_of(space, service))
        try:
            async with engine.connect() as conn:
                columns = (
                    await conn.execute(
                        text(
                            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
                            " JOIN information_schema.tables t USING (table_schema, table_name)"
                            " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
                        )
                    )
                ).all()
                for table, column, data_type in columns:
                    for needle in needles:
                        if data_type == "bytea":
                            where, params = f'position(:b IN "{column}") > 0', {"b": needle.encode()}
                        else:
                            where, params = f'"{column}"::text ILIKE :p', {"p": f"%{needle}%"}
                        n = (await conn.execute(text(f'SELECT count(*) FROM "{table}" WHERE {where}'), params)).scalar()
                        if n:
                            hits[needle].append(f"{service}.{table}.{column}")
        finally:
            await engine.dispose()
    return hits


async def found_in_topics(space: Sandbox, needles: tuple[str, ...]) -> tuple[dict[str, list[str]], bytes]:
    """needle -> topics holding it (key, value or headers, any case), and every message's bytes."""
    admin = AIOKafkaAdminClient(bootstrap_servers=space.servers.bootstrap_servers)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(space.prefix)]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=space.servers.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    hits: dict[str, list[str]] = {n: [] for n in needles}
    everything = bytearray()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 60
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            assert time.monotonic() < deadline, "could not read every topic to its end"
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for r in records:
                    blob = (r.key or b"") + b"\0" + (r.value or b"") + b"".join(v or b"" for _, v in r.headers)
                    everything += blob + b"\n"
                    for needle in needles:
                        if needle.lower().encode() in blob.lower() and tp.topic not in hits[needle]:
                            hits[needle].append(tp.topic)
    finally:
        await consumer.stop()
    return hits, bytes(everything)


def email(sender: str, subject: str, body: str, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@supportdesk.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@erasure-test.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return bytes(msg)


async def test_erasing_a_requester_leaves_no_trace_in_clear_and_keeps_the_sla_numbers(
    services: Callable[..., RunningService], space: Sandbox
) -> None:
    sink = SmtpSink()
    sink.controller.start()
    try:
        await _scenario(services, space, sink)
    finally:
        sink.controller.stop()


async def _scenario(services: Callable[..., RunningService], space: Sandbox, sink: SmtpSink) -> None:
    token_key = base64.urlsafe_b64encode(b"k" * 32).decode()  # a Fernet key
    intake = services(
        "intake",
        INTAKE_INBOUND_BASIC_AUTH="mta:pipe",
        INTAKE_ADMIN_API_KEYS="admin-key",
        INTAKE_PHONE_WEBHOOK_SECRET="pbx",
        REQUESTER_TOKEN_KEY=token_key,
    )
    for name in ("triage", "sla-clock", "escalation"):
        services(name)
    notifier = services("notifier", NOTIFIER_SMTP_PORT=str(sink.port), REQUESTER_TOKEN_KEY=token_key)
    board = services("board")

    async with intake.client(api_key=None) as web:
        r = await web.post(
            "/v1/tickets",
            json={"requester_email": ADDRESS, "subject": "Invoice export broken", "description": PHRASE},
        )
        assert r.status_code == 202, r.text
        web_ticket, web_token = r.json()["ticket_id"], r.json()["access_token"]
        r = await web.post(
            "/v1/inbound/email",
            content=email(f"{NAME} <{ADDRESS}>", "Second problem", f"Also: {PHRASE}. Call me at {PHONE}."),
            headers={**INBOUND, "Content-Type": "message/rfc822"},
        )
        assert r.status_code == 201, r.text
        mail_ticket = r.json()["ticket_id"]
        call = json.dumps(
            {
                "call_id": f"erasure-{uuid.uuid4().hex}",
                "caller_number": PHONE,
                "caller_name": NAME,
                "caller_email": ADDRESS,
                "agent": "Sam",
                "summary": f"Caller says {PHRASE}",
            }
        ).encode()
        ts = str(int(time.time()))
        signature = "sha256=" + hmac.new(b"pbx", ts.encode() + b"." + call, hashlib.sha256).hexdigest()
        r = await web.post(
            "/v1/inbound/phone",
            content=call,
            headers={
                "X-Supportdesk-Timestamp": ts,
                "X-Supportdesk-Signature": signature,
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 201, r.text
        call_ticket = r.json()["ticket_id"]
        r = await web.post(
            "/v1/tickets",
            json={"requester_email": OTHER, "subject": "Unrelated", "description": "Lee's own words stay"},
        )
        other_ticket = r.json()["ticket_id"]
        mine = [web_ticket, mail_ticket, call_ticket]
        # The requester replies on the web ticket with their access token.
        r = await web.post(
            f"/v1/tickets/{web_ticket}/replies",
            json={"body": f"More detail: {REPLY_PHRASE} unplugged the router"},
            headers={"Authorization": f"Bearer {web_token}"},
        )
        assert r.status_code == 200, r.text
    # An agent responds to each: the first-response clocks are met, the requester is mailed.
    async with intake.client() as agent:
        for ticket_id in [*mine, other_ticket]:
            r = await agent.post(f"/v1/tickets/{ticket_id}/responses", json={"body": "We are on it."})
            assert r.status_code == 200, r.text

    async with board.client() as reader:

        async def all_met() -> dict[str, Any] | None:
            rows = [(await reader.get(f"/v1/board/tickets/{t}")).json() for t in [*mine, other_ticket]]
            summary = (await reader.get("/v1/board/summary")).json()
            decided = sum(r["decided"] for r in summary["attainment"]["week"]["rows"])
            on_board = all(r.get("number") for r in rows) and rows[0].get("subject") == "Invoice export broken"
            return summary if on_board and decided >= 4 else None

        before = await eventually(all_met, timeout=120, what="all four tickets on the board, first responses met")
    await eventually(lambda: _mailed(sink, ADDRESS), timeout=90, what="the requester mailed")
    # Before: the search finds them (it is not blind).
    pre = await found_in_databases(space, SECRETS)
    assert {h.split(".")[0] for h in pre[ADDRESS]} >= {"intake", "board", "notifier"}, pre
    assert pre["Biscuit the tabby"] and pre[NAME] and pre[PHONE] and pre["Pemberton"], pre

    async with intake.client(api_key=None) as admin:
        found = (await admin.get("/v1/requesters", params={"email": ADDRESS.upper()}, headers=ADMIN)).json()
        assert len(found) == 1 and found[0]["tickets"] == 3, found
        requester_id = found[0]["requester_id"]
        assert (await admin.get("/v1/requesters", params={"email": ADDRESS})).status_code == 401
        missing = await admin.post(f"/v1/requesters/{uuid.uuid4()}/erasure", headers=ADMIN)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
        erased = await admin.post(f"/v1/requesters/{requester_id}/erasure", headers=ADMIN)
        assert erased.status_code == 200, erased.text
        assert sorted(erased.json()["tickets"]) == sorted(mine) and not erased.json()["already_erased"]
        again = await admin.post(f"/v1/requesters/{requester_id}/erasure", headers=ADMIN)
        assert again.status_code == 200 and again.json()["already_erased"]
        assert (await admin.get("/v1/requesters", params={"email": ADDRESS}, headers=ADMIN)).json() == []

    async with board.client() as reader:

        async def masked() -> bool:
            rows = [(await reader.get(f"/v1/board/tickets/{t}")).json() for t in mine]
            return all(r.get("subject") == "[erased]" and r.get("requester_email") is None for r in rows)

        await eventually(masked, timeout=90, what="the board masking the erased requester's tickets")
        after = (await reader.get("/v1/board/summary")).json()
        for period in ("today", "week"):  # SLA statistics intact
            assert after["attainment"][period]["rows"] == before["attainment"][period]["rows"]
        listed = (await reader.get("/v1/board/tickets", params={"limit": 50})).json()
        assert {t["ticket_id"] for t in listed["tickets"]} >= {*mine, other_ticket}

    async def scrubbed() -> dict[str, list[str]] | None:
        hits = await found_in_databases(space, SECRETS)
        return None if any(hits.values()) else hits

    try:
        await eventually(scrubbed, timeout=90, what="no service database holding the requester")
    except AssertionError:
        raise AssertionError(f"still found: {await found_in_databases(space, SECRETS)}") from None
    others = await found_in_databases(space, (OTHER, "Lee's own words"))
    assert {h.split(".")[0] for h in others[OTHER]} >= {"intake", "board", "notifier"}, others

    hits, everything = await found_in_topics(space, SECRETS)
    assert not any(hits.values()), hits
    # The topics were read: the erased tickets' events are there, by id, sealed.
    for ticket_id in mine:
        assert ticket_id.encode() in everything
    assert b"sealed_personal" in everything and b"RequesterErased" in everything

    # Replaying the log after the erasure (the events sealed, the key erased) ends where the live
    # read models are: masked the same way.
    for svc in (board, notifier):
        done = await asyncio.to_thread(
            subprocess.run,
            [str(BIN / svc.name), "rebuild"],
            env={**os.environ, **svc.env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0 and done.stdout.strip().endswith("identical"), f"{done.stdout}\n{done.stderr}"


async def _mailed(sink: SmtpSink, address: str) -> bool:
    await asyncio.sleep(0)
    return address in sink.recipients
