"""Policy versions on the real broker and database: which version a clock runs under, an operator's
retarget, and deactivating a policy. The deployment's own data-insights file (SLA_CLOCK_POLICY_DIR)
adds a version from 2026-12-01 that halves gold's first-response targets, except urgent's."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.domain.calendar_definition import definition_for
from sla_clock.service_layer import policy_admin
from sla_clock.service_layer.handlers import handlers
from sla_clock.service_layer.what_if import what_if
from sla_clock.service_layer.workers import run_scheduler
from supportdesk_contract.catalogue import AgentResponded, Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, read_topic
from supportdesk_devstack.testing.events import GOLD, opened, triaged
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

from .facts import LA, OPENED, T0, TRIAGED, H, send
from .test_clocks_through_kafka import SlaClockService, clock_row

pytestmark = pytest.mark.integration

NEW_DATE = datetime(2026, 12, 1, tzinfo=LA)  # midnight Pacific: the calendar's zone
VERSION_BLOCK = """
versions:
  - version: "2026-12"
    effective_from: 2026-12-01
    first_response:
      by_plan_and_priority:
        basic:    {urgent: 2h,   high: 4h, normal: 8h, low: 24h}
        silver:   {urgent: 1.5h, high: 3h, normal: 8h, low: 16h}
        gold:     {urgent: 1h,   high: 1h, normal: 2h, low: 6h}
        platinum: {urgent: 30m,  high: 1h, normal: 3h, low: 8h}
"""
OLD, NEW = "data-insights@2026-11-22.1", "data-insights@2026-12"


class VersionedSlaClock(SlaClockService):
    def __init__(self, space: Sandbox, clock: ManualClock, policy_dir: Path) -> None:
        super().__init__(space, clock)
        self.book = PolicyBook("data-insights", "basic", str(policy_dir))

    async def start(self) -> None:
        self.runtime = ServiceRuntime(
            ServiceDefinition(
                name="sla-clock",
                settings=self.settings,
                handlers=handlers(self.book),
                clock=self.clock,
                workers={"scheduler": run_scheduler},
            )
        )
        await self.runtime.start()

    async def run(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        """An operator's command, as `sla-clock retarget` runs it."""
        assert self.runtime is not None
        return await command(self.runtime.engine, self.book, self.clock, "data-insights", *args, **kwargs)


@pytest.fixture
async def sla(space: Sandbox, tmp_path: Path) -> AsyncIterator[VersionedSlaClock]:
    shipped = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
    (tmp_path / "data-insights.yaml").write_text(shipped + VERSION_BLOCK)
    service = VersionedSlaClock(space, ManualClock(T0), tmp_path)
    await asyncio.to_thread(migrate, service.settings, "sla_clock:migrations")
    await service.start()
    yield service
    await service.stop()


async def sla_payloads(space: Sandbox, sla: SlaClockService, ticket: str) -> list[tuple[str, Any]]:
    """(event type, payload) of everything sla-clock published about `ticket`, once each."""
    total = (await sla.rows("SELECT count(*) FROM events"))[0][0]

    async def published() -> bool:
        return (await sla.rows("SELECT count(*) FROM events WHERE published_at IS NULL"))[0][0] == 0

    await eventually(published, what="sla-clock's outbox published")
    seen: dict[Any, tuple[str, Any]] = {}
    for m in await read_topic(space, Topic.SLA, expect=total):
        env = decode(m.value)
        if env.ticket_id == ticket:
            seen.setdefault(env.event_id, (env.event_type, env.payload))
    return list(seen.values())


async def running(sla: SlaClockService, ticket: str) -> Any:
    row = await clock_row(sla, ticket)
    return row if row is not None and row.state == "running" else None


