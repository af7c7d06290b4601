"""Tier leads are team leads, through the real broker: the assignment service's TeamProfileChanged
on desk.people names who escalation pages for a queue; the directory's tier_leads cover the rest.
The account manager comes from the customer, as TicketOpened names them."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from escalation.entrypoints.app import build_app
from escalation.service_layer.handlers import HANDLERS
from escalation.settings import Settings
from supportdesk_contract.catalogue import (
    PEOPLE_KEY,
    ClockKind,
    Event,
    SeverityChanged,
    SlaAtRisk,
    SlaBreached,
    TeamProfileChanged,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process, produce
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 7, 17, tzinfo=UTC)
AGENT = {"Authorization": "Bearer lead-key"}
ADMIN = {"Authorization": "Bearer admin-key"}


@pytest.fixture
async def client(space: Sandbox, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "dir.yaml").write_text(
        "tier_leads: {technical: [file-lead@x.example], billing: [file-billing@x.example]}\n"
    )
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("escalation"),
        directory_file=str(tmp_path / "dir.yaml"),
        api_keys="lee=lead-key",
        admin_api_keys="root=admin-key",
    )
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    async with in_process(build_app(settings, ManualClock(T0))) as c:
        yield c


async def send(space: Sandbox, topic: Topic, key: str, *payloads: Event) -> None:
    envs = [new_envelope(p, ticket_id=key, producer="t", clock=ManualClock(T0)) for p in payloads]
    await produce(space, topic, [encode(e)[:2] for e in envs])


def platform(**changes: Any) -> TeamProfileChanged:
    team = {
        "team_id": "platform",
        "name": "Platform",
        "members": ("pat", "sam"),
        "lead": "pat",
        "lead_email": "pat@x.example",
        "queues": ("technical",),
        "escalation_tier": 1,
        "by": "admin",
    }
    return TeamProfileChanged.model_validate({**team, **changes})


async def tier_leads(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/directory/tier-leads", headers=ADMIN)
    assert r.status_code == 200, r.text
    return {t["queue"]: t for t in r.json()}


async def escalated_to(client: httpx.AsyncClient, ticket: str, level: int) -> list[str] | None:
    r = await client.get(f"/v1/tickets/{ticket}/escalation", headers=AGENT)
    if r.status_code != 200:
        return None
    found = [
        h["recipients"] for h in r.json()["history"] if h["event_type"] == "TicketEscalated" and h["level"] == level
    ]
    return found[0] if found else None


async def test_a_breach_pages_the_lead_of_the_team_serving_the_queue(space: Sandbox, client: httpx.AsyncClient) -> None:
    await send(space, Topic.PEOPLE, PEOPLE_KEY, platform())

    async def from_the_team() -> bool:
        return (await tier_leads(client)).get("technical", {}).get("source") == "teams"

    await eventually(from_the_team, what="the team kept")
    leads = await tier_leads(client)
    assert leads["technical"] == {
        "queue": "technical",
        "leads": ["pat@x.example"],
        "source": "teams",
        "teams": ["platform"],
    }
    assert leads["billing"]["leads"] == ["file-billing@x.example"]  # no team serves it: the file's

    # A technical ticket at risk, then breached (no account manager known: the tier lead again).
    await send(space, Topic.LIFECYCLE, "tech-1", opened(opened_at=T0))
    await send(space, Topic.TRIAGE, "tech-1", triaged(opened_at=T0))
    await send(space, Topic.SLA, "tech-1", SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0))
    assert await eventually(lambda: escalated_to(client, "tech-1", 1), what="the tier lead") == ["pat@x.example"]
    await send(space, Topic.SLA, "tech-1", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0))
    assert await eventually(lambda: escalated_to(client, "tech-1", 2), what="the breach") == ["pat@x.example"]

    # A billing ticket: no team serves billing, so the directory's tier lead.
    await send(space, Topic.LIFECYCLE, "bill-1", opened(opened_at=T0))
    await send(space, Topic.TRIAGE, "bill-1", triaged(queue="billing", opened_at=T0))
    await send(space, Topic.SLA, "bill-1", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0))
    assert await eventually(lambda: escalated_to(client, "bill-1", 2), what="billing's breach") == [
        "file-billing@x.example"
    ]

    # The team is disbanded (its latest profile: inactive): the file's tier lead covers the queue again.
    await send(space, Topic.PEOPLE, PEOPLE_KEY, platform(active=False))

    async def from_the_file() -> bool:
        return (await tier_leads(client))["technical"]["source"] == "directory"

    await eventually(from_the_file, what="the team's departure")
    await send(space, Topic.LIFECYCLE, "tech-2", opened(opened_at=T0))
    await send(space, Topic.TRIAGE, "tech-2", triaged(opened_at=T0))
    await send(space, Topic.SLA, "tech-2", SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0))
    assert await eventually(lambda: escalated_to(client, "tech-2", 1), what="tech-2's tier lead") == [
        "file-lead@x.example"
    ]
    # desk.people events are not tickets: escalation never opened one for their key.
    assert (await client.get(f"/v1/tickets/{PEOPLE_KEY}/escalation", headers=AGENT)).status_code == 404


async def test_a_team_change_in_the_same_batch_as_ticket_events(space: Sandbox, client: httpx.AsyncClient) -> None:
    """One consumer batch holding the team's change and a ticket's events, as the consumer applies
    it: the team's key opens no escalation, and the ticket events after the change route by it."""
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        database_name=space.database("escalation"),
        KAFKA_TOPIC_PREFIX=space.prefix,
    )
    runtime = ServiceRuntime(ServiceDefinition(name="escalation", settings=settings, clock=ManualClock(T0)))
    clock = ManualClock(T0)
    batch = [
        new_envelope(opened(opened_at=T0), ticket_id="mixed-1", producer="t", clock=clock),
        new_envelope(triaged(opened_at=T0), ticket_id="mixed-1", producer="t", clock=clock),
        new_envelope(platform(lead_email="quinn@x.example"), ticket_id=PEOPLE_KEY, producer="t", clock=clock),
        new_envelope(
            SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0),
            ticket_id="mixed-1",
            producer="t",
            clock=clock,
        ),
    ]
    try:
        async with runtime.engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "escalation", batch=batch)
            for env in batch:
                await HANDLERS[env.event_type](ctx, env)
            await ctx.flush()
    finally:
        await runtime.engine.dispose()
    assert await escalated_to(client, "mixed-1", 1) == ["quinn@x.example"]
    assert (await client.get(f"/v1/tickets/{PEOPLE_KEY}/escalation", headers=AGENT)).status_code == 404


