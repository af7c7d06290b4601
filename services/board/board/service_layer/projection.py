"""Folding consumed events into the board, in the consumer's transaction (the inbox has already
made them first-time): each ticket's row, a timeline line per event, a decided SLA outcome, and
one entry per event in the change sequence the live stream follows.

A consumer batch is one `Fold`: the rows of all its tickets are read and locked in one statement,
events fold in memory, and at the flush the whole batch is written by one statement
(`projection_store.write_batch`). SLA outcomes, which are rare and read what earlier ones wrote,
are written as they are decided. What is stored where, and the statements, are
`adapters.projection_store`'s; this module decides what changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import (
    REGISTRY,
    CarriesPersonalData,
    RequesterErased,
    SlaBreached,
    SlaClockRetargeted,
    SlaClockStarted,
    SlaMet,
)
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.personal import mask_event

from ..adapters import projection_store as store
from ..adapters.projection_store import COUNT_NAMES, KEPT, CountKey, bucket_of, search_texts
from ..domain.business_time import calendar_id
from ..domain.ticket_view import TicketView
from ..domain.timeline import Fact, describe


def _count_key(row: dict[str, Any]) -> CountKey | None:
    """Where a ticket counts in board_open_counts; None when it is closed (not counted)."""
    if not row["is_open"]:
        return None
    return (row["queue"] or "", row["priority"] or "", row["status"], row["breached"], row["escalation_level"])


async def _move_outcomes(
    conn: AsyncConnection, ticket_id: str, before: tuple[str, str], after: tuple[str, str]
) -> None:
    """A ticket's plan or priority changed: its decided clocks now count under the new ones."""
    for d in await store.decided_outcomes(conn, ticket_id):
        bucket = bucket_of(d.decided_at)
        await store.tally(conn, bucket, *before, d.clock, -1, -int(d.met))
        await store.tally(conn, bucket, *after, d.clock, 1, int(d.met))


async def _decide(
    conn: AsyncConnection, env: Fact, payload: SlaMet | SlaBreached, plan_priority: tuple[str, str]
) -> None:
    """Record a clock's outcome, and count it in board_attainment (a breach after a met stands)."""
    clock = payload.clock.value
    earlier = await store.outcome_for_update(conn, env.ticket_id, clock, payload.cycle)
    met = isinstance(payload, SlaMet)
    if earlier is None:
        await store.insert_outcome(conn, env.ticket_id, clock, payload.cycle, met, env.occurred_at)
        await store.tally(conn, bucket_of(env.occurred_at), *plan_priority, clock, 1, int(met))
    elif earlier.met and not met:
        await store.mark_breached(conn, env.ticket_id, clock, payload.cycle)
        await store.tally(conn, bucket_of(earlier.decided_at), *plan_priority, clock, 0, -1)


async def apply_event(conn: AsyncConnection, env: Envelope[Any]) -> None:
    await apply_fact(conn, fact_of(env))


def fact_of(env: Envelope[Any]) -> Fact:
    return Fact(env.event_id, env.ticket_id, env.event_type, env.occurred_at, env.producer, env.payload)


async def apply_fact(conn: AsyncConnection, env: Fact, *, changes: bool = True) -> None:
    """The fold of one event into the board's tables. `changes=False` (a fold as of the past, into
    temporary tables) leaves the live stream's change sequence and its lock alone."""
    fold = Fold(changes=changes)
    await fold.apply(conn, env)
    await fold.write(conn)


@dataclass
class _Ticket:
    view: TicketView
    stored: dict[str, Any] | None  # the counted columns as the table has them; None: no row yet
    folded: bool = False  # events folded since it was loaded or written: the row is to be written

    def attained(self) -> tuple[str, str] | None:
        """(plan, priority) its decided clocks count under now; None while it has no row at all."""
        if self.folded:
            return self.view.attained_under()
        if self.stored is None:
            return None
        return (self.stored["plan"] or "", self.stored["priority"] or "")


