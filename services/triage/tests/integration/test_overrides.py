"""Agents override triage through the HTTP API, on the real broker and database: the decision
changes, each change is an event with who and why, and the rules no longer move an agent's priority."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from supportdesk_contract.catalogue import Channel, SeverityChanged
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import decode, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process, produce, read_topic
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_service.migrations import migrate
from triage.entrypoints.app import build_app
from triage.settings import Settings

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}


@pytest.fixture
async def triage(space: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("triage"),
        api_keys="ann=ann-key",
    )
    await asyncio.to_thread(migrate, settings, "triage:migrations")
    app = build_app(settings)
    async with in_process(app) as c:
        yield c


async def test_an_override_changes_the_decision_and_says_who_and_why(space: Sandbox, triage: httpx.AsyncClient) -> None:
    clock = SystemClock()
    slow = opened(number="TKT-7", channel=Channel.EMAIL, subject="Report is slow", clock=clock)
    await produce(space, Topic.LIFECYCLE, [encode(envelope(slow, "t7", producer="intake", clock=clock))[:2]])

    async def triaged() -> dict[str, object] | None:
        r = await triage.get("/v1/tickets/t7/triage", headers=AGENT)
        return r.json() if r.status_code == 200 else None

    before = await eventually(triaged, what="the ticket triaged")
    assert before["priority"] == "normal"  # email defaults to Normal (docs/policies.md#seed-000)

    missing = await triage.post("/v1/tickets/nope/overrides", json={"priority": "high", "reason": "x"}, headers=AGENT)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    empty = await triage.post("/v1/tickets/t7/overrides", json={"reason": "x"}, headers=AGENT)
    assert empty.status_code == 422
    anonymous = await triage.post("/v1/tickets/t7/overrides", json={"priority": "high", "reason": "x"})
    assert anonymous.status_code == 401

    r = await triage.post(
        "/v1/tickets/t7/overrides", json={"priority": "urgent", "queue": "billing", "reason": "outage"}, headers=AGENT
    )
    assert r.status_code == 200, r.text
    assert (r.json()["priority"], r.json()["queue"], r.json()["priority_set_by"]) == ("urgent", "billing", "ann")

    # A severity change would move a rule-set priority; an agent's stays.
    change = SeverityChanged(severity=4, previous=None, by="ann", reason="minor after all")
    await produce(
        space,
        Topic.LIFECYCLE,
        [encode(new_envelope(change, ticket_id="t7", producer="intake", clock=SystemClock()))[:2]],
    )
    await eventually(lambda: _severity_is(triage, 4), what="the severity change applied")
    assert (await triaged() or {})["priority"] == "urgent"
    # The open tickets per queue count it where the agent put it.
    queues = await triage.get("/v1/queues", headers=AGENT)
    assert queues.json() == [{"queue": "billing", "priority": "urgent", "open_tickets": 1}]

    messages = await read_topic(space, Topic.TRIAGE, expect=3)
    events = [decode(m.value) for m in messages]
    told = [(e.event_type, getattr(e.payload, "by", None), getattr(e.payload, "reason", None)) for e in events]
    assert told == [
        ("TicketTriaged", None, None),
        ("PriorityChanged", "ann", "outage"),
        ("TriageOverridden", "ann", "outage"),
    ]


async def _severity_is(triage: httpx.AsyncClient, severity: int) -> bool:
    r = await triage.get("/v1/tickets/t7/triage", headers=AGENT)
    return r.status_code == 200 and r.json()["severity"] == severity