async def test_a_breach_reaches_the_account_manager_the_ticket_names(space: Sandbox, client: httpx.AsyncClient) -> None:
    named = opened(opened_at=T0, customer_id="acme", account_manager_email="priya@x.example")
    await send(space, Topic.LIFECYCLE, "am-1", named)
    await send(space, Topic.TRIAGE, "am-1", triaged(opened_at=T0))
    await send(space, Topic.SLA, "am-1", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0))
    assert await eventually(lambda: escalated_to(client, "am-1", 2), what="the breach") == ["priya@x.example"]


async def test_a_strangers_severity_one_waits_for_an_agent_to_engage_swat(
    space: Sandbox, client: httpx.AsyncClient
) -> None:
    """An anonymous web ticket claiming severity 1 reaches the tier lead and nobody more, until an
    agent sets the severity (docs/operations/security.md#claims-from-strangers)."""
    claimed = opened(opened_at=T0, severity=1, emergency_contact=True, requester_verified=False)
    await send(space, Topic.LIFECYCLE, "anon-1", claimed)
    await send(space, Topic.TRIAGE, "anon-1", triaged(opened_at=T0, severity=1, priority="urgent", swat=True))
    assert await eventually(lambda: escalated_to(client, "anon-1", 1), what="the tier lead") == ["file-lead@x.example"]

    async def history() -> list[dict[str, Any]]:
        r = await client.get("/v1/tickets/anon-1/escalation", headers=AGENT)
        return list(r.json()["history"])

    assert [h["event_type"] for h in await history()] == ["TicketEscalated"]  # no SwatEngaged, no on-call
    confirmed = SeverityChanged(severity=1, previous=1, by="lee", reason="confirmed on the phone")
    await send(space, Topic.LIFECYCLE, "anon-1", confirmed)

    async def swat_engaged() -> bool:
        return "SwatEngaged" in [h["event_type"] for h in await history()]

    await eventually(swat_engaged, what="SWAT once an agent confirmed")
