"""Dead letters an operator can work with, on the real broker and database: a message that fails
until its cause is fixed is dead-lettered while the partition moves on; after the fix a redrive
applies it once, a second redrive changes nothing; the HTTP admin routes and the command line show
the same letters; the metrics move."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, Table, Text, select, text
from sqlalchemy.dialects.postgresql import insert

from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, encode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, free_port, produce
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.db import create_engine, ensure_database, plumbing_tables
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.app import create_app
from supportdesk_service.cli import service_main
from supportdesk_service.problems import PROBLEM_JSON
from supportdesk_service.runtime import ServiceDefinition
from supportdesk_service.settings import ServiceSettings

pytestmark = pytest.mark.integration

ADMIN_KEY = "redrive-admin-key"
metadata = MetaData()
plumbing_tables(metadata)
applied = Table("applied", metadata, Column("ticket_id", Text, primary_key=True), Column("times", Integer))


@dataclass
class Desk:
    """What the probe service's handler depends on: a customer directory that lacks a customer
    until an operator adds it (the 'fix')."""

    known_customers: set[str]
    settings: ServiceSettings | None = None
    pause: float = 0.0  # seconds the handler takes (to make two redrives overlap)


DESK = Desk(known_customers={"acme"})


async def open_ticket(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """Counts every application (not idempotent itself: only the inbox keeps `times` at one)."""
    customer = env.payload.customer_id
    await ctx.conn.execute(insert(applied).values(ticket_id=env.ticket_id, times=100))  # rolled back on failure
    await asyncio.sleep(DESK.pause)
    if customer not in DESK.known_customers:
        raise LookupError(f"unknown customer {customer!r}")
    await ctx.conn.execute(text("DELETE FROM applied WHERE ticket_id = :t"), {"t": env.ticket_id})
    stmt = insert(applied).values(ticket_id=env.ticket_id, times=1)
    await ctx.conn.execute(
        stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={"times": applied.c.times + 1})
    )


def build_probe() -> FastAPI:
    """The app factory the command line imports (`<module>:build_probe`), as `serve` would."""
    assert DESK.settings is not None
    return create_app(
        ServiceDefinition(
            name="probe", settings=DESK.settings, handlers={"TicketOpened": open_ticket}, clock=SystemClock()
        )
    )


async def publish(space: Sandbox, envs: list[Envelope[Any]]) -> None:
    """As the relay publishes: key, value and the wire headers."""
    producer = AIOKafkaProducer(bootstrap_servers=space.servers.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for env in envs:
            key, value, headers = encode(env)
            await producer.send_and_wait(space.prefix + Topic.LIFECYCLE, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


@asynccontextmanager
async def probe_service(space: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    database = space.database("probe")
    await ensure_database(space.servers.database_url, database)
    engine = create_engine(space.servers.database_url, database)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    DESK.settings = ServiceSettings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=database,
        admin_api_keys=f"ops={ADMIN_KEY}",
    )
    server = uvicorn.Server(
        uvicorn.Config(build_probe(), host="127.0.0.1", port=free_port(), log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            yield http
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`probe <argv>` as an operator runs it (in a thread: it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(
        service_main,
        name="probe",
        settings_factory=lambda: DESK.settings or ServiceSettings(),
        app_factory=f"{__name__}:build_probe",
        migrations="unused:migrations",  # the probe creates its tables itself
        argv=list(argv),
    )
    return code, capsys.readouterr().out


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def times_applied(ticket_id: str) -> int | None:
    assert DESK.settings is not None
    engine = create_engine(DESK.settings.database_url, DESK.settings.database_name)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(applied.c.times).where(applied.c.ticket_id == ticket_id))).scalar()
    finally:
        await engine.dispose()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(body: str, name: str, **labels: str) -> float | None:
    """A sample's value in a /metrics answer."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(autouse=True)
def _module_importable() -> None:
    # The command line imports the app factory by module name, as it would a service's.
    assert sys.modules[__name__] is not None


