"""What an operator does to a policy's open clocks: move them to another version (`retarget`), or
hold them while the policy is deactivated (`deactivate`, `activate`).

Each acts on every ticket with an open clock under the policy, one ticket at a time under its row
lock (as the consumer does), and records one event per clock whose state it changes, with an id
derived from the clock and the change, so running a command twice changes nothing the second time.

- Retarget records `SlaClockRetargeted` (old and new version, target and due instant, who and
  why) for each open clock whose target or due instant moves; a clock that moves to the version
  without a change in either gets the new version on its row and no event. Stopped clocks keep
  the version they ran under.
- Deactivate holds the open clocks (`SlaClockSuspended`, who and why, in each ticket's history):
  no warning, breach or auto-close while the policy is inactive, and tickets triaged meanwhile
  start held. Activate resumes them from that instant (`SlaClockResumed` with the new due): the
  inactive time counts like a pause, so nothing comes due at once that was not overdue before.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import Event, SlaClockResumed, SlaClockRetargeted, SlaClockSuspended
from supportdesk_contract.clock import Clock as TimeSource
from supportdesk_contract.envelope import Envelope, anchored_envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.outbox import record

from ..adapters import repository
from ..adapters.policy_book import PolicyBook
from ..domain.calendar_definition import definition_for
from ..domain.clocks import Clock, ClockState, TicketFacts
from ..domain.policy import Policy, PolicyVersions
from .projection import PRODUCER, SLA_CLOCKS, TicketState, anchor, clock_key, sync, ticket_state


class PolicyAdminError(ValueError):
    """Bad operator input; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class ClockChange(BaseModel):
    ticket_id: str
    clock: str
    cycle: int
    from_version: str
    to_version: str
    previous_target_seconds: int | None
    target_seconds: int | None
    previous_due_at: datetime | None
    due_at: datetime | None


class RetargetReport(BaseModel):
    policy: str
    to_version: str
    dry_run: bool
    tickets_examined: int
    clocks_moved: int  # open clocks now on to_version (those changed included)
    changes: list[ClockChange]  # one SlaClockRetargeted each (none recorded on a dry run)


class ActivityReport(BaseModel):
    policy: str
    active: bool
    changed: bool  # False: the policy already was in that state; nothing was done
    tickets: int  # tickets whose clocks were held (deactivate) or resumed (activate)
    events: int


def _listed_from(now: datetime, due_at: datetime | None) -> datetime:
    """Where a retargeted clock's calendar lists holidays from: the due instant if it is past (the
    board counts the time overdue), else now (a paused clock, with no due instant, resumes later)."""
    return min(now, due_at) if due_at is not None else now


def _open(derived: list[tuple[Clock, Policy]]) -> list[tuple[Clock, Policy]]:
    return [(c, v) for c, v in derived if c.state is not ClockState.STOPPED]


def _envelope(
    payload: Event, ticket_id: str, discriminator: str, clock: TimeSource, correlation_id: uuid.UUID
) -> Envelope[Any]:
    return anchored_envelope(
        payload,
        ticket_id=ticket_id,
        anchor=anchor(ticket_id),
        discriminator=discriminator,
        producer=PRODUCER,
        clock=clock,
        correlation_id=correlation_id,
    )


async def _write(
    ctx: HandlerContext, ticket_id: str, state: TicketState, book: PolicyBook, derived: list[tuple[Clock, Policy]]
) -> None:
    """The ticket's changed facts, its clocks and their lifetime events, now (as the consumer would)."""
    state.facts_changed(ctx.clock.now())
    sync(ctx, ticket_id, state, book, None, derived)
    await ctx.flush()


async def retarget(
    engine: AsyncEngine,
    book: PolicyBook,
    clock: TimeSource,
    name: str,
    to_version: str | None,
    by: str,
    reason: str,
    *,
    dry_run: bool = False,
) -> RetargetReport:
    """Move the open clocks of policy `name` to `to_version` (default: the version in force now),
    in one transaction."""
    versions = book.versions(name)
    now = clock.now()
    target = versions.at(now) if to_version is None else versions.named(to_version)
    if target is None:
        known = ", ".join(v.version for v in versions.versions)
        raise PolicyAdminError("to_version", f"{name} has no version {to_version!r}; it has: {known}")
    report = RetargetReport(
        policy=name, to_version=target.version, dry_run=dry_run, tickets_examined=0, clocks_moved=0, changes=[]
    )
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, clock, PRODUCER)
        await _retarget(ctx, book, versions, target, report, by, reason)
    ctx.committed()  # its signals are counted once committed
    return report


