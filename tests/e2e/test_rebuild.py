"""`<service> rebuild` for every consuming service, after tickets went through all six services as
real processes on the real broker and database: each shadow is identical to the live read model;
a row broken on purpose is reported (table, key, column); `--swap` is refused while the service
runs, then, with it stopped, replaces the live database, and the restarted service carries on with
nothing published twice."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from board.entrypoints.rebuild import rebuild_spec as board_spec
from board.settings import Settings as BoardSettings
from escalation.entrypoints.rebuild import rebuild_spec as escalation_spec
from escalation.settings import Settings as EscalationSettings
from notifier.entrypoints.rebuild import rebuild_spec as notifier_spec
from notifier.settings import Settings as NotifierSettings
from sla_clock.entrypoints.rebuild import rebuild_spec as sla_spec
from sla_clock.settings import Settings as SlaSettings
from supportdesk_contract.catalogue import REGISTRY, ClockKind, SlaBreached
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, eventually, produce, read_topic
from supportdesk_messaging.db import asyncpg_dsn, service_url
from supportdesk_service.rebuild.kafka import group_offsets, log_bounds, partitions_of
from supportdesk_service.rebuild.spec import RebuildSpec
from triage.entrypoints.rebuild import rebuild_spec as triage_spec
from triage.settings import Settings as TriageSettings

pytestmark = pytest.mark.e2e

CONSUMERS = ("triage", "sla-clock", "escalation", "notifier", "board")
TOPICS = [t.value for t in Topic]
DIRECTORY = """
tier_leads: {technical: [lead@supportdesk.example]}
account_managers: {acme: [am@supportdesk.example]}
executives: [exec@supportdesk.example]
swat: [swat@supportdesk.example]
climb_after_minutes: {1: 600, 2: 600}
"""


def database_of(svc: RunningService) -> str:
    return svc.env[f"{svc.name.replace('-', '_').upper()}_DATABASE_NAME"]


async def connect(space: Sandbox, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(service_url(space.servers.database_url, database)))


async def rebuild(svc: RunningService, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN / svc.name), "rebuild", *args],
        env={**os.environ, **svc.env},
        capture_output=True,
        text=True,
        timeout=600,
    )


async def scenario(running: dict[str, RunningService], space: Sandbox) -> dict[str, str]:
    """Three web tickets: one high-severity one, its severity confirmed by an agent, breaches (a
    breach on the log, as the scheduler would publish it hours from now) and escalates; one is
    answered, waits on the customer, gets a reply, a workaround and is closed; one changes severity
    and its customer asks for escalation."""
    intake = running["intake"]
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    async with intake.client(api_key=None) as web:
        for name, email, severity in (
            ("outage", "ann@acme.example", 2),
            ("export", "bo@acme.example", 3),
            ("login", "cy@globex.example", 4),
        ):
            r = await web.post(
                "/v1/tickets",
                json={
                    "requester_email": email,
                    "subject": f"{name} is broken",
                    "description": f"Since this morning {name} does not work for anyone.",
                    "severity": severity,
                },
            )
            assert r.status_code == 202, r.text
            ids[name], tokens[name] = r.json()["ticket_id"], r.json()["access_token"]

    async def ok(r: Any) -> None:
        assert r.status_code == 200, r.text

    export, login = ids["export"], ids["login"]
    async with intake.client() as agent:
        await ok(await agent.post(f"/v1/tickets/{export}/responses", json={"body": "Looking at it now."}))
        await ok(await agent.post(f"/v1/tickets/{export}/info-requests", json={"question": "Which browser?"}))
    async with intake.client(api_key=tokens["export"]) as requester:
        await ok(await requester.post(f"/v1/tickets/{export}/replies", json={"body": "Firefox 140."}))
    async with intake.client() as agent:
        await ok(await agent.post(f"/v1/tickets/{export}/replication", json={"note": "reproduced"}))
        await ok(await agent.post(f"/v1/tickets/{export}/workarounds", json={"description": "Use the CSV API."}))
        await ok(
            await agent.post(
                f"/v1/tickets/{export}/close", json={"closure_code": "workaround_accepted", "note": "thanks"}
            )
        )
        await ok(await agent.post(f"/v1/tickets/{login}/severity", json={"severity": 2, "reason": "all of sales"}))
        # A web requester is unproven: an agent confirms the outage's severity, so its breach engages SWAT.
        await ok(await agent.post(f"/v1/tickets/{ids['outage']}/severity", json={"severity": 2, "reason": "confirmed"}))
    async with intake.client(api_key=tokens["login"]) as requester:
        await ok(await requester.post(f"/v1/tickets/{login}/escalation-requests", json={"reason": "month end"}))
    clock = SystemClock()
    breach = new_envelope(
        SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=clock.now() - timedelta(minutes=1)),
        ticket_id=ids["outage"],
        producer="sla-clock",
        clock=clock,
    )
    await produce(space, Topic.SLA, [encode(breach)[:2]])
    return ids


async def settled(running: dict[str, RunningService], space: Sandbox) -> bool:
    """Every outbox published, every consumer group at the end of the log."""
    for svc in running.values():
        conn = await connect(space, database_of(svc))
        try:
            if await conn.fetchval("SELECT count(*) FROM events WHERE published_at IS NULL"):
                return False
        finally:
            await conn.close()
    bootstrap = space.servers.bootstrap_servers
    partitions = await partitions_of(bootstrap, [space.prefix + t for t in TOPICS])
    _, end = await log_bounds(bootstrap, partitions)
    for name in (*CONSUMERS, "intake"):
        committed = await group_offsets(bootstrap, space.prefix + name)
        if any(committed.get(tp, 0) < end[tp] for tp in partitions if tp.topic in _topics_of(name, space)):
            return False
    return True


def _topics_of(name: str, space: Sandbox) -> set[str]:
    """The topics a service's live consumer group reads: those of its handlers' event types."""
    specs: dict[str, Callable[[], RebuildSpec]] = {
        "triage": lambda: triage_spec(TriageSettings()),
        "sla-clock": lambda: sla_spec(SlaSettings()),
        "escalation": lambda: escalation_spec(EscalationSettings()),
        "notifier": lambda: notifier_spec(NotifierSettings()),
        "board": lambda: board_spec(BoardSettings()),
    }
    handled = list(specs[name]().handlers) if name in specs else ["AutoCloseDue"]  # intake
    return {space.prefix + REGISTRY[t].topic.value for t in handled}


async def stable(running: dict[str, RunningService], space: Sandbox) -> bool:
    if not await settled(running, space):
        return False
    await asyncio.sleep(2)  # nothing still on its way (a mail being sent, its NotificationSent)
    return await settled(running, space)


async def test_every_consuming_service_rebuilds_identical_and_reports_a_broken_row(
    space: Sandbox, services: Callable[..., RunningService], tmp_path: Path
) -> None:
    sink = SmtpSink()
    sink.controller.start()
    try:
        (tmp_path / "directory.yaml").write_text(DIRECTORY)
        running = {"intake": services("intake"), "triage": services("triage"), "sla-clock": services("sla-clock")}
        running["escalation"] = services("escalation", ESCALATION_DIRECTORY_FILE=str(tmp_path / "directory.yaml"))
        running["notifier"] = services("notifier", NOTIFIER_SMTP_PORT=str(sink.port))
        running["board"] = services("board")
        ids = await scenario(running, space)
        await eventually(lambda: stable(running, space), timeout=180, what="every service caught up")
        assert "swat@supportdesk.example" in sink.recipients  # severity 2 engaged SWAT, who were mailed

        # Each live read model really holds the scenario, so "identical" compares something.
        held = {
            "triage": "SELECT count(*) FROM ticket_triage",
            "sla-clock": "SELECT count(*) FROM clocks",
            "escalation": "SELECT count(*) FROM ticket_escalations WHERE level > 0",
            "notifier": "SELECT count(*) FROM deliveries WHERE status = 'sent'",
            "board": "SELECT count(*) FROM board_timeline",
        }
        for name, sql in held.items():
            conn = await connect(space, database_of(running[name]))
            try:
                assert await conn.fetchval(sql) > 0, name
            finally:
                await conn.close()

        sent = len(sink.messages)
        for name in CONSUMERS:
            done = await rebuild(running[name])
            assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"
            assert done.stdout.strip().endswith("identical"), done.stdout
            assert "DIFFERENT" not in done.stdout
            assert "messages/s" in done.stderr and "done in" in done.stderr, done.stderr
            assert "the live consumer group stands where the shadow does" in done.stdout, done.stdout
            # Every event the rebuild derived has the id of one live recorded: replay decides the same.
            derived = re.search(
                r"derived ([\d,]+) events \(never published\), ([\d,]+) with the id of a live", done.stdout
            )
            assert derived is not None and derived[1] == derived[2], done.stdout
            assert ", 0 new" in done.stdout
            if name in ("triage", "sla-clock", "escalation"):  # the ones whose handlers decide something
                assert int(derived[1].replace(",", "")) > 0, done.stdout

        # Break rows on purpose: a changed column, a missing row.
        outage, export = ids["outage"], ids["export"]
        triage_db = await connect(space, database_of(running["triage"]))
        try:
            queue = await triage_db.fetchval("SELECT queue FROM ticket_triage WHERE ticket_id = $1", outage)
            await triage_db.execute("UPDATE ticket_triage SET queue = 'nowhere' WHERE ticket_id = $1", outage)
        finally:
            await triage_db.close()
        notifier_db = await connect(space, database_of(running["notifier"]))
        try:
            await notifier_db.execute("DELETE FROM ticket_contacts WHERE ticket_id = $1", export)
        finally:
            await notifier_db.close()

        broken = await rebuild(running["triage"])
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "DIFFERENT (1 rows)" in broken.stdout
        assert (
            f"ticket_triage (ticket_id={outage!r}) queue: live={json.dumps('nowhere')} shadow={json.dumps(queue)}"
            in broken.stdout
        ), broken.stdout
        missing = await rebuild(running["notifier"])
        assert missing.returncode == 1, missing.stdout + missing.stderr
        assert f"ticket_contacts (ticket_id={export!r}): only in shadow" in missing.stdout, missing.stdout

        assert len(sink.messages) == sent  # the rebuilds sent no mail

        # --swap: refused while triage runs; with it stopped, the shadow becomes the live database.
        triage = running["triage"]
        refused = await rebuild(triage, "--swap")
        assert refused.returncode == 2 and "stop the service first" in refused.stderr, refused.stderr
        triage.process.stop()
        swapped = await rebuild(triage, "--swap")
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        assert "swapped:" in swapped.stdout and "0 events only the rebuild derived" in swapped.stdout
        database = database_of(triage)
        admin = await connect(space, "postgres")
        try:
            old = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{database}__replaced_%")
        finally:
            await admin.close()
        space.databases.extend(r["datname"] for r in old)
        assert len(old) == 1
        before = await connect(space, old[0]["datname"])
        after = await connect(space, database)
        try:
            assert await before.fetchval("SELECT queue FROM ticket_triage WHERE ticket_id = $1", outage) == "nowhere"
            assert await after.fetchval("SELECT queue FROM ticket_triage WHERE ticket_id = $1", outage) == queue
            # The outbox is live's, published rows and all: nothing waits to be published again.
            assert await after.fetchval("SELECT count(*) FROM events WHERE published_at IS NULL") == 0
            assert await after.fetchval("SELECT count(*) FROM events") == await before.fetchval(
                "SELECT count(*) FROM events"
            )
        finally:
            await before.close()
            await after.close()
        triage.restart()
        async with running["intake"].client(api_key=None) as web:
            r = await web.post(
                "/v1/tickets",
                json={"requester_email": "di@acme.example", "subject": "after the swap", "description": "d"},
            )
            assert r.status_code == 202
            fresh = r.json()["ticket_id"]
        async with triage.client() as agent:

            async def triaged() -> bool:
                return (await agent.get(f"/v1/tickets/{fresh}/triage")).status_code == 200

            await eventually(triaged, timeout=60, what="the swapped triage triaging a new ticket")
        await eventually(lambda: stable(running, space), timeout=120, what="every service caught up again")
        # Each ticket triaged once on the log: the swap published nothing twice.
        log = await read_topic(space, Topic.TRIAGE.value, expect=10**6, timeout=5)
        per_ticket = Counter(m.key.decode() for m in log if dict(m.headers).get("event_type") == b"TicketTriaged")
        assert per_ticket == Counter({*ids.values(), fresh}), per_ticket

        # --swap of the notifier never mails anyone: sent deliveries stay sent (carried from live),
        # and one the live ledger lacks (deleted here) is recreated by the rebuild as dead, unsent.
        notifier = running["notifier"]
        live_db = await connect(space, database_of(notifier))
        try:
            gone = await live_db.fetchrow(
                "SELECT cause_event_id, recipient, channel, message_id FROM deliveries WHERE status = 'sent' LIMIT 1"
            )
            assert gone is not None
            await live_db.execute(
                "DELETE FROM deliveries WHERE cause_event_id = $1 AND recipient = $2 AND channel = $3",
                gone["cause_event_id"],
                gone["recipient"],
                gone["channel"],
            )
            states = dict(
                ((r["cause_event_id"], r["recipient"], r["channel"]), r["status"])
                for r in await live_db.fetch("SELECT cause_event_id, recipient, channel, status FROM deliveries")
            )
            # A live delivery still pending that the rebuild will not make (work in flight): kept.
            # Due in 5 s, so that the live dispatcher does not send it in the moment before its stop.
            late_key = (uuid.uuid4(), "late@customer.example", "email")
            await live_db.execute(
                "INSERT INTO deliveries (cause_event_id, recipient, channel, ticket_id, template, status, attempts,"
                " next_attempt_at, created_at, subject, body, delivery_id, message_id, context)"
                " SELECT $1, $2, $3, ticket_id, template, 'pending', 0, now() + interval '5 seconds', now(), subject,"
                " 'in flight', $4, $5, context FROM deliveries LIMIT 1",
                *late_key,
                uuid.uuid4(),
                "<late@supportdesk.example>",
            )
        finally:
            await live_db.close()
        mailed = len(sink.messages)
        notifier.process.stop()
        # An answer the stopped notifier has not consumed: the rebuild makes its delivery, and the
        # swap leaves it pending (the live notifier would have mailed it), not dead.
        answer = "We found it: the login cache."
        async with running["intake"].client() as agent:
            r = await agent.post(f"/v1/tickets/{ids['login']}/responses", json={"body": answer})
            assert r.status_code == 200, r.text
        intake_db = await connect(space, database_of(running["intake"]))
        try:

            async def published() -> bool:
                return not await intake_db.fetchval("SELECT count(*) FROM events WHERE published_at IS NULL")

            await eventually(published, timeout=60, what="intake to publish the answer")
        finally:
            await intake_db.close()
        swapped = await rebuild(notifier, "--swap")
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        replaced = swapped.stdout.split("the old one is ")[1].split(" ")[0]
        space.databases.append(replaced)
        after = await connect(space, database_of(notifier))
        try:
            rows = await after.fetch("SELECT cause_event_id, recipient, channel, status, last_error FROM deliveries")
            by_key = {(r["cause_event_id"], r["recipient"], r["channel"]): r for r in rows}
            key = (gone["cause_event_id"], gone["recipient"], gone["channel"])
            assert (by_key[key]["status"], by_key[key]["last_error"]) == ("dead", "made by a rebuild; never sent")
            unsent = {k: r["status"] for k, r in by_key.items() if k not in states and k != key}
            assert late_key in unsent and len(unsent) >= 2, unsent  # the late one and the answer's
            assert set(unsent.values()) == {"pending"}, unsent
            assert {k: r["status"] for k, r in by_key.items() if k in states} == states
            assert await after.fetchval("SELECT count(*) FROM ticket_contacts WHERE ticket_id = $1", export) == 1
        finally:
            await after.close()
        notifier.restart()
        await eventually(lambda: stable(running, space), timeout=120, what="the swapped notifier caught up")
        await asyncio.sleep(3)  # time for the restarted dispatcher to pick up anything it took as due
        new_mail = sink.messages[mailed:]
        assert sum(answer in str(m.get_body(preferencelist=("plain",))) for m in new_mail) == 1, [
            str(m["To"]) for m in new_mail
        ]
        assert [str(m["Message-ID"]) for m in new_mail].count("<late@supportdesk.example>") == 1
        assert len(new_mail) == 2, [str(m["To"]) for m in new_mail]
        assert [m["Message-ID"] for m in sink.messages].count(gone["message_id"]) == 1  # the original send only

        # An agent's override is triage's decision on a command, not on an event it consumes: the
        # rebuild names the ticket and says why, and a swap that would lose the override is refused.
        async with triage.client() as agent:
            r = await agent.post(f"/v1/tickets/{fresh}/overrides", json={"priority": "urgent", "reason": "VIP"})
            assert r.status_code == 200, r.text
        overridden = await rebuild(triage)
        assert overridden.returncode == 1, overridden.stdout + overridden.stderr
        assert "not replayed (the live service decided them on commands; their rows differ): 1 agents'" in (
            overridden.stdout
        )
        assert f"ticket_triage (ticket_id={fresh!r}) priority: live={json.dumps('urgent')}" in overridden.stdout
        triage.process.stop()
        space.databases.append(f"{database}__rebuild")  # left for inspection by the refused swap
        kept = await rebuild(triage, "--swap")
        assert kept.returncode == 2, kept.stdout + kept.stderr
        assert "a swap would lose what the rebuild cannot replay: 1 agents' overrides" in kept.stderr, kept.stderr
    finally:
        sink.controller.stop()