async def test_a_ticket_opened_before_the_date_keeps_the_old_version_and_one_after_gets_the_new(
    space: Sandbox, sla: VersionedSlaClock
) -> None:
    after = NEW_DATE + timedelta(hours=9)  # Tuesday 09:00 Pacific
    for ticket, at in (("before", T0), ("after", after)):
        await send(space, ticket, Topic.LIFECYCLE, (opened(opened_at=at), at))
        await send(space, ticket, Topic.TRIAGE, (triaged(priority=Priority.HIGH, opened_at=at, **GOLD), at))
    old = await eventually(lambda: running(sla, "before"), what="the earlier ticket's clock")
    new = await eventually(lambda: running(sla, "after"), what="the later ticket's clock")
    assert (old.policy_version, old.target_seconds, old.due_at) == (OLD, 2 * 3600, T0 + 2 * H)
    assert (new.policy_version, new.target_seconds, new.due_at) == (NEW, 3600, after + H)
    started = [p for t, p in await sla_payloads(space, sla, "before") if t == "SlaClockStarted"]
    assert [(p.policy_version, p.due_at) for p in started] == [(OLD, T0 + 2 * H)]
    # It carries the calendar its due instant was computed in, for the board to count down in.
    old_calendar = sla.book.versions("data-insights").versions[0].calendar
    assert started[0].calendar_definition == definition_for(old_calendar, T0)
    assert started[0].calendar_definition.holidays[date(2026, 11, 26)] == ()  # Thanksgiving
    # The earlier ticket's next fact, arriving after the date, does not move it to the new version.
    await send(space, "before", Topic.LIFECYCLE, (AgentResponded(agent="a", body="hi", public=False), after))
    await send(space, "before", Topic.LIFECYCLE, (AgentResponded(agent="a", body="done"), T0 + 90 * H / 60))

    async def stopped() -> Any:
        row = await clock_row(sla, "before")
        return row if row.state == "stopped" else None

    done = await eventually(stopped, what="the earlier ticket answered")
    assert (done.policy_version, done.met, done.due_at) == (OLD, True, T0 + 2 * H)
    # What-if's live side is each ticket under its own version: the newest as the draft flips only
    # the earlier ticket (met in 1.5 h of its 2; the new version gives 1).
    assert sla.runtime is not None
    report = await what_if(
        sla.runtime.engine, sla.book, sla.book.policy("data-insights"), T0 - H, after + H, after + 2 * H
    )
    assert (report.live_version, report.draft_version) == ("2026-11-22.1, 2026-12", "2026-12")
    assert [(f.ticket_id, f.live, f.draft) for f in report.flips] == [("before", "met", "breached")]


async def test_retarget_records_one_event_per_clock_that_changes_and_nothing_the_second_time(
    space: Sandbox, sla: VersionedSlaClock
) -> None:
    # high: 2 h -> 1 h (changes); urgent: 1 h either way (moves, no event); answered: stopped, stays.
    for ticket, priority in (("high", Priority.HIGH), ("urgent", Priority.URGENT), ("answered", Priority.HIGH)):
        await send(space, ticket, Topic.LIFECYCLE, (opened(**OPENED), T0))
        await send(space, ticket, Topic.TRIAGE, (triaged(priority=priority, **TRIAGED), T0))
    await send(space, "answered", Topic.LIFECYCLE, (AgentResponded(agent="a", body="hi"), T0 + H / 2))
    for ticket in ("high", "urgent"):
        await eventually(lambda t=ticket: running(sla, t), what=f"{ticket} running")

    async def answered() -> Any:
        row = await clock_row(sla, "answered")
        return row is not None and row.state == "stopped"

    await eventually(answered, what="answered stopped")
    events_before = (await sla.rows("SELECT count(*) FROM events"))[0][0]

    dry = await sla.run(policy_admin.retarget, "2026-12", "lead@example.com", "new contract", dry_run=True)
    assert [(c.ticket_id, c.previous_due_at, c.due_at) for c in dry.changes] == [("high", T0 + 2 * H, T0 + H)]
    assert (await sla.rows("SELECT count(*) FROM events"))[0][0] == events_before
    assert (await clock_row(sla, "high")).policy_version == OLD

    report = await sla.run(policy_admin.retarget, "2026-12", "lead@example.com", "new contract")
    assert (report.tickets_examined, report.clocks_moved, len(report.changes)) == (2, 2, 1)
    assert (await sla.rows("SELECT count(*) FROM events"))[0][0] == events_before + 1
    high, urgent, stopped = [await clock_row(sla, t) for t in ("high", "urgent", "answered")]
    assert (high.policy_version, high.target_seconds, high.due_at, high.next_check_at) == (
        NEW,
        3600,
        T0 + H,
        T0 + 45 * H / 60,  # the 75% warning of the new target
    )
    assert (urgent.policy_version, urgent.due_at) == (NEW, T0 + H)
    assert (stopped.policy_version, stopped.due_at, stopped.met) == (OLD, T0 + 2 * H, True)

    again = await sla.run(policy_admin.retarget, "2026-12", "lead@example.com", "new contract")
    assert (again.clocks_moved, again.changes) == (0, [])
    assert (await sla.rows("SELECT count(*) FROM events"))[0][0] == events_before + 1

    retargeted = [p for t, p in await sla_payloads(space, sla, "high") if t == "SlaClockRetargeted"]
    assert [(p.from_version, p.to_version, p.previous_due_at, p.due_at, p.by) for p in retargeted] == [
        (OLD, NEW, T0 + 2 * H, T0 + H, "lead@example.com")
    ]
    assert not [t for t, _ in await sla_payloads(space, sla, "urgent") if t == "SlaClockRetargeted"]
    # With the calendar of the version it moved to.
    new_calendar = sla.book.versions("data-insights").versions[-1].calendar
    assert retargeted[0].calendar_definition == definition_for(new_calendar, T0)
    with pytest.raises(policy_admin.PolicyAdminError, match="no version '2099'"):
        await sla.run(policy_admin.retarget, "2099", "lead@example.com", "typo")


