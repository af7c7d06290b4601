"""Folding one consumed event into the board, in the consumer's transaction (the inbox has
already made it first-time): the ticket's row, its timeline line, a decided SLA outcome, and one
entry in the change sequence the live stream follows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, delete, func, literal, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from supportdesk_events import Envelope
from supportdesk_events.catalogue import Event, SlaBreached, SlaMet

from ..adapters.tables import (
    board_attainment,
    board_changes,
    board_open_counts,
    board_sla_outcomes,
    board_tickets,
    board_timeline,
)
from ..domain.ticket_view import TicketView, describe

# One writer of the change sequence at a time, held to commit: ids then become visible in the
# order they were taken, so a stream that has seen id n can never later find an id below n.
SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")
CHANGES_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('board_changes'))")


def search_vector(row: dict[str, Any]) -> ColumnElement[Any]:
    """Identifiers as they are (number, email, phone); subject and description with English stems."""
    ids = " ".join(str(row[k] or "") for k in ("number", "requester_email", "requester_phone"))
    words = " ".join(str(row[k] or "") for k in ("subject", "description_excerpt"))
    return func.to_tsvector(SIMPLE, literal(ids, Text)).op("||")(func.to_tsvector(ENGLISH, literal(words, Text)))


COUNT_NAMES = ("queue", "priority", "status", "breached", "escalation_level")
COUNT_COLUMNS = tuple(board_open_counts.c[name] for name in COUNT_NAMES)
COUNTED = [
    board_tickets.c[name] for name in ("is_open", "queue", "priority", "status", "breached", "escalation_level", "plan")
]
CountKey = tuple[str, str, str, bool, int]


def _count_key(row: dict[str, Any]) -> CountKey | None:
    """Where a ticket counts in board_open_counts; None when it is closed (not counted)."""
    if not row["is_open"]:
        return None
    return (row["queue"] or "", row["priority"] or "", row["status"], row["breached"], row["escalation_level"])


async def _count(conn: AsyncConnection, key: CountKey | None, delta: int) -> None:
    if key is None:
        return
    c = board_open_counts
    where = [col == value for col, value in zip(COUNT_COLUMNS, key, strict=True)]
    if delta > 0:
        stmt = insert(c).values({**dict(zip(COUNT_NAMES, key, strict=True)), "tickets": delta})
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=list(COUNT_COLUMNS), set_={"tickets": c.c.tickets + delta})
        )
    else:
        await conn.execute(update(c).where(*where).values(tickets=c.c.tickets + delta))
        await conn.execute(delete(c).where(*where, c.c.tickets <= 0))  # canonical: no zero rows


@dataclass(frozen=True)
class Fact:
    """What the board folds of one event, and keeps of it on the timeline (where `as_of` finds it again)."""

    event_id: uuid.UUID
    ticket_id: str
    event_type: str
    occurred_at: datetime
    producer: str
    payload: Event

    @property
    def topic(self) -> str:
        return self.payload.topic.value


BUCKET_SECONDS = 900  # board_attainment's quarter hours, from the epoch (as date_bin from 2000-01-01)


def bucket_of(instant: datetime) -> datetime:
    epoch = int(instant.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_SECONDS, UTC)


async def _tally(
    conn: AsyncConnection, bucket: datetime, plan: str, priority: str, clock: str, decided: int, met: int
) -> None:
    a = board_attainment
    key = {"bucket": bucket, "plan": plan, "priority": priority, "clock": clock}
    stmt = insert(a).values(**key, decided=decided, met=met)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[a.c.bucket, a.c.plan, a.c.priority, a.c.clock],
            set_={"decided": a.c.decided + decided, "met": a.c.met + met},
        )
    )
    if decided < 0:  # canonical: no empty rows
        where = [a.c[k] == v for k, v in key.items()]
        await conn.execute(delete(a).where(*where, a.c.decided <= 0))


async def _move_outcomes(
    conn: AsyncConnection, ticket_id: str, before: tuple[str, str], after: tuple[str, str]
) -> None:
    """A ticket's plan or priority changed: its decided clocks now count under the new ones."""
    o = board_sla_outcomes
    decided = (await conn.execute(select(o.c.clock, o.c.met, o.c.decided_at).where(o.c.ticket_id == ticket_id))).all()
    for d in decided:
        bucket = bucket_of(d.decided_at)
        await _tally(conn, bucket, *before, d.clock, -1, -int(d.met))
        await _tally(conn, bucket, *after, d.clock, 1, int(d.met))