async def _retarget(
    ctx: HandlerContext,
    book: PolicyBook,
    versions: PolicyVersions,
    target: Policy,
    report: RetargetReport,
    by: str,
    reason: str,
) -> None:
    conn, clock, dry_run = ctx.conn, ctx.clock, report.dry_run
    now = clock.now()
    for ticket_id in await repository.tickets_open_under(conn, versions.name):
        state = await ticket_state(ctx, ticket_id)
        facts, correlation_id = state.facts, state.correlation_id
        if correlation_id is None or book.versions(facts.policy).name != versions.name:
            continue
        report.tickets_examined += 1
        before = book.clocks(facts)
        moved = TicketFacts.from_json(facts.to_json())
        moved.policy_version = target.label  # clocks that start later in this cycle: this version too
        for c, _ in _open(before):
            if c.kind in SLA_CLOCKS:
                moved.clock_versions[c.kind.value] = target.label
        if moved.to_json() == facts.to_json():
            continue
        after = {c.kind: c for c, _ in book.clocks(moved)}
        envelopes: list[Envelope[Any]] = []
        for old, old_version in _open(before):
            new = after.get(old.kind)
            if new is None:
                continue
            report.clocks_moved += 1
            old_seconds = old.target.seconds if old.target else None
            new_seconds = new.target.seconds if new.target else None
            if (old_seconds, old.due_at) == (new_seconds, new.due_at):
                continue
            change = ClockChange(
                ticket_id=ticket_id,
                clock=old.kind.value,
                cycle=old.cycle,
                from_version=old_version.label,
                to_version=target.label,
                previous_target_seconds=old_seconds,
                target_seconds=new_seconds,
                previous_due_at=old.due_at,
                due_at=new.due_at,
            )
            report.changes.append(change)
            payload = SlaClockRetargeted(
                clock=old.kind,
                cycle=old.cycle,
                **change.model_dump(exclude={"ticket_id", "clock", "cycle"}),
                by=by,
                reason=reason,
                calendar_definition=definition_for(target.calendar, _listed_from(now, new.due_at))
                if new.target
                else None,
            )
            disc = f"{clock_key(old)}/retarget/{old_version.label}->{target.label}/{old.due_at}"
            envelopes.append(_envelope(payload, ticket_id, disc, clock, correlation_id))
        if dry_run:
            continue
        state.facts = moved
        await _write(ctx, ticket_id, state, book, book.clocks(moved))
        await record(conn, envelopes)


def suspension_events(
    ticket_id: str,
    facts: TicketFacts,
    derived: list[tuple[Clock, Policy]],
    policy: str,
    by: str,
    reason: str,
    clock: TimeSource,
    correlation_id: uuid.UUID,
) -> list[Envelope[Any]]:
    """One SlaClockSuspended per clock the suspension holds (all but the stopped ones)."""
    assert facts.suspended_since is not None
    since = facts.suspended_since
    return [
        _envelope(
            SlaClockSuspended(clock=c.kind, cycle=c.cycle, suspended_at=since, policy=policy, by=by, reason=reason),
            ticket_id,
            f"{clock_key(c)}/suspended/{since.isoformat()}",
            clock,
            correlation_id,
        )
        for c, _ in _open(derived)
    ]