async def test_a_dead_letter_fixed_and_redriven_is_applied_once_and_http_and_cli_agree(
    space: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    DESK.known_customers = {"acme"}
    topic = space.prefix + Topic.LIFECYCLE
    dead_lettered_before = sample(
        "supportdesk_dead_lettered_messages_total", consumer="probe", reason="handler_failed", topic=topic
    )
    stranger = envelope(opened(customer_id="globex"), "T-stranger")
    after = envelope(opened(customer_id="acme"), "T-after")
    async with probe_service(space) as http:
        # Same key as the poisoned one: same partition, right behind it.
        await publish(space, [stranger])
        await produce(space, Topic.LIFECYCLE, [(stranger.ticket_id.encode(), encode(after)[1])])
        assert await eventually(lambda: times_applied("T-after"), what="the message behind the poison") == 1

        listed = (await eventually(lambda: _listed(http), what="the dead letter listed"))["dead_letters"]
        assert len(listed) == 1
        letter = listed[0]
        assert letter["event_type"] == "TicketOpened"
        assert letter["event_id"] == str(stranger.event_id)
        assert letter["ticket_id"] == "T-stranger"
        assert letter["reason_class"] == "handler_failed"
        assert letter["reason"] == "TicketOpened handler failed: LookupError: unknown customer 'globex'"
        assert letter["source"]["topic"] == topic
        assert letter["redriven_at"] is None and letter["age_seconds"] >= 0
        assert await times_applied("T-stranger") is None  # its partial effect was rolled back

        # The command line lists the same letter.
        code, out = await cli(capsys, "dead-letters", "list", "--json")
        assert code == 0
        assert [{k: v for k, v in d.items() if k != "age_seconds"} for d in lines(out)] == [
            {k: v for k, v in letter.items() if k != "age_seconds"}
        ]
        code, out = await cli(capsys, "dead-letters", "list", "--reason", "unknown customer")
        assert code == 0 and "T-stranger" in out and "(1 dead letters)" in out
        code, out = await cli(capsys, "dead-letters", "list", "--type", "TicketReopened")
        assert "(0 dead letters)" in out

        # show: the raw message as it came, over HTTP and on the command line.
        shown = (await http.get(f"/v1/admin/dead-letters/{letter['id']}")).json()
        assert shown["value"] == encode(stranger)[1].decode()
        assert shown["key"] == "T-stranger"
        assert {"name": "event_id", "value": str(stranger.event_id)} in shown["headers"]
        code, out = await cli(capsys, "dead-letters", "show", str(letter["id"]))
        assert code == 0
        assert {k: v for k, v in json.loads(out).items() if k != "age_seconds"} == {
            k: v for k, v in shown.items() if k != "age_seconds"
        }

        # The metrics: the counter moved, the gauge counts it.
        metrics_text = (await http.get("/metrics")).text
        assert scraped(metrics_text, "supportdesk_dead_letters_pending", consumer="probe") == 1.0
        assert (
            sample("supportdesk_dead_lettered_messages_total", consumer="probe", reason="handler_failed", topic=topic)
            == dead_lettered_before + 1
        )

        # Redriven before the fix: it fails again, nothing applied, the row stays pending with the error.
        again = await http.post(f"/v1/admin/dead-letters/{letter['id']}/redrive")
        assert again.status_code == 200, again.text
        assert again.json()["outcome"] == "failed"
        assert "unknown customer 'globex'" in again.json()["error"]
        assert await times_applied("T-stranger") is None
        pending = (await http.get("/v1/admin/dead-letters", params={"pending": "true"})).json()["dead_letters"]
        assert [(d["id"], d["redrive_attempts"]) for d in pending] == [(letter["id"], 1)]

        # The fix (the customer is added), then a redrive from the command line: applied, once.
        DESK.known_customers.add("globex")
        code, out = await cli(capsys, "dead-letters", "redrive", str(letter["id"]), "--by", "ann")
        assert code == 0
        assert [(r["id"], r["outcome"]) for r in lines(out)] == [(letter["id"], "applied")]
        assert await times_applied("T-stranger") == 1

        # A second redrive, by id over HTTP and by filter or --all on the command line: no-ops.
        second = (await http.post(f"/v1/admin/dead-letters/{letter['id']}/redrive")).json()
        assert second["outcome"] == "already_redriven"
        code, out = await cli(capsys, "dead-letters", "redrive", "--all")
        assert code == 0 and lines(out) == []
        by_filter = await http.post("/v1/admin/dead-letters/redrive", json={"type": "TicketOpened"})
        assert by_filter.json() == {"redriven": []}
        assert await times_applied("T-stranger") == 1

        done = (await http.get(f"/v1/admin/dead-letters/{letter['id']}")).json()
        assert done["redrive_outcome"] == "applied" and done["redriven_by"] == "ann"
        assert done["redrive_attempts"] == 2
        metrics_text = (await http.get("/metrics")).text
        assert scraped(metrics_text, "supportdesk_dead_letters_pending", consumer="probe") == 0.0


async def _listed(http: httpx.AsyncClient) -> dict[str, Any] | None:
    found: dict[str, Any] = (await http.get("/v1/admin/dead-letters")).json()
    return found if found["dead_letters"] else None


async def test_a_dead_letter_the_consumer_applied_since_is_a_duplicate_on_redrive_and_unreadable_stays_pending(
    space: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    DESK.known_customers = {"acme"}
    stranger = envelope(opened(customer_id="initech"), "T-later")
    behind = envelope(opened(customer_id="acme"), "T-behind")
    async with probe_service(space) as http:
        await publish(space, [stranger])
        await produce(space, Topic.LIFECYCLE, [(b"T-later", b"{not json"), (b"T-later", encode(behind)[1])])
        await eventually(lambda: times_applied("T-behind"), what="the message behind two dead letters")
        letters = (await eventually(lambda: _two(http), what="two dead letters"))["dead_letters"]
        by_class = {d["reason_class"]: d for d in letters}
        assert set(by_class) == {"handler_failed", "not_json"}

        # Fixed, and the producer sends the same event again (a retry): the consumer applies it.
        DESK.known_customers.add("initech")
        await publish(space, [stranger])
        assert await eventually(lambda: times_applied("T-later"), what="the re-sent event") == 1

        redriven = await http.post("/v1/admin/dead-letters/redrive", json={"all": True})
        assert redriven.status_code == 200, redriven.text
        outcomes = {r["id"]: r["outcome"] for r in redriven.json()["redriven"]}
        assert outcomes == {by_class["handler_failed"]["id"]: "duplicate", by_class["not_json"]["id"]: "failed"}
        assert await times_applied("T-later") == 1  # the inbox had it: not applied twice
        unreadable = (await http.get(f"/v1/admin/dead-letters/{by_class['not_json']['id']}")).json()
        assert unreadable["redriven_at"] is None
        assert unreadable["last_redrive_error"].startswith("still cannot be read: value is not JSON")
        assert unreadable["value"] == "{not json"

        code, out = await cli(capsys, "dead-letters", "list", "--pending", "--json")
        assert [d["id"] for d in lines(out)] == [by_class["not_json"]["id"]]

        # Errors are problem+json.
        missing = await http.get("/v1/admin/dead-letters/999999")
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON
        assert (await http.post("/v1/admin/dead-letters/999999/redrive")).status_code == 404
        vague = await http.post("/v1/admin/dead-letters/redrive", json={})
        assert vague.status_code == 422 and vague.headers["content-type"] == PROBLEM_JSON
        anonymous = await http.get("/v1/admin/dead-letters", headers={"Authorization": "Bearer nope"})
        assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM_JSON
        code, _ = await cli(capsys, "dead-letters", "redrive")
        assert code == 2


async def _two(http: httpx.AsyncClient) -> dict[str, Any] | None:
    found: dict[str, Any] = (await http.get("/v1/admin/dead-letters")).json()
    return found if len(found["dead_letters"]) == 2 else None


async def test_two_operators_redriving_one_dead_letter_at_once_apply_it_once(space: Sandbox) -> None:
    """The row lock serialises them: the second waits for the first's transaction and then finds
    the letter redriven (without the lock both would apply, and the inbox would make the second a
    'duplicate' only because it happens to be there too)."""
    DESK.known_customers, DESK.pause = {"acme"}, 0.0
    stranger = envelope(opened(customer_id="umbrella"), "T-raced")
    async with probe_service(space) as http:
        await publish(space, [stranger])
        letter = (await eventually(lambda: _listed(http), what="the dead letter"))["dead_letters"][0]
        DESK.known_customers.add("umbrella")
        DESK.pause = 1.0  # each redrive holds its transaction open for a second
        try:
            first, second = await asyncio.gather(
                http.post(f"/v1/admin/dead-letters/{letter['id']}/redrive"),
                http.post(f"/v1/admin/dead-letters/{letter['id']}/redrive"),
            )
        finally:
            DESK.pause = 0.0
        assert sorted([first.json()["outcome"], second.json()["outcome"]]) == ["already_redriven", "applied"]
        assert await times_applied("T-raced") == 1
        done = (await http.get(f"/v1/admin/dead-letters/{letter['id']}")).json()
        assert done["redrive_attempts"] == 1
