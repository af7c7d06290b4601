"""GET /v1/notifications: a ticket's deliveries from the ledger, oldest first, for agents only."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from notifier.adapters.tables import deliveries
from notifier.entrypoints.app import build_app
from notifier.settings import Settings
from supportdesk_devstack.testing import Sandbox, in_process
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceRuntime

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}
T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)


@pytest.fixture
async def notifier(space: Sandbox) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime[Settings]]]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("notifier"),
        api_keys="ann=ann-key",
    )
    await asyncio.to_thread(migrate, settings, "notifier:migrations")
    app = build_app(settings)
    async with in_process(app) as c:
        yield c, app.state.runtime


def delivery(ticket_id: str, recipient: str, created_at: datetime, status: str) -> dict[str, object]:
    return dict(
        cause_event_id=uuid.uuid4(),
        recipient=recipient,
        channel="email",
        ticket_id=ticket_id,
        template="agent_responded",
        status=status,
        attempts=1 if status == "sent" else 0,
        sent_at=created_at if status == "sent" else None,
        # Far off: the service's own dispatcher leaves the pending one alone meanwhile.
        next_attempt_at=None if status == "sent" else created_at + timedelta(days=365),
        created_at=created_at,
        subject="Re: your ticket",
    )


async def test_a_ticket_s_deliveries_oldest_first_and_only_for_agents(
    notifier: tuple[httpx.AsyncClient, ServiceRuntime[Settings]],
) -> None:
    client, runtime = notifier
    rows = [
        delivery("t1", "late@customer.example", T0 + timedelta(minutes=5), "pending"),
        delivery("t1", "early@customer.example", T0, "sent"),
        delivery("t2", "other@customer.example", T0, "sent"),
    ]
    async with runtime.engine.begin() as conn:
        await conn.execute(insert(deliveries), rows)

    listed = await client.get("/v1/notifications", params={"ticket_id": "t1"}, headers=AGENT)
    assert listed.status_code == 200
    assert [(d["recipient"], d["status"], d["attempts"]) for d in listed.json()] == [
        ("early@customer.example", "sent", 1),
        ("late@customer.example", "pending", 0),
    ]
    assert (await client.get("/v1/notifications", params={"ticket_id": "none"}, headers=AGENT)).json() == []
    assert (await client.get("/v1/notifications", params={"ticket_id": "t1"})).status_code == 401
