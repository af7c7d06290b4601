"""Escalation's level machine through its HTTP API and the real broker: acknowledgement stops the
climb, closing resolves, severity 1 goes straight to the tier lead and SWAT, levels never go back."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from escalation.entrypoints.app import build_app
from escalation.settings import Settings
from supportdesk_contract.catalogue import (
    ClockKind,
    ClosureCode,
    EscalationRequested,
    Priority,
    SlaAtRisk,
    TicketClosed,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, produce
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_service.migrations import migrate

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
AGENT = {"Authorization": "Bearer lead-key"}


@pytest.fixture
async def esc(space: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock]]:
    (tmp_path / "dir.yaml").write_text(
        "tier_leads: {technical: [lead@x.example]}\nexecutives: [exec@x.example]\n"
        "swat: [swat@x.example]\nclimb_after_minutes: {1: 30, 2: 60}\n"
    )
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("escalation"),
        directory_file=str(tmp_path / "dir.yaml"),
        api_keys="lee=lead-key",
        admin_api_keys="root",
    )
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    clock = ManualClock(T0)
    app = build_app(settings, clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x", headers=AGENT) as client,
    ):
        yield client, clock


async def send(space: Sandbox, topic: Topic, ticket: str, *payloads: Any) -> None:
    envs = [new_envelope(p, ticket_id=ticket, producer="t", clock=ManualClock(T0)) for p in payloads]
    await produce(space, topic, [encode(e)[:2] for e in envs])


async def state(client: httpx.AsyncClient, ticket: str) -> dict[str, Any] | None:
    r = await client.get(f"/v1/tickets/{ticket}/escalation")
    return r.json() if r.status_code == 200 else None


async def test_acknowledged_escalations_stop_climbing_and_closing_resolves(
    space: Sandbox, esc: tuple[httpx.AsyncClient, ManualClock]
) -> None:
    client, clock = esc
    await send(space, Topic.LIFECYCLE, "a", opened(opened_at=T0))
    await send(space, Topic.TRIAGE, "a", triaged(severity=3, opened_at=T0))
    await send(space, Topic.SLA, "a", SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0))

    async def at(level: int) -> bool:
        s = await state(client, "a")
        return s is not None and s["level"] == level

    await eventually(lambda: at(1), what="the tier lead")
    acked = await client.post("/v1/tickets/a/escalation/acknowledgement")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "lee"
    clock.set(T0 + timedelta(hours=3))  # well past the 30 minutes: acknowledged, so it stays
    await send(space, Topic.LIFECYCLE, "a", EscalationRequested(by="customer", reason="no progress for a week"))
    await eventually(lambda: at(2), what="the customer's request raising it to the account manager")
    await send(space, Topic.SLA, "a", SlaAtRisk(clock=ClockKind.RESOLUTION, threshold_percent=75, due_at=T0))
    await send(space, Topic.LIFECYCLE, "a", TicketClosed(closure_code=ClosureCode.WORKAROUND_ACCEPTED, by="c"))

    async def resolved() -> dict[str, Any] | None:
        s = await state(client, "a")
        return s if s is not None and s["resolved"] else None

    final = await eventually(resolved, what="resolution")
    assert final["level"] == 2  # a later at-risk never took it back down
    assert [h["event_type"] for h in final["history"]] == [
        "TicketEscalated",
        "EscalationAcknowledged",
        "TicketEscalated",
        "EscalationResolved",
    ]
    assert (await client.get("/v1/escalations")).json() == []
    assert (await client.post("/v1/tickets/a/escalation/acknowledgement")).status_code == 409


async def test_severity_one_goes_to_the_tier_lead_and_swat_at_once(
    space: Sandbox, esc: tuple[httpx.AsyncClient, ManualClock]
) -> None:
    client, _ = esc
    await send(space, Topic.LIFECYCLE, "s1", opened(opened_at=T0))
    await send(space, Topic.TRIAGE, "s1", triaged(priority=Priority.URGENT, severity=1, swat=True, opened_at=T0))
    s = await eventually(lambda: state(client, "s1"), what="the escalation")
    await eventually(lambda: _swat(client), what="SWAT engaged")
    s = await state(client, "s1")
    assert s is not None and (s["level"], s["swat_engaged"]) == (1, True)
    assert [e["ticket_id"] for e in (await client.get("/v1/escalations", params={"level": 1})).json()] == ["s1"]
    recipients = [h.get("recipients") for h in s["history"] if h["event_type"] == "TicketEscalated"]
    assert recipients == [["lead@x.example"]]


async def _swat(client: httpx.AsyncClient) -> bool:
    s = await state(client, "s1")
    return bool(s and s["swat_engaged"])


async def test_the_directory_comes_from_the_file_at_start_and_an_admin_replaces_it(
    esc: tuple[httpx.AsyncClient, ManualClock],
) -> None:
    client, _ = esc
    admin = {"Authorization": "Bearer root"}
    assert (await client.get("/v1/directory")).status_code == 401  # an agent's key is not an admin's
    loaded = (await client.get("/v1/directory", headers=admin)).json()
    assert (loaded["tier_leads"], loaded["climb_after_minutes"]) == (
        {"technical": ["lead@x.example"]},
        {"1": 30, "2": 60},
    )
    replaced = {"tier_leads": {"billing": ["bill@x.example"]}, "executives": ["boss@x.example"]}
    put = await client.put("/v1/directory", json=replaced, headers=admin)
    assert (put.status_code, put.json()["tier_leads"]) == (200, {"billing": ["bill@x.example"]})
    now = (await client.get("/v1/directory", headers=admin)).json()
    assert (now["tier_leads"], now["executives"], now["swat"]) == (
        {"billing": ["bill@x.example"]},
        ["boss@x.example"],
        [],
    )
