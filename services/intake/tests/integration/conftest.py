"""Intake's HTTP app in process, on the real broker and database, with its relay and consumer."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from intake.entrypoints.app import build_app
from intake.settings import Settings
from supportdesk_contract.clock import Clock
from supportdesk_devstack.testing import Sandbox, in_process
from supportdesk_messaging.sealing import new_key
from supportdesk_service.migrations import migrate

AGENT_KEY = "ann-key"
COLLEAGUE_KEY = "bob-key"  # a second agent, for what two agents do at once
TOKEN_KEY = new_key()  # shared with the notifier in a deployment


class Intake:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, app: Any) -> None:
        self.client, self.settings, self.app = client, settings, app

    @property
    def engine(self) -> Any:
        """Intake's own database engine (an AsyncEngine), for what a test reads behind the API."""
        return self.app.state.runtime.engine

    def as_agent(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {AGENT_KEY}"}

    def as_colleague(self) -> dict[str, str]:
        """Bob, another agent."""
        return {"Authorization": f"Bearer {COLLEAGUE_KEY}"}

    @staticmethod
    def as_requester(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def open_ticket(self, **fields: Any) -> dict[str, Any]:
        body = {"requester_email": "dana@customer.example", "subject": "Export fails", "description": "Empty CSV"}
        r = await self.client.post("/v1/tickets", json={**body, **fields})
        assert r.status_code == 202, r.text
        return dict(r.json())


@pytest.fixture
async def intake(space: Sandbox) -> AsyncIterator[Intake]:
    async with running_intake(space) as running:
        yield running


@asynccontextmanager
async def running_intake(space: Sandbox, clock: Clock | None = None, **overrides: Any) -> AsyncIterator[Intake]:
    """Intake in process; `clock` moves its time (signature windows, timestamps) in a test;
    `overrides` are further settings (e.g. an identity provider's)."""
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("intake"),
        api_keys=f"ann={AGENT_KEY},bob={COLLEAGUE_KEY}",
        admin_api_keys="root=admin-key",
        inbound_basic_auth="inbound:s3cret",
        mailgun_signing_key="mg-signing-key",
        staff_domains="supportdesk.example",
        trusted_authserv_ids="mx.supportdesk.example",
        max_email_bytes=2_000_000,
        twilio_auth_token="tw-auth-token",
        phone_webhook_secret="phone-secret",
        REQUESTER_TOKEN_KEY=TOKEN_KEY,
        **overrides,
    )
    await asyncio.to_thread(migrate, settings, "intake:migrations")
    app = build_app(settings, clock)
    async with in_process(app) as client:
        yield Intake(client, settings, app)