@dataclass
class Fold:
    """Events folded into the board together (a consumer batch): see the module's docstring."""

    changes: bool = True
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    # Timeline lines and changes as their JSON, made as each event folds: a batch holds bytes (which
    # the garbage collector does not track) instead of dicts that live through the batch, get
    # promoted and then cost full collections.
    timeline: list[bytes] = field(default_factory=list)
    changed: list[bytes] = field(default_factory=list)
    calendars: dict[str, bytes] = field(default_factory=dict)  # by calendar_id

    async def load(self, conn: AsyncConnection, ticket_ids: Iterable[str]) -> None:
        ids = sorted(set(ticket_ids) - self.tickets.keys())
        for found in await store.load_tickets(conn, ids):
            stored = dict(found._mapping)
            self.tickets[found.ticket_id] = _Ticket(TicketView.model_validate_json(stored.pop("state")), stored)
        for ticket_id in ids:  # a new view only for tickets without a row (making one costs as much as loading)
            if ticket_id not in self.tickets:
                self.tickets[ticket_id] = _Ticket(TicketView(), None)

    async def apply(self, conn: AsyncConnection, env: Fact, ahead: Iterable[str] = ()) -> None:
        """Fold one event; the first of a ticket loads it, and the tickets `ahead` with it."""
        if env.ticket_id not in self.tickets:
            await self.load(conn, [env.ticket_id, *ahead])
        ticket = self.tickets[env.ticket_id]
        view = ticket.view
        before = ticket.attained()
        # Outcomes come only from SLA events: before the first one there is nothing to move.
        may_have_outcomes = view.sla.seen > 0
        seq = view.apply(env.payload, env.occurred_at)
        entry = describe(env.payload, env.producer)
        self.timeline.append(
            to_json(
                dict(
                    event_id=env.event_id,
                    ticket_id=env.ticket_id,
                    topic=env.topic,
                    topic_seq=seq,
                    event_type=env.event_type,
                    occurred_at=env.occurred_at,
                    producer=env.producer,
                    actor=entry.actor,
                    summary=entry.summary,
                    payload=env.payload,
                )
            )
        )
        ticket.folded = True
        attained = view.attained_under()
        if before is not None and may_have_outcomes and before != attained:
            await _move_outcomes(conn, env.ticket_id, before, attained)
        if isinstance(env.payload, SlaMet | SlaBreached):
            await _decide(conn, env, env.payload, attained)
        if isinstance(env.payload, SlaClockStarted | SlaClockRetargeted) and env.payload.calendar_definition:
            carried = env.payload.calendar_definition
            key = calendar_id(carried)
            if key not in self.calendars:
                self.calendars[key] = to_json({"calendar_id": key, "definition": carried})
        if isinstance(env.payload, RequesterErased):
            # The lines this batch folded already go in first, so that they are masked too.
            timeline, self.timeline = self.timeline, []
            if timeline:
                await store.insert_timeline(conn, timeline)
            await _mask_timeline(conn, env.ticket_id)
        if self.changes:
            self.changed.append(to_json({"ticket_id": env.ticket_id, "changed_at": env.occurred_at}))

    async def write(self, conn: AsyncConnection) -> None:
        """What the folded events changed, in one statement (and a second when a count emptied)."""
        rows: dict[str, list[bytes]] = {}
        timeline, self.timeline = self.timeline, []
        changed, self.changed = self.changed, []
        calendars, self.calendars = self.calendars, {}
        if calendars:
            rows["calendars"] = [calendars[key] for key in sorted(calendars)]
        if timeline:
            rows["timeline"] = timeline
        counts: Counter[CountKey] = Counter()
        for ticket_id, ticket in sorted(self.tickets.items()):
            if not ticket.folded:
                continue
            row = ticket.view.row()  # once per ticket and batch, however many of its events folded
            texts = search_texts(row)
            search = ticket.stored is None or search_texts(ticket.stored) != texts
            stored = {**row, "ticket_id": ticket_id}
            # The state's JSON spliced in as pydantic writes it (no dicts made of it on the way).
            rows.setdefault("searched" if search else "unsearched", []).append(
                b'%b,"state":%b}' % (to_json(stored)[:-1], ticket.view.stored_json())
            )
            before = _count_key(ticket.stored) if ticket.stored is not None else None
            after = _count_key(row)
            if before != after:
                if before is not None:
                    counts[before] -= 1
                if after is not None:
                    counts[after] += 1
            ticket.stored, ticket.folded = {name: row[name] for name in KEPT}, False
        moved = sorted((key, n) for key, n in counts.items() if n)  # in key order: no deadlock between folds
        if moved:
            rows["counts"] = [to_json({**dict(zip(COUNT_NAMES, key, strict=True)), "tickets": n}) for key, n in moved]
        if changed:
            rows["changed"] = changed
        emptied = [key for key, n in moved if n < 0]
        await store.write_batch(conn, rows, emptied)

    async def queue(self, ctx: HandlerContext) -> None:
        await self.write(ctx.conn)


PERSONAL_TYPES = [name for name, cls in REGISTRY.items() if issubclass(cls, CarriesPersonalData)]


async def _mask_timeline(conn: AsyncConnection, ticket_id: str) -> None:
    """The ticket's timeline lines that carried the requester's words, masked as a replay after the
    erasure would have written them (so a rebuild ends the same, and `as_of` folds masked facts)."""
    for row in await store.timeline_lines_of_types(conn, ticket_id, PERSONAL_TYPES):
        masked = mask_event(REGISTRY[row.event_type].model_validate(row.payload))
        entry = describe(masked, row.producer)
        await store.rewrite_timeline_line(
            conn, row.event_id, entry.actor, entry.summary, masked.model_dump(mode="json")
        )
