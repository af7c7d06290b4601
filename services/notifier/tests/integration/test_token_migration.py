"""Deliveries decided before the ledger stopped keeping access tokens lose them on upgrade: a pending
email keeps the mark the dispatcher completes when it sends; a webhook keeps the link alone."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from notifier.domain.deliveries import ACCESS_TOKEN_MARK
from notifier.settings import Settings
from supportdesk_devstack.testing import Sandbox
from supportdesk_messaging.db import create_engine, ensure_database
from supportdesk_service.migrations import alembic_config

pytestmark = pytest.mark.integration

TOKEN = "Zk3-q_9vTokenOfDana0123456789abcdefABCDEF"
# As the templates rendered them before (templates/_follow_online.txt.j2).
BODY = f"""We are on it.

Follow it online at http://desk.example/v1/tickets/t-1
with this access token (it is yours alone): {TOKEN}

Reply to this message to add to the request; keep [#TKT-7] in the subject.
"""


async def test_migration_0009_clears_the_tokens_the_ledger_kept(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("notifier"))
    await ensure_database(settings.database_url, settings.database_name)
    config = alembic_config(settings, "notifier:migrations")
    await asyncio.to_thread(command.upgrade, config, "0008")
    engine = create_engine(settings.database_url, settings.database_name)
    context = {"event_type": "AgentResponded", "ticket": "TKT-7", "access_token": TOKEN, "status_url": "http://x"}
    try:
        async with engine.begin() as conn:
            kept = [("dana@acme.example", "email", "pending"), ("http://h", "webhook", "sent")]
            for recipient, channel, status in kept:
                await conn.execute(
                    text(
                        "INSERT INTO deliveries (cause_event_id, recipient, channel, ticket_id, template, status,"
                        " attempts, created_at, subject, body, context)"
                        " VALUES (:cause, :recipient, :channel, 't-1', 'receipt_confirmed', :status, 0, :now,"
                        " 'We have your request [#TKT-7]', :body, CAST(:context AS jsonb))"
                    ),
                    dict(
                        cause=uuid.uuid4(),
                        recipient=recipient,
                        channel=channel,
                        status=status,
                        now=datetime.now(UTC),
                        body=BODY,
                        context=json.dumps(context),
                    ),
                )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            rows = {
                r.channel: r
                for r in await conn.execute(text("SELECT channel, body, context, d::text AS row FROM deliveries d"))
            }
    finally:
        await engine.dispose()
    assert not [r.row for r in rows.values() if TOKEN in r.row]
    assert all("access_token" not in r.context and r.context["status_url"] == "http://x" for r in rows.values())
    email, hook = rows["email"].body, rows["webhook"].body
    assert f"with this access token (it is yours alone): {ACCESS_TOKEN_MARK}\n" in email
    assert email.replace(ACCESS_TOKEN_MARK, TOKEN) == BODY  # sent as before, the token put back from the seal
    assert "access token" not in hook and "Follow it online at http://desk.example/v1/tickets/t-1\n" in hook
