"""The board as of an instant (copied rows and rows folded again in memory) against a board that
only ever heard the events up to that instant, folded event by event by the projection, table by
table and row by row, on the real database. The full board hears its events in a shuffled order
(topics interleaved, one event late); the reference hears them in the order they happened."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from board.adapters import views
from board.adapters.tables import metadata
from board.service_layer.as_of import board_as_of
from board.service_layer.projection import apply_event
from supportdesk_contract.catalogue import (
    AgentResponded,
    Channel,
    ClockKind,
    ClosureCode,
    EscalationRoute,
    Event,
    NotificationSent,
    Priority,
    PriorityChanged,
    SlaAtRisk,
    SlaBreached,
    SlaClockStopped,
    SlaMet,
    TicketClosed,
    TicketEscalated,
    TicketReopened,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_devstack.testing import Sandbox, make_database
from supportdesk_devstack.testing.events import opened, started, triaged

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
FR, RES = ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION
# What every ticket here shares: an email from acme under the data-insights policy, opened at T0.
ACME = {"channel": Channel.EMAIL, "customer_id": "acme", "policy": "data-insights", "opened_at": T0}
HALF_HOUR = {"target_seconds": 1800, "calendar": "pacific"}  # the SLA clocks' target
TRIAGE = {"severity": 2, "channel": Channel.EMAIL, "policy": "data-insights", "opened_at": T0}


def history() -> list[Envelope[Any]]:
    """Three tickets' facts, each at its own minute: outcomes decided and then moved by a priority
    change, a breach after a met, a reopen into a second cycle, an escalation, a notification."""
    facts: list[tuple[str, int, str, Event]] = []

    def at(ticket: str, minute: int, producer: str, *events: Event) -> None:
        facts.extend((ticket, minute, producer, e) for e in events)

    a, b, c = "tkt-export", "tkt-login", "tkt-invoice"
    at(a, 0, "intake", opened(number="TKT-1", plan="gold", **ACME))
    at(a, 1, "triage", triaged(priority=Priority.HIGH, plan="gold", **TRIAGE))
    at(
        a,
        2,
        "sla-clock",
        started(kind=FR, started_at=T0 + 2 * M, **HALF_HOUR),
        started(kind=RES, started_at=T0 + 2 * M, **HALF_HOUR),
    )
    at(a, 5, "intake", AgentResponded(agent="bob", body="on it", confirms_receipt=True))
    at(a, 6, "sla-clock", SlaClockStopped(clock=FR, stopped_at=T0 + 6 * M, elapsed_business_seconds=240))
    at(a, 7, "sla-clock", SlaMet(clock=FR, due_at=T0 + 32 * M, elapsed_business_seconds=240))
    at(a, 9, "triage", PriorityChanged(priority=Priority.URGENT, previous=Priority.HIGH, by="bob", reason="outage"))
    at(a, 12, "sla-clock", SlaAtRisk(clock=RES, threshold_percent=80, due_at=T0 + 32 * M))
    at(a, 33, "sla-clock", SlaBreached(clock=RES, due_at=T0 + 32 * M))
    at(a, 34, "escalation", TicketEscalated(level=1, route=EscalationRoute.TIER_LEAD, reason="breached"))
    at(
        a,
        35,
        "notifier",
        NotificationSent(
            cause_event_id=uuid.uuid4(),
            recipient="lead@sd.example",
            channel="email",
            template="escalated",
            sent_at=T0 + 35 * M,
        ),
    )
    at(a, 40, "intake", TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="customer"))
    at(a, 50, "intake", TicketReopened(by="ann@acme.example", reason="it is back"))
    at(a, 51, "sla-clock", started(kind=FR, started_at=T0 + 51 * M, cycle=2, **HALF_HOUR))
    at(a, 60, "sla-clock", SlaMet(clock=FR, cycle=2, due_at=T0 + 81 * M, elapsed_business_seconds=540))
    at(b, 3, "triage", triaged(priority=Priority.NORMAL, plan="silver", **TRIAGE))  # triage heard before intake
    at(b, 4, "intake", opened(number="TKT-2", plan="silver", **ACME))
    at(b, 4, "sla-clock", started(kind=FR, started_at=T0 + 4 * M, **HALF_HOUR))
    at(b, 20, "sla-clock", SlaMet(clock=FR, due_at=T0 + 34 * M, elapsed_business_seconds=900))
    at(b, 36, "sla-clock", SlaBreached(clock=FR, due_at=T0 + 34 * M))  # a breach after a met stands
    at(b, 70, "intake", AgentResponded(agent="bob", body="looking", public=False))  # folded again up to here
    at(c, 45, "intake", opened(number="TKT-3", plan="gold", **ACME))
    envs = []
    for k, (ticket, minute, producer, event) in enumerate(facts):
        instant = T0 + minute * M + timedelta(milliseconds=k)  # in order within each ticket's topic
        envs.append(new_envelope(event, ticket_id=ticket, producer=producer, clock=ManualClock(instant)))
    return envs


def shuffled(envs: list[Envelope[Any]], seed: int) -> list[Envelope[Any]]:
    """Another order the board could hear them in: topics interleave at random, each ticket's topic
    keeps its order; and the first notification is heard last (a late producer)."""
    rng = random.Random(seed)
    lanes: dict[tuple[str, str], list[Envelope[Any]]] = {}
    for env in envs:
        lanes.setdefault((env.ticket_id, env.payload.topic.value), []).append(env)
    late = [e for e in envs if isinstance(e.payload, NotificationSent)]
    out: list[Envelope[Any]] = []
    while any(lanes.values()):
        lane = rng.choice([k for k, v in lanes.items() if v])
        env = lanes[lane].pop(0)
        if env not in late:
            out.append(env)
    return out + late


async def tables(conn: AsyncConnection) -> dict[str, list[str]]:
    """Every row of every table the reads read, as JSON text (the search vector too), sorted."""
    out = {}
    for name in ("board_tickets", "board_sla_outcomes", "board_open_counts", "board_attainment"):
        rows = (await conn.execute(text(f"SELECT to_jsonb(x)::text FROM {name} x"))).scalars().all()
        out[name] = sorted(rows)
    return out


async def test_as_of_any_instant_is_the_board_that_heard_only_what_had_happened_by_then(space: Sandbox) -> None:
    envs = sorted(history(), key=lambda e: e.occurred_at)  # as they happened: the reference's order
    full = await make_database(space, "board_full", metadata)
    reference = await make_database(space, "board_upto", metadata)
    try:
        async with full.begin() as conn:
            for env in shuffled(envs, seed=7):
                await apply_event(conn, env)
        cuts = sorted({env.occurred_at for env in envs})
        cuts = [T0 - M, *cuts[::2], cuts[-1], cuts[-1] + M]
        heard = 0
        checked_refolds = 0
        for cut in cuts:
            async with reference.begin() as conn:
                while heard < len(envs) and envs[heard].occurred_at <= cut:
                    await apply_event(conn, envs[heard])
                    heard += 1
            async with reference.connect() as conn:
                expected = await tables(conn)
                expected_tickets = {
                    t: await views.ticket_with_timeline(conn, t) for t in ("tkt-export", "tkt-login", "tkt-invoice")
                }
            async with board_as_of(full, cut) as conn:
                assert await tables(conn) == expected, cut
                checked_refolds += len(expected["board_tickets"]) > 0
            for ticket_id, ticket in expected_tickets.items():
                async with board_as_of(full, cut, ticket_id=ticket_id) as conn:
                    assert await views.ticket_with_timeline(conn, ticket_id) == ticket, (cut, ticket_id)
        assert heard == len(envs) and checked_refolds >= 10
        # The scenario did what it says: outcomes moved to urgent, a breach after a met, two cycles.
        async with full.connect() as conn:
            got = await tables(conn)
        priorities = [
            json.loads(r)["priority"] for r in got["board_attainment"] for _ in range(json.loads(r)["decided"])
        ]
        assert sorted(priorities) == ["normal", "urgent", "urgent", "urgent"]
        assert any('"ticket_id": "tkt-login"' in r and '"met": false' in r for r in got["board_sla_outcomes"])
        assert any('"cycle": 2' in r for r in got["board_sla_outcomes"])
    finally:
        await full.dispose()
        await reference.dispose()
