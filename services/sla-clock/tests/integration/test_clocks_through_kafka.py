"""sla-clock on the real broker and database, its time moved by a ManualClock.

The test plays intake and triage: it writes their events to Kafka. sla-clock runs in process
(consumer, outbox relay, scheduler) exactly as `sla-clock serve` runs them; what it decides is read
back from the tickets.sla topic.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.service_layer.handlers import handlers
from sla_clock.service_layer.projection import SIGNALS
from sla_clock.service_layer.workers import run_scheduler
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import AgentResponded, Channel, CustomerReplied, Event, InfoRequested, Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import decode, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, produce, read_topic
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

from .facts import LA, OPENED, T0, TRIAGED, H, send

pytestmark = pytest.mark.integration


class SlaClockService:
    def __init__(self, space: Sandbox, clock: ManualClock) -> None:
        self.settings = Settings(
            DATABASE_URL=space.servers.database_url,
            KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
            KAFKA_TOPIC_PREFIX=space.prefix,
            database_name=space.database("sla-clock"),
        )
        self.clock = clock
        self.runtime: ServiceRuntime | None = None

    async def start(self) -> None:
        book = PolicyBook("data-insights", "basic")
        self.runtime = ServiceRuntime(
            ServiceDefinition(
                name="sla-clock",
                settings=self.settings,
                handlers=handlers(book),
                clock=self.clock,
                workers={"scheduler": run_scheduler},
            )
        )
        await self.runtime.start()

    async def stop(self) -> None:
        assert self.runtime is not None
        await self.runtime.stop()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        assert self.runtime is not None
        async with self.runtime.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())


@pytest.fixture
async def sla(space: Sandbox) -> AsyncIterator[SlaClockService]:
    service = SlaClockService(space, ManualClock(T0))
    await asyncio.to_thread(migrate, service.settings, "sla_clock:migrations")
    await service.start()
    yield service
    await service.stop()


async def sla_events(space: Sandbox, sla: SlaClockService, ticket: str) -> list[tuple[str, str]]:
    """(event type, clock) of everything sla-clock published about `ticket`, read from Kafka."""
    total = (await sla.rows("SELECT count(*) FROM events"))[0][0]
    await eventually(lambda: _all_published(sla), what="sla-clock's outbox published")
    messages = await read_topic(space, Topic.SLA, expect=total)
    ids: set[Any] = set()
    out = []
    for m in messages:
        env = decode(m.value)
        if env.ticket_id == ticket and env.event_id not in ids:
            ids.add(env.event_id)
            out.append((env.event_type, getattr(env.payload, "clock", "")))
    return out


async def _all_published(sla: SlaClockService) -> bool:
    return (await sla.rows("SELECT count(*) FROM events WHERE published_at IS NULL"))[0][0] == 0


async def clock_row(sla: SlaClockService, ticket: str, kind: str = "first_response") -> Any:
    rows = await sla.rows("SELECT * FROM clocks WHERE ticket_id = :t AND clock = :k", t=ticket, k=kind)
    return rows[0] if rows else None


async def test_opened_then_answered_in_time_is_met(space: Sandbox, sla: SlaClockService) -> None:
    await send(space, "met", Topic.LIFECYCLE, (opened(**OPENED), T0), (AgentResponded(agent="a", body="hi"), T0 + H))
    await send(space, "met", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))

    async def stopped() -> Any:
        row = await clock_row(sla, "met")
        return row if row is not None and row.state == "stopped" else None

    row = await eventually(stopped, what="first-response clock stopped")
    assert (row.met, row.due_at, row.elapsed_business_seconds) == (True, T0 + 2 * H, 3600)
    events = await sla_events(space, sla, "met")
    assert Counter(events) == Counter(
        {
            ("SlaClockStarted", "first_response"): 1,
            ("SlaClockStopped", "first_response"): 1,
            ("SlaMet", "first_response"): 1,
        }
    )


async def test_awaiting_the_customer_pauses_the_clock(space: Sandbox, sla: SlaClockService) -> None:
    await send(
        space, "paused", Topic.TRIAGE, (triaged(priority=Priority.NORMAL, **TRIAGED), T0)
    )  # triage first: order is free
    await send(
        space,
        "paused",
        Topic.LIFECYCLE,
        (opened(**OPENED), T0),
        (InfoRequested(agent="a", question="which browser?"), T0 + H),
        (CustomerReplied(channel=Channel.EMAIL, body="Firefox"), T0 + 3 * H),
    )

    async def resumed() -> Any:
        row = await clock_row(sla, "paused")
        return row if row is not None and row.due_at == T0 + 6 * H else None

    row = await eventually(resumed, what="first-response due moved by the 2 h pause")  # gold normal: 4 h
    assert row.state == "running"
    events = await sla_events(space, sla, "paused")
    assert ("SlaClockPaused", "first_response") in events and ("SlaClockResumed", "first_response") in events
    waiting = await clock_row(sla, "paused", "awaiting_customer_auto_close")
    assert waiting.state == "stopped"  # the customer answered in time: no auto-close


async def test_a_breach_is_emitted_once_even_across_a_restart(space: Sandbox, sla: SlaClockService) -> None:
    breaches_before = _signals("breached")
    warnings_before = _signals("at_risk")
    await send(space, "late", Topic.LIFECYCLE, (opened(**OPENED), T0))
    await send(space, "late", Topic.TRIAGE, (triaged(priority=Priority.URGENT, **TRIAGED), T0))  # gold urgent: 1 h
    assert await eventually(lambda: clock_row(sla, "late"), what="clock running")
    sla.clock.set(T0 + 50 * timedelta(minutes=1))  # past 75% (45 min), before 90% (54 min)

    async def warned(pcts: list[int]) -> bool:
        row = await clock_row(sla, "late")
        return sorted(row.warned) == pcts

    await eventually(lambda: warned([75]), what="the 75% warning")
    sla.clock.set(T0 + 2 * H)
    await eventually(lambda: warned([75, 90]), what="the 90% warning")

    async def breached() -> Any:
        return (await clock_row(sla, "late")).breached_at

    assert await eventually(breached, what="breach") == T0 + H

    await sla.stop()  # a restart: nothing it already said may be said again
    await sla.start()
    await send(space, "after-restart", Topic.LIFECYCLE, (opened(**OPENED), T0))
    await send(space, "after-restart", Topic.TRIAGE, (triaged(priority=Priority.URGENT, **TRIAGED), T0))

    async def later_breach() -> Any:
        row = await clock_row(sla, "after-restart")
        return row.breached_at if row is not None else None

    await eventually(later_breach, what="the restarted scheduler at work")
    # The late answer makes the consumer re-derive the clock's whole life, its breach included.
    await send(space, "late", Topic.LIFECYCLE, (AgentResponded(agent="a", body="sorry"), T0 + 2 * H))

    async def stopped() -> bool:
        return (await clock_row(sla, "late")).state == "stopped"

    await eventually(stopped, what="the late answer")
    events = await sla_events(space, sla, "late")
    assert Counter(events) == Counter(
        {
            ("SlaClockStarted", "first_response"): 1,
            ("SlaAtRisk", "first_response"): 2,
            ("SlaBreached", "first_response"): 1,
            ("SlaClockStopped", "first_response"): 1,
        }
    )
    # The outbox holds each of them once, whichever path (scheduler, consumer) derived it.
    assert (await sla.rows("SELECT count(*) FROM events WHERE ticket_id = 'late'"))[0][0] == 5
    # /metrics counts each signal once: two tickets breached, each warned twice.
    assert _signals("breached") - breaches_before == 2
    assert _signals("at_risk") - warnings_before == 4


def _signals(signal: str) -> float:
    return float(SIGNALS.labels(signal, "first_response")._value.get())


async def test_the_weekly_report_averages_business_hours_per_plan_and_priority(
    space: Sandbox, sla: SlaClockService
) -> None:
    from sla_clock.adapters.policy_files import shipped_policy
    from sla_clock.service_layer.reports import weekly_report

    for ticket, priority, answered in (
        ("r1", Priority.HIGH, T0 + H),
        ("r2", Priority.HIGH, T0 + 3 * H),
        ("r3", Priority.NORMAL, None),
    ):
        lifecycle: list[tuple[Event, datetime]] = [(opened(**OPENED), T0)]
        if answered:
            lifecycle.append((AgentResponded(agent="a", body="b"), answered))
        await send(space, ticket, Topic.LIFECYCLE, *lifecycle)
        await send(space, ticket, Topic.TRIAGE, (triaged(priority=priority, **TRIAGED), T0))

    async def all_in() -> bool:
        rows = await sla.rows("SELECT count(*) FILTER (WHERE state = 'stopped'), count(*) FROM clocks")
        return tuple(rows[0]) == (2, 3)

    await eventually(all_in, what="three tickets' clocks")
    assert sla.runtime is not None
    report = await weekly_report(sla.runtime.engine, shipped_policy("data-insights"), "2026-W48")
    other_week = await weekly_report(sla.runtime.engine, shipped_policy("data-insights"), "2026-W49")
    assert [
        (r.plan, r.priority, r.tickets, r.first_response_avg_business_hours, r.first_response_met_percent)
        for r in report
    ] == [("gold", "high", 2, 2.0, 50.0), ("gold", "normal", 1, None, None)]
    assert other_week == []


async def test_a_customer_silent_past_the_limit_gets_auto_close_due_once(space: Sandbox, sla: SlaClockService) -> None:
    await send(space, "silent", Topic.TRIAGE, (triaged(priority=Priority.NORMAL, **TRIAGED), T0))
    await send(
        space,
        "silent",
        Topic.LIFECYCLE,
        (opened(**OPENED), T0),
        (AgentResponded(agent="a", body="looking"), T0 + H),
        (InfoRequested(agent="a", question="logs?"), T0 + H),
    )
    limit = datetime(2026, 12, 9, 10, tzinfo=LA)  # 10 x 12 business hours from Mon 10:00, Thanksgiving skipped

    async def waiting() -> Any:
        row = await clock_row(sla, "silent", "awaiting_customer_auto_close")
        return row if row is not None and row.due_at == limit else None

    await eventually(waiting, what="the awaiting-customer timer")
    sla.clock.set(limit)

    async def emitted() -> bool:
        return bool((await clock_row(sla, "silent", "awaiting_customer_auto_close")).auto_close_emitted)

    await eventually(emitted, what="AutoCloseDue")
    events = await sla_events(space, sla, "silent")
    assert events.count(("AutoCloseDue", "awaiting_customer_auto_close")) == 1
    messages = await read_topic(space, Topic.SLA, expect=len(events))
    closes = [decode(m.value).payload for m in messages if decode(m.value).event_type == "AutoCloseDue"]
    assert [c.closure_code for c in closes] == ["no_customer_response"]  # type: ignore[attr-defined]


async def test_a_fact_that_changes_nothing_writes_nothing(space: Sandbox, sla: SlaClockService) -> None:
    """A second answer changes no clock: no row is rewritten and no event is recorded again."""
    await send(space, "quiet", Topic.LIFECYCLE, (opened(**OPENED), T0), (AgentResponded(agent="a", body="hi"), T0 + H))
    await send(space, "quiet", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0))
    await eventually(lambda: _state_is(sla, "quiet", "stopped"), what="first response stopped by the answer")
    written = await sla.rows("SELECT clock, cycle, updated_at FROM clocks WHERE ticket_id = 'quiet' ORDER BY 1, 2")
    facts_written = await sla.rows("SELECT updated_at FROM sla_tickets WHERE ticket_id = 'quiet'")
    recorded = (await sla.rows("SELECT count(*) FROM events WHERE ticket_id = 'quiet'"))[0][0]
    sla.clock.set(T0 + 3 * H)  # a rewrite now would show a new updated_at
    second = new_envelope(
        AgentResponded(agent="b", body="more"), ticket_id="quiet", producer="test", clock=ManualClock(T0 + 2 * H)
    )
    await produce(space, Topic.LIFECYCLE, [encode(second)[:2]])
    await eventually(lambda: _processed(sla, second.event_id), what="the second answer consumed")
    assert (
        await sla.rows("SELECT clock, cycle, updated_at FROM clocks WHERE ticket_id = 'quiet' ORDER BY 1, 2") == written
    )
    assert await sla.rows("SELECT updated_at FROM sla_tickets WHERE ticket_id = 'quiet'") == facts_written
    assert (await sla.rows("SELECT count(*) FROM events WHERE ticket_id = 'quiet'"))[0][0] == recorded


async def _state_is(sla: SlaClockService, ticket: str, state: str) -> bool:
    row = await clock_row(sla, ticket)
    return row is not None and row.state == state


async def _processed(sla: SlaClockService, event_id: Any) -> bool:
    return bool(await sla.rows("SELECT 1 FROM inbox WHERE event_id = :e", e=event_id))