async def _decide(
    conn: AsyncConnection, env: Fact, payload: SlaMet | SlaBreached, plan_priority: tuple[str, str]
) -> None:
    """Record a clock's outcome, and count it in board_attainment (a breach after a met stands)."""
    o = board_sla_outcomes
    key = (o.c.ticket_id == env.ticket_id, o.c.clock == payload.clock.value, o.c.cycle == payload.cycle)
    earlier = (await conn.execute(select(o.c.met, o.c.decided_at).where(*key).with_for_update())).first()
    met = isinstance(payload, SlaMet)
    if earlier is None:
        await conn.execute(
            insert(o).values(
                ticket_id=env.ticket_id,
                clock=payload.clock.value,
                cycle=payload.cycle,
                met=met,
                decided_at=env.occurred_at,
            )
        )
        await _tally(conn, bucket_of(env.occurred_at), *plan_priority, payload.clock.value, 1, int(met))
    elif earlier.met and not met:
        await conn.execute(update(o).where(*key).values(met=False))
        await _tally(conn, bucket_of(earlier.decided_at), *plan_priority, payload.clock.value, 0, -1)


async def _hold_changes_lock(conn: AsyncConnection) -> None:
    """Take the change-sequence lock once per transaction (a batch applies many events in one):
    a round trip less per event. Inside a savepoint it is always taken, since rolling the savepoint
    back may release a lock taken in it."""
    outer = conn.get_transaction()
    if conn.in_nested_transaction() or outer is None:
        await conn.execute(CHANGES_LOCK)
        return
    if conn.info.get("board_changes_lock") is not outer:
        await conn.execute(CHANGES_LOCK)
        conn.info["board_changes_lock"] = outer


async def apply_event(conn: AsyncConnection, env: Envelope[Any]) -> None:
    await apply_fact(
        conn, Fact(env.event_id, env.ticket_id, env.event_type, env.occurred_at, env.producer, env.payload)
    )


async def apply_fact(conn: AsyncConnection, env: Fact, *, changes: bool = True) -> None:
    """The fold of one event into the board's tables. `changes=False` (a fold as of the past, into
    temporary tables) leaves the live stream's change sequence and its lock alone."""
    t = board_tickets
    found = (
        await conn.execute(select(t.c.state, *COUNTED).where(t.c.ticket_id == env.ticket_id).with_for_update())
    ).first()
    view = TicketView.model_validate(found.state) if found is not None else TicketView()
    # Outcomes come only from SLA events: before the first one there is nothing to move.
    may_have_outcomes = view.sla.seen > 0
    seq = view.apply(env.payload, env.occurred_at)
    entry = describe(env.payload, env.producer)
    await conn.execute(
        insert(board_timeline)
        .values(
            event_id=env.event_id,
            ticket_id=env.ticket_id,
            topic=env.topic,
            topic_seq=seq,
            event_type=env.event_type,
            occurred_at=env.occurred_at,
            producer=env.producer,
            actor=entry.actor,
            summary=entry.summary,
            payload=env.payload.model_dump(mode="json"),
        )
        .on_conflict_do_nothing()
    )
    row = view.row()
    values = {**row, "search": search_vector(row), "state": view.model_dump(mode="json")}
    stmt = insert(t).values(ticket_id=env.ticket_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.ticket_id], set_=values))
    before = _count_key(dict(found._mapping)) if found is not None else None
    after = _count_key(row)
    if before != after:
        await _count(conn, before, -1)
        await _count(conn, after, +1)
    attained = (row["plan"] or "", row["priority"] or "")
    if found is not None and may_have_outcomes and (found.plan or "", found.priority or "") != attained:
        await _move_outcomes(conn, env.ticket_id, (found.plan or "", found.priority or ""), attained)
    if isinstance(env.payload, SlaMet | SlaBreached):
        await _decide(conn, env, env.payload, attained)
    if changes:
        await _hold_changes_lock(conn)
        await conn.execute(insert(board_changes).values(ticket_id=env.ticket_id, changed_at=env.occurred_at))
