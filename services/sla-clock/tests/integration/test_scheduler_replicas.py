"""Three schedulers on one sla-clock database: each due clock fires once, the work is
shared, and clocks claimed by a replica that dies mid-work are fired by the others within seconds.

The schedulers claim due clocks row by row (`SELECT ... FOR UPDATE SKIP LOCKED` in the transaction
that records what fired): a replica skips what another holds, and a dead replica's transaction is
rolled back by PostgreSQL when its connection goes, which releases its rows. Each scheduler has its
own engine (its own connections), as separate processes would."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.service_layer import workers
from sla_clock.service_layer.handlers import handlers
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import Priority
from supportdesk_contract.clock import Clock, ManualClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_devstack.testing import Sandbox, equals, eventually, scalar
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

from .facts import OPENED, T0, TRIAGED

pytestmark = pytest.mark.integration

TICKETS = 300
REPLICAS = 3
HANDOVER_BOUND = 10.0  # seconds from a replica's death until its clocks have fired elsewhere


def runtime(settings: Settings, clock: ManualClock) -> ServiceRuntime[Settings]:
    return ServiceRuntime(ServiceDefinition(name="sla-clock", settings=settings, clock=clock))


async def seed(rt: ServiceRuntime[Settings], clock: ManualClock) -> None:
    """TICKETS tickets on the gold plan, urgent (first response 1 h): one running clock each."""
    on = handlers(PolicyBook("data-insights", "basic"))
    for n in range(TICKETS):
        ticket = f"due-{n:04d}"
        async with rt.engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "sla-clock")
            for fact in (opened(**OPENED), triaged(priority=Priority.URGENT, **TRIAGED)):
                env = new_envelope(fact, ticket_id=ticket, producer="test", clock=clock)
                await on[env.event_type](ctx, env)
            await ctx.flush()  # what the consumer does after a batch's handlers


@pytest.fixture
async def sla_db(space: Sandbox) -> AsyncIterator[tuple[Settings, ManualClock]]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    clock = ManualClock(T0)
    rt = runtime(settings, clock)
    try:
        await seed(rt, clock)
    finally:
        await rt.engine.dispose()
    yield settings, clock


async def test_three_schedulers_fire_each_due_clock_once_and_take_over_from_a_dead_one(
    sla_db: tuple[Settings, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, clock = sla_db
    # Which replica fired how many clocks: a spy around the function every scheduler loop calls.
    share: Counter[str] = Counter()
    real_fire_due = workers.fire_due

    async def counted(
        conn: AsyncConnection, source: Clock, limit: int = 200, recorded: list[Envelope[Any]] | None = None
    ) -> int:
        fired = await real_fire_due(conn, source, limit, recorded)
        task = asyncio.current_task()
        share[task.get_name() if task else "?"] += fired
        return fired

    monkeypatch.setattr(workers, "fire_due", counted)
    observer = runtime(settings, clock)
    # A replica that claimed 40 due clocks and then hung mid-work (its transaction open).
    holder = runtime(settings, clock)
    held = await holder.engine.connect()
    trans = await held.begin()
    clock.set(T0 + timedelta(minutes=50))  # past the 75% warning of every clock
    claimed = (
        await held.execute(
            text(
                "SELECT ticket_id FROM clocks WHERE next_check_at <= :now "
                "ORDER BY next_check_at, ticket_id LIMIT 40 FOR UPDATE SKIP LOCKED"
            ),
            {"now": clock.now()},
        )
    ).scalars()
    claimed_ids = set(claimed)
    holder_pid = (await held.execute(text("SELECT pg_backend_pid()"))).scalar()
    assert len(claimed_ids) == 40

    replicas = [runtime(settings, clock) for _ in range(REPLICAS)]
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(workers.run_scheduler(rt, stop), name=f"scheduler-{i + 1}") for i, rt in enumerate(replicas)
    ]
    try:
        warned = "SELECT count(*) FROM events WHERE event_type = 'SlaAtRisk'"
        # Everything but the held clocks warns; the held ones wait (skipped, not blocking anyone).
        await eventually(lambda: equals(observer.engine, warned, TICKETS - 40), timeout=60, what="the unheld warnings")
        await asyncio.sleep(1.0)
        assert await scalar(observer.engine, warned) == TICKETS - 40, "a held clock fired while its holder lived"

        # The holder dies (its connection dropped, as with SIGKILL): its clocks fire elsewhere, soon.
        async with observer.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid})
        started = asyncio.get_running_loop().time()
        await eventually(lambda: equals(observer.engine, warned, TICKETS), timeout=HANDOVER_BOUND, what="the handover")
        handover = asyncio.get_running_loop().time() - started
        assert handover < HANDOVER_BOUND

        clock.set(T0 + 2 * timedelta(hours=1))  # past the 90% warning and the breach of every clock
        done = "SELECT count(*) FROM clocks WHERE breached_at IS NOT NULL"
        await eventually(lambda: equals(observer.engine, done, TICKETS), timeout=60, what="every breach")
        await asyncio.sleep(1.0)  # a late duplicate would land now
    finally:
        # The holder goes first (if a check failed before its death), or a loop blocked on its rows
        # would never see `stop`.
        async with observer.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid})
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loops), 60)
        for rt in (*replicas, observer):
            await rt.engine.dispose()
        for cleanup in (trans.rollback, held.close, holder.engine.dispose):
            with contextlib.suppress(Exception):  # the connection was terminated on purpose
                await cleanup()

    async with observer.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT ticket_id, event_type, envelope->'payload'->>'threshold_percent' AS pct, count(*) AS n "
                    "FROM events WHERE event_type IN ('SlaAtRisk', 'SlaBreached') "
                    "GROUP BY ticket_id, event_type, pct"
                )
            )
        ).all()
        warned_lists = (await conn.execute(text("SELECT warned FROM clocks"))).scalars().all()
    await observer.engine.dispose()
    per_signal = Counter((r.event_type, r.pct) for r in rows)
    assert per_signal == {("SlaAtRisk", "75"): TICKETS, ("SlaAtRisk", "90"): TICKETS, ("SlaBreached", None): TICKETS}
    assert all(r.n == 1 for r in rows), [r for r in rows if r.n > 1][:5]
    assert all(sorted(w) == [75, 90] for w in warned_lists)
    # The work was shared: a tick claims at most 200, so at least two replicas fired clocks.
    assert sum(1 for n in share.values() if n > 0) >= 2, share
    # Each of the 3 x TICKETS firings (75 %, then 90 % with the breach) was done by exactly one loop.
    assert sum(share.values()) == 2 * TICKETS, share
