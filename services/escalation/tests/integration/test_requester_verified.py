"""A stranger's claims through the real broker and database: an anonymous severity-1 ticket from
a named emergency contact's address pages the tier lead only; once the requester follows the
emailed link (RequesterVerified on tickets.lifecycle), SWAT is engaged and on-call joins. A breach
read before the link was followed engages SWAT when it is."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from escalation.entrypoints.app import build_app
from escalation.settings import Settings
from supportdesk_contract.catalogue import ClockKind, Event, RequesterVerified, SlaBreached, VerificationMethod
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process, produce
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_service.migrations import migrate

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 7, 17, tzinfo=UTC)
AGENT = {"Authorization": "Bearer lead-key"}
LINK_FOLLOWED = RequesterVerified(method=VerificationMethod.EMAILED_LINK, verified_at=T0)


@pytest.fixture
async def client(space: Sandbox, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "dir.yaml").write_text(
        "tier_leads: {technical: [lead@x.example]}\n"
        "swat: [swat@x.example]\n"
        "on_call: [oncall@x.example]\n"
        "executives: [exec@x.example]\n"
    )
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("escalation"),
        directory_file=str(tmp_path / "dir.yaml"),
        api_keys="lee=lead-key",
    )
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    async with in_process(build_app(settings, ManualClock(T0))) as c:
        yield c


async def send(space: Sandbox, topic: Topic, key: str, *payloads: Event) -> None:
    envs = [new_envelope(p, ticket_id=key, producer="t", clock=ManualClock(T0)) for p in payloads]
    await produce(space, topic, [encode(e)[:2] for e in envs])


async def history(client: httpx.AsyncClient, ticket: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/tickets/{ticket}/escalation", headers=AGENT)
    return list(r.json()["history"]) if r.status_code == 200 else []


def paged(recorded: list[dict[str, Any]]) -> list[str]:
    """Everyone the ticket's escalation events reached, in order."""
    return [who for h in recorded for who in (h.get("recipients") or h.get("members") or [])]


async def test_a_strangers_severity_one_pages_swat_and_on_call_once_the_requester_follows_the_link(
    space: Sandbox, client: httpx.AsyncClient
) -> None:
    claimed = opened(opened_at=T0, severity=1, emergency_contact=True, requester_verified=False)
    await send(space, Topic.LIFECYCLE, "anon-1", claimed)
    await send(space, Topic.TRIAGE, "anon-1", triaged(opened_at=T0, severity=1, priority="urgent", swat=True))

    async def decided(n: int) -> list[dict[str, Any]] | None:
        recorded = await history(client, "anon-1")
        return recorded if len(recorded) >= n else None

    before = await eventually(lambda: decided(1), what="the tier lead")
    assert [h["event_type"] for h in before] == ["TicketEscalated"] and paged(before) == ["lead@x.example"]

    await send(space, Topic.LIFECYCLE, "anon-1", LINK_FOLLOWED)
    after = await eventually(lambda: decided(3), what="SWAT and on-call once the requester proved who they are")
    assert [h["event_type"] for h in after] == ["TicketEscalated", "TicketEscalated", "SwatEngaged"]
    assert paged(after) == ["lead@x.example", "oncall@x.example", "swat@x.example"]


async def test_a_breach_before_the_link_is_followed_engages_swat_then(
    space: Sandbox, client: httpx.AsyncClient
) -> None:
    await send(space, Topic.LIFECYCLE, "anon-2", opened(opened_at=T0, severity=2, requester_verified=False))
    await send(space, Topic.TRIAGE, "anon-2", triaged(opened_at=T0, severity=2, priority="high", swat=True))
    await send(space, Topic.SLA, "anon-2", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0))

    async def escalated() -> list[dict[str, Any]] | None:
        recorded = await history(client, "anon-2")
        return recorded or None

    breach = await eventually(escalated, what="the breach")
    assert "SwatEngaged" not in [h["event_type"] for h in breach]
    await send(space, Topic.LIFECYCLE, "anon-2", LINK_FOLLOWED)

    async def swat() -> list[str] | None:
        recorded = await history(client, "anon-2")
        return [m for h in recorded if h["event_type"] == "SwatEngaged" for m in h["members"]] or None

    assert await eventually(swat, what="SWAT once the requester proved who they are") == ["swat@x.example"]
