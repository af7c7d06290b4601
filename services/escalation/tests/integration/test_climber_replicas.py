"""Three climbers on one escalation database: each due escalation climbs once, the work
is shared, and escalations claimed by a replica that dies mid-work climb elsewhere within seconds.

The climbers claim due rows with `SELECT ... FOR UPDATE SKIP LOCKED` in the transaction that saves
the climb and records TicketEscalated (its id derived from ticket, cycle and level): a replica skips
what another holds, and PostgreSQL releases a dead replica's rows when its connection goes. Each
climber has its own engine (its own connections), as separate processes would."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from escalation.service_layer import climber, workers
from escalation.settings import Settings
from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import Sandbox, equals, eventually, scalar
from supportdesk_service.runtime import ServiceRuntime

from .breached import T0, migrated, runtime, seed

pytestmark = pytest.mark.integration

TICKETS = 240
REPLICAS = 3
HELD = 30
HANDOVER_BOUND = 10.0  # seconds from a replica's death until its escalations have climbed elsewhere


@pytest.fixture
async def esc_db(space: Sandbox) -> AsyncIterator[tuple[Settings, ManualClock]]:
    """TICKETS tickets of customer acme whose first response breached: each at the account manager."""
    settings = await migrated(space)
    clock = ManualClock(T0)
    rt = runtime(settings, clock)
    try:
        await seed(rt, clock, [f"esc-{n:04d}" for n in range(TICKETS)])
    finally:
        await rt.engine.dispose()
    yield settings, clock


EXECUTIVE = "SELECT count(*) FROM events WHERE event_type = 'TicketEscalated' AND envelope->'payload'->>'level' = '3'"


async def test_three_climbers_climb_each_escalation_once_and_take_over_from_a_dead_one(
    esc_db: tuple[Settings, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, clock = esc_db
    share: Counter[str] = Counter()
    real_climb_due = climber.climb_due

    async def counted(rt: ServiceRuntime[Settings], limit: int = climber.BATCH) -> int:
        climbed = await real_climb_due(rt, limit)
        task = asyncio.current_task()
        share[task.get_name() if task else "?"] += climbed
        return climbed

    monkeypatch.setattr(workers, "climb_due", counted)
    climbs_before = climber.CLIMBS._value.get()
    observer = runtime(settings, clock)
    assert await scalar(observer.engine, "SELECT count(*) FROM ticket_escalations WHERE level = 2") == TICKETS
    assert await scalar(observer.engine, EXECUTIVE) == 0

    clock.set(T0 + timedelta(minutes=61))  # an hour unacknowledged at the account manager: climb
    # A replica that claimed HELD due escalations and then hung mid-work (its transaction open).
    holder = runtime(settings, clock)
    held = await holder.engine.connect()
    trans = await held.begin()
    claimed = (
        await held.execute(
            text(
                "SELECT ticket_id FROM ticket_escalations WHERE next_climb_at <= :now "
                "ORDER BY next_climb_at, ticket_id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"now": clock.now(), "n": HELD},
        )
    ).scalars()
    assert len(set(claimed)) == HELD
    holder_pid = (await held.execute(text("SELECT pg_backend_pid()"))).scalar()

    replicas = [runtime(settings, clock) for _ in range(REPLICAS)]
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(workers.run_climber(rt, stop), name=f"climber-{i + 1}") for i, rt in enumerate(replicas)
    ]
    try:
        await eventually(lambda: equals(observer.engine, EXECUTIVE, TICKETS - HELD), timeout=60, what="unheld climbs")
        await asyncio.sleep(1.0)
        assert await scalar(observer.engine, EXECUTIVE) == TICKETS - HELD, (
            "a held escalation climbed while its holder lived"
        )

        async with observer.engine.connect() as conn:  # the holder dies, as with SIGKILL
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid})
        started = asyncio.get_running_loop().time()
        await eventually(
            lambda: equals(observer.engine, EXECUTIVE, TICKETS), timeout=HANDOVER_BOUND, what="the handover"
        )
        assert asyncio.get_running_loop().time() - started < HANDOVER_BOUND
        await asyncio.sleep(1.5)  # a late duplicate would land now
    finally:
        # The holder goes first (if a check failed before its death), or a loop blocked on its rows
        # would never see `stop`.
        async with observer.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid})
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loops), 60)
        for rt in replicas:
            await rt.engine.dispose()
        for cleanup in (trans.rollback, held.close, holder.engine.dispose):
            with contextlib.suppress(Exception):  # the connection was terminated on purpose
                await cleanup()

    async with observer.engine.connect() as conn:
        per_ticket = (
            await conn.execute(
                text(
                    "SELECT ticket_id, count(*) AS n FROM events WHERE event_type = 'TicketEscalated' "
                    "AND envelope->'payload'->>'level' = '3' GROUP BY ticket_id"
                )
            )
        ).all()
        levels = (await conn.execute(text("SELECT level, count(*) FROM ticket_escalations GROUP BY level"))).all()
    await observer.engine.dispose()
    assert len(per_ticket) == TICKETS
    assert all(r.n == 1 for r in per_ticket), [r for r in per_ticket if r.n > 1][:5]
    assert [tuple(r) for r in levels] == [(3, TICKETS)]
    assert sum(1 for n in share.values() if n > 0) >= 2, share  # a tick claims at most 100: shared
    assert sum(share.values()) == TICKETS, share  # each climb done by exactly one loop
    # /metrics shows each replica's share; in this one process, the three shares add up.
    assert climber.CLIMBS._value.get() - climbs_before == TICKETS