async def held_by(
    conn: AsyncConnection, book: PolicyBook, facts: TicketFacts, known: dict[str, tuple[bool, Any]] | None = None
) -> tuple[str, str, str] | None:
    """For the consumer: whether a cycle whose clocks start with this fact is held by a deactivated
    policy, as (policy, by, reason). A ticket triaged while its policy is inactive starts held (from
    its cycle's start, or the deactivation if later). Asked once per cycle, before its version is
    pinned: a cycle pinned already has clock rows, which `deactivate` finds and holds itself.
    `known` (the batch's, `TicketsOfBatch.policy_activity`) keeps each policy's answer for the rest
    of the batch: the shared lock taken with it is held until the commit, so it cannot change."""
    if not facts.triaged or facts.cycle_started_at is None or facts.closed_at is not None:
        return None
    name = book.versions(facts.policy).name
    if facts.policy_version is not None and facts.policy_version.partition("@")[0] == name:
        return None
    known = {} if known is None else known
    if name not in known:
        # Two statements: the read after the lock gets a snapshot that sees a deactivation it waited for.
        known[name] = await repository.is_active(conn, name, "shared")
    active, row = known[name]
    if active:
        return None
    if facts.suspended_since is None:
        facts.suspended_since = max(row.changed_at, facts.cycle_started_at)
    return name, row.changed_by, row.reason


async def deactivate(
    engine: AsyncEngine, book: PolicyBook, clock: TimeSource, name: str, by: str, reason: str
) -> ActivityReport:
    """Hold the open clocks of policy `name`, in one transaction."""
    versions = book.versions(name)
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, clock, PRODUCER)
        report = await _deactivate(ctx, book, versions, by, reason)
    ctx.committed()  # its signals are counted once committed
    return report


async def _deactivate(
    ctx: HandlerContext, book: PolicyBook, versions: PolicyVersions, by: str, reason: str
) -> ActivityReport:
    conn, clock = ctx.conn, ctx.clock
    active, _ = await repository.is_active(conn, versions.name, "exclusive")
    report = ActivityReport(policy=versions.name, active=False, changed=active, tickets=0, events=0)
    if not active:
        return report
    now = clock.now()
    await repository.set_activity(conn, versions.name, False, now, by, reason)
    for ticket_id in await repository.tickets_open_under(conn, versions.name):
        state = await ticket_state(ctx, ticket_id)
        facts, correlation_id = state.facts, state.correlation_id
        if correlation_id is None or book.versions(facts.policy).name != versions.name:
            continue
        if facts.suspended_since is not None or facts.closed_at is not None:
            continue
        facts.suspended_since = now
        derived = book.clocks(facts)
        await _write(ctx, ticket_id, state, book, derived)
        held = suspension_events(ticket_id, facts, derived, versions.name, by, reason, clock, correlation_id)
        report.tickets += 1
        report.events += len(await record(conn, held))
    return report


async def activate(
    engine: AsyncEngine, book: PolicyBook, clock: TimeSource, name: str, by: str, reason: str
) -> ActivityReport:
    """Resume the open clocks of policy `name` held by its deactivation, in one transaction."""
    versions = book.versions(name)
    async with engine.begin() as conn:
        ctx = HandlerContext(conn, clock, PRODUCER)
        report = await _activate(ctx, book, versions, by, reason)
    ctx.committed()  # its signals are counted once committed
    return report


async def _activate(
    ctx: HandlerContext, book: PolicyBook, versions: PolicyVersions, by: str, reason: str
) -> ActivityReport:
    conn, clock = ctx.conn, ctx.clock
    active, _ = await repository.is_active(conn, versions.name, "exclusive")
    report = ActivityReport(policy=versions.name, active=True, changed=not active, tickets=0, events=0)
    if active:
        return report
    now = clock.now()
    await repository.set_activity(conn, versions.name, True, now, by, reason)
    for ticket_id in await repository.held_tickets(conn):
        state = await ticket_state(ctx, ticket_id)
        facts, correlation_id = state.facts, state.correlation_id
        since = facts.suspended_since
        if correlation_id is None or since is None or book.versions(facts.policy).name != versions.name:
            continue
        if now > since:
            facts.suspensions.append((since, now))
        facts.suspended_since = None
        derived = book.clocks(facts)
        await _write(ctx, ticket_id, state, book, derived)
        resumed = [
            _envelope(
                SlaClockResumed(clock=c.kind, cycle=c.cycle, resumed_at=now, due_at=c.due_at),
                ticket_id,
                f"{clock_key(c)}/reinstated/{since.isoformat()}",
                clock,
                correlation_id,
            )
            for c, _ in derived
            if c.state is ClockState.RUNNING
        ]
        report.tickets += 1
        report.events += len(await record(conn, resumed))
    return report