async def test_a_deactivated_policy_holds_its_clocks_and_reactivation_resumes_them_without_a_storm(
    space: Sandbox, sla: VersionedSlaClock
) -> None:
    await send(space, "held", Topic.LIFECYCLE, (opened(**OPENED), T0))
    await send(
        space, "held", Topic.TRIAGE, (triaged(priority=Priority.HIGH, **TRIAGED), T0)
    )  # gold high: 2 h, due T0 + 2 h
    await eventually(lambda: running(sla, "held"), what="clock running")
    sla.clock.set(T0 + H / 2)
    off = await sla.run(policy_admin.deactivate, "ops@example.com", "contract paused")
    assert (off.changed, off.tickets, off.events) == (True, 1, 1)
    assert not (await sla.run(policy_admin.deactivate, "ops@example.com", "again")).changed
    # A ticket triaged while the policy is inactive starts held.
    await send(space, "late-comer", Topic.LIFECYCLE, (opened(opened_at=T0 + H), T0 + H))
    await send(space, "late-comer", Topic.TRIAGE, (triaged(priority=Priority.URGENT, opened_at=T0 + H, **GOLD), T0 + H))

    async def paused(ticket: str) -> Any:
        row = await clock_row(sla, ticket)
        return row if row is not None and row.state == "paused" else None

    await eventually(lambda: paused("late-comer"), what="the late-comer held")
    sla.clock.set(T0 + 5 * H)  # long past both due instants
    await asyncio.sleep(3)  # the scheduler wakes at least every second: give it its chances
    held = await paused("held")
    assert (held.breached_at, held.warned, held.next_check_at) == (None, [], None)

    on = await sla.run(policy_admin.activate, "ops@example.com", "contract renewed")
    assert (on.changed, on.tickets, on.events) == (True, 2, 2)
    # 30 min had run before the hold: 90 min left from the reactivation at T0 + 5 h.
    resumed = await eventually(lambda: running(sla, "held"), what="resumed")
    assert (resumed.due_at, resumed.breached_at) == (T0 + 6.5 * H, None)
    late = await running(sla, "late-comer")
    assert late.due_at == T0 + 6 * H  # urgent 1 h, all of it still to run
    await asyncio.sleep(2)
    kinds = Counter(t for t, _ in await sla_payloads(space, sla, "held"))
    assert kinds == Counter({"SlaClockStarted": 1, "SlaClockSuspended": 1, "SlaClockResumed": 1})
    suspended = [p for t, p in await sla_payloads(space, sla, "late-comer") if t == "SlaClockSuspended"]
    assert [(p.suspended_at, p.by, p.reason) for p in suspended] == [(T0 + H, "ops@example.com", "contract paused")]
    # Time runs again: the breach comes at the new due instant, once.
    sla.clock.set(T0 + 7 * H)

    async def breached() -> Any:
        return (await clock_row(sla, "held")).breached_at

    assert await eventually(breached, what="the breach after reactivation") == T0 + 6.5 * H
