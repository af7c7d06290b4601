"""Intake's outbox as operators meet it: tickets are accepted while Kafka is down (the outbox
buffers, readiness says degraded), and an event that can never be published is parked, listed
for admins and can be put back in line."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from intake.entrypoints.app import build_app
from intake.settings import Settings
from supportdesk_contract.catalogue import TicketReopened
from supportdesk_contract.envelope import Envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, free_port, in_process, read_topic
from supportdesk_messaging.outbox import record
from supportdesk_service.migrations import migrate

from .conftest import Intake

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key"}


async def test_tickets_are_accepted_while_kafka_is_down_and_the_relay_says_degraded(space: Sandbox) -> None:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",  # nothing listens: the broker is down
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("intake"),
    )
    await asyncio.to_thread(migrate, settings, "intake:migrations")
    app = build_app(settings)
    async with in_process(app) as client:
        for n in range(3):
            r = await client.post(
                "/v1/tickets",
                json={"requester_email": "dana@customer.example", "subject": f"s{n}", "description": "d"},
            )
            assert r.status_code == 202, r.text
        runtime = app.state.runtime

        async def degraded() -> bool:
            health = runtime.relay.health()
            return health.state == "degraded" and "Kafka unreachable" in health.detail

        await eventually(degraded, timeout=20, what="the relay saying Kafka is unreachable")
        assert runtime.component_health()["outbox-relay"].state == "degraded"
        # For a load balancer intake stays in: degraded is 200, and says why.
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "degraded"), ready.text
        assert ready.json()["checks"]["kafka"].startswith("degraded:")
        async with runtime.engine.connect() as conn:
            waiting = (
                await conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NULL AND failed_at IS NULL"))
            ).scalar_one()
        assert waiting == 3  # buffered, none parked


async def test_an_event_that_can_never_be_published_is_listed_for_admins_and_can_be_retried(
    space: Sandbox, intake: Intake
) -> None:
    ticket = await intake.open_ticket()
    runtime = intake.app.state.runtime
    big = Envelope[TicketReopened](  # as a row recorded before events were bounded could be
        event_id=uuid.uuid4(),
        event_type="TicketReopened",
        schema_version=1,
        ticket_id="legacy-ticket",
        occurred_at=datetime.now(UTC),
        producer="intake",
        causation_id=None,
        correlation_id=uuid.uuid4(),
        payload=TicketReopened(by="agent", reason="x" * 600_000),
    )
    async with runtime.engine.begin() as conn:
        await record(conn, [big])
    after = await intake.open_ticket(subject="after the big one")

    async def parked() -> list[dict[str, object]]:
        r = await intake.client.get("/v1/ops/outbox/parked", headers=ADMIN)
        assert r.status_code == 200, r.text
        return list(r.json()["parked"])

    (row,) = await eventually(parked, what="the oversized event parked")
    assert row["event_id"] == str(big.event_id) and row["ticket_id"] == "legacy-ticket"
    assert "event limit" in str(row["failure_reason"]) and int(str(row["size_bytes"])) > 600_000
    got = await read_topic(space, Topic.LIFECYCLE, expect=2)
    assert {m.key.decode() for m in got} == {ticket["ticket_id"], after["ticket_id"]}

    assert (await intake.client.get("/v1/ops/outbox/parked")).status_code == 401
    assert (await intake.client.get("/v1/ops/outbox/parked", headers=intake.as_agent())).status_code == 401
    r = await intake.client.post(f"/v1/ops/outbox/parked/{big.event_id}/retry", headers=ADMIN)
    assert r.status_code == 202, r.text
    assert (await intake.client.post(f"/v1/ops/outbox/parked/{uuid.uuid4()}/retry", headers=ADMIN)).status_code == 404

    # Its cause is still there: the relay parks it again, and nothing of it reaches Kafka.
    async def parked_again() -> bool:
        rows = await parked()
        return len(rows) == 1 and rows[0]["failed_at"] != row["failed_at"]

    await eventually(parked_again, what="the retried event parked again")
    assert len(await read_topic(space, Topic.LIFECYCLE, expect=3, timeout=3)) == 2
