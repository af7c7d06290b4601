"""Pooled connections that PostgreSQL closed between requests (an administrator's
pg_terminate_backend, a failover, an idle timeout) are replaced without a 5xx: the pool sends no
ping before every request, so a dead connection is noticed at checkout or on its first statement
and the work runs once more on a fresh one."""

import asyncio

import asyncpg
import pytest

from supportdesk_devstack.testing import Sandbox
from supportdesk_messaging.db import asyncpg_dsn, service_url

from .conftest import Intake

pytestmark = pytest.mark.integration


async def terminate_pooled_connections(space: Sandbox, database: str) -> int:
    """Close every server connection to `database` (the pool's and the relay's), and wait until
    each backend has gone, so its socket is closed before the next request."""
    conn = await asyncpg.connect(asyncpg_dsn(service_url(space.servers.database_url, "postgres")))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await conn.close()


async def test_connections_killed_between_requests_answer_no_5xx(space: Sandbox, intake: Intake) -> None:
    c = intake.client
    for round_ in range(3):
        # Fill the pool with several connections, then kill them all while they sit idle in it.
        opened = await asyncio.gather(*(intake.open_ticket(subject=f"warm {round_}-{i}") for i in range(6)))
        assert await terminate_pooled_connections(space, intake.settings.database_name) >= 2
        answers = await asyncio.gather(
            *(
                c.post(
                    "/v1/tickets",
                    json={"requester_email": "dana@customer.example", "subject": f"after {i}", "description": "d"},
                )
                for i in range(6)
            )
        )
        assert [r.status_code for r in answers] == [202] * 6, [r.text for r in answers if r.status_code != 202]
        # A lifecycle command and a read on connections killed the same way.
        await terminate_pooled_connections(space, intake.settings.database_name)
        tid = opened[0]["ticket_id"]
        r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "On it"}, headers=intake.as_agent())
        assert r.status_code < 300, r.text
        await terminate_pooled_connections(space, intake.settings.database_name)
        r = await c.get(f"/v1/tickets/{tid}", headers=intake.as_agent())
        assert r.status_code == 200, r.text


async def set_connections_allowed(space: Sandbox, database: str, allowed: bool) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(service_url(space.servers.database_url, "postgres")))
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    finally:
        await conn.close()


async def test_after_a_database_outage_requests_succeed_again(space: Sandbox, intake: Intake) -> None:
    """While the database refuses connections, no 2xx; once it takes them again, 2xx at once (the
    pool holds no dead connections to fail on)."""
    c = intake.client
    database = intake.settings.database_name
    await asyncio.gather(*(intake.open_ticket(subject=f"warm {i}") for i in range(6)))
    await set_connections_allowed(space, database, False)
    try:
        await terminate_pooled_connections(space, database)
        during = [
            await c.post("/v1/tickets", json={"requester_email": "d@c.example", "subject": "s", "description": "d"})
            for _ in range(3)
        ]
        assert all(r.status_code >= 500 for r in during), [r.text for r in during]
    finally:
        await set_connections_allowed(space, database, True)
    after = await asyncio.gather(
        *(
            c.post("/v1/tickets", json={"requester_email": "d@c.example", "subject": f"after {i}", "description": "d"})
            for i in range(6)
        )
    )
    assert [r.status_code for r in after] == [202] * 6, [r.text for r in after if r.status_code != 202]
