"""Intake with the broker unreachable keeps taking tickets (the outbox buffers them) and says
`degraded`, not `not ready`: a load balancer must not turn the web form away for that."""

import asyncio

import httpx
import pytest

from intake.entrypoints.app import build_app
from intake.settings import Settings
from supportdesk_devstack.testing import Sandbox, free_port
from supportdesk_events.migrations import migrate

pytestmark = pytest.mark.integration


async def test_kafka_down_is_degraded_and_tickets_are_still_accepted(space: Sandbox) -> None:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",  # nobody listens: the broker is down
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("intake"),
    )
    await asyncio.to_thread(migrate, settings, "intake:migrations")
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "degraded"), ready.text
        assert ready.json()["checks"]["kafka"].startswith("degraded:")
        r = await http.post(
            "/v1/tickets", json={"requester_email": "dana@customer.example", "subject": "s", "description": "d"}
        )
        assert r.status_code == 202, r.text
