"""Folding consumed events into the board, in the consumer's transaction (the inbox has already
made them first-time): each ticket's row, a timeline line per event, a decided SLA outcome, and
one entry per event in the change sequence the live stream follows.

A consumer batch is one `Fold`: the rows of all its tickets are read and locked in one statement,
events fold in memory, and at the flush the whole batch is written by one statement: timeline
lines, ticket rows (each written once, however many of its events came), the net change of the
open counts and the change sequence, each a JSON array unpacked in a data-modifying CTE (emptied
count rows are deleted by a second statement, which must see the upsert). SLA outcomes, which are rare and read
what earlier ones wrote, are written as they are decided."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Text, bindparam, cast, delete, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement, TextClause

from supportdesk_contract.catalogue import (
    REGISTRY,
    CarriesPersonalData,
    Event,
    RequesterErased,
    SlaBreached,
    SlaClockRetargeted,
    SlaClockStarted,
    SlaMet,
)
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.personal import mask_event

from ..adapters.tables import (
    board_attainment,
    board_open_counts,
    board_sla_outcomes,
    board_tickets,
    board_timeline,
)
from ..domain.business_time import calendar_id
from ..domain.ticket_view import TicketView, describe

SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")


def search_texts(row: dict[str, Any]) -> tuple[str, str]:
    """What the search vector is made of: identifiers (number, email, phone), and words (subject, description)."""
    ids = " ".join(str(row[k] or "") for k in ("number", "requester_email", "requester_phone"))
    words = " ".join(str(row[k] or "") for k in ("subject", "description_excerpt"))
    return ids, words


def search_vector_of(ids: ColumnElement[Any], words: ColumnElement[Any]) -> ColumnElement[Any]:
    """Identifiers as they are; subject and description with English stems."""
    return func.to_tsvector(SIMPLE, ids).op("||")(func.to_tsvector(ENGLISH, words))


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


# What the search vector is made of (`search_texts`): loaded with the row, so that a batch that
# leaves them as they were does not make PostgreSQL stem the words again.
SEARCHED = [
    board_tickets.c[name] for name in ("number", "requester_email", "requester_phone", "subject", "description_excerpt")
]
# The state comes as its JSON text, parsed and validated by pydantic in one pass (a third of the
# time of the driver's json.loads and then validating the dicts).
_LOAD = (
    select(board_tickets.c.ticket_id, cast(board_tickets.c.state, Text).label("state"), *COUNTED, *SEARCHED)
    .where(board_tickets.c.ticket_id == func.any(bindparam("ticket_ids", type_=ARRAY(Text))))
    .order_by(board_tickets.c.ticket_id)  # locked in ticket order: two folds sharing tickets never deadlock
    .with_for_update()
)


# The batch's writes go to PostgreSQL as one statement: each table's rows as one JSON array
# unpacked by json_populate_recordset (json, not jsonb: only the values used are parsed), the
# tables' inserts as data-modifying CTEs of it (each runs once, to completion; they touch different
# tables, so none needs to see another's rows). One round trip and one executor run per batch,
# where an executemany per table paid the protocol, the parameter encoding and the executor start
# per row, and a round trip per table (py-spy and the statement times put most of the fold's time
# there). WITH ORDINALITY keeps the batch's order (rows are locked and change ids taken in it).
def _rows_of(table: str, param: str) -> str:
    return f"json_populate_recordset(NULL::{table}, CAST(:{param} AS json)) WITH ORDINALITY r"


_TIMELINE_COLUMNS = ", ".join(c.name for c in board_timeline.c)
_TIMELINE_SQL = (
    f"INSERT INTO board_timeline ({_TIMELINE_COLUMNS}) SELECT {_TIMELINE_COLUMNS} "
    f"FROM {_rows_of('board_timeline', 'timeline')} ORDER BY r.ordinality ON CONFLICT DO NOTHING"
)
_TIMELINE = text(_TIMELINE_SQL).bindparams(bindparam("timeline", type_=Text))
_COUNT_COLUMNS = ", ".join((*COUNT_NAMES, "tickets"))
_COUNT_SQL = (
    f"INSERT INTO board_open_counts ({_COUNT_COLUMNS}) SELECT {_COUNT_COLUMNS} "
    f"FROM {_rows_of('board_open_counts', 'counts')} ORDER BY r.ordinality "
    f"ON CONFLICT ({', '.join(COUNT_NAMES)}) DO UPDATE SET tickets = board_open_counts.tickets + EXCLUDED.tickets"
)
# After the counts' upsert (a statement of its own: it must see what the upsert wrote).
_UNCOUNT = delete(board_open_counts).where(
    *(col == bindparam(f"b_{name}") for col, name in zip(COUNT_COLUMNS, COUNT_NAMES, strict=True)),
    board_open_counts.c.tickets <= 0,  # canonical: no zero rows
)
# One writer of the change sequence at a time, held to commit: ids then become visible in the
# order they were taken, so a stream that has seen id n can never later find an id below n. The
# lock is taken in the statement that takes the ids: no joined row (so no id) exists
# before the one-row lock subquery has run, whatever the join order. Taken again in every batch,
# which costs nothing once held, and also holds inside a savepoint.
_CHANGE_SQL = (
    "INSERT INTO board_changes (ticket_id, changed_at) SELECT r.ticket_id, r.changed_at "
    f"FROM {_rows_of('board_changes', 'changed')} "
    "CROSS JOIN (SELECT pg_advisory_xact_lock(hashtext('board_changes'))) AS held ORDER BY r.ordinality"
)
_TICKET_COLUMNS = [c.name for c in board_tickets.c if c.name != "search"]


def _searched(column: str) -> str:
    return f"coalesce(r.{column}, '')"


# The search vector made in SQL from the row's own texts, exactly as `search_texts` joins them
# (None as '', one space between), so `search_vector_of` (as-of reads) makes the same vector.
_SEARCH_SQL = (
    "to_tsvector('simple'::regconfig, "
    + " || ' ' || ".join(_searched(c) for c in ("number", "requester_email", "requester_phone"))
    + ") || to_tsvector('english'::regconfig, "
    + " || ' ' || ".join(_searched(c) for c in ("subject", "description_excerpt"))
    + ")"
)


def _upsert_sql(search: bool) -> str:
    """The batch's ticket rows; without `search`, a row keeps its search vector (only for a row
    that exists: the conflict path, so the placeholder is never stored)."""
    columns = ", ".join(_TICKET_COLUMNS)
    selected = ", ".join(f"r.{c}" for c in _TICKET_COLUMNS)
    updated = [c for c in _TICKET_COLUMNS if c != "ticket_id"] + (["search"] if search else [])
    vector = _SEARCH_SQL if search else "''::tsvector"
    param = "searched" if search else "unsearched"
    return (
        f"INSERT INTO board_tickets ({columns}, search) SELECT {selected}, {vector} "
        f"FROM {_rows_of('board_tickets', param)} ORDER BY r.ordinality "
        "ON CONFLICT (ticket_id) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    )


# The calendars clock events carried, each stored once (by content: an existing one is the same),
# in key order: two folds inserting the same new calendars never wait on each other in a circle.
_CALENDARS_SQL = (
    "INSERT INTO board_calendars (calendar_id, definition) SELECT r.calendar_id, r.definition "
    f"FROM {_rows_of('board_calendars', 'calendars')} ORDER BY r.ordinality ON CONFLICT DO NOTHING"
)

# Each part of the write: its SQL and its parameter (a JSON array of rows).
_PARTS = {
    "calendars": _CALENDARS_SQL,
    "timeline": _TIMELINE_SQL,
    "searched": _upsert_sql(True),
    "unsearched": _upsert_sql(False),
    "counts": _COUNT_SQL,
    "changed": _CHANGE_SQL,
}
_WRITES: dict[tuple[str, ...], TextClause] = {}


def _write_of(parts: tuple[str, ...]) -> TextClause:
    """One statement doing these parts (in this order), built once per combination."""
    stmt = _WRITES.get(parts)
    if stmt is None:
        *ctes, last = parts
        with_ = "WITH " + ", ".join(f"{p} AS ({_PARTS[p]})" for p in ctes) + " " if ctes else ""
        stmt = _WRITES[parts] = text(with_ + _PARTS[last]).bindparams(*(bindparam(p, type_=Text) for p in parts))
    return stmt


def _json_array(rows: list[bytes]) -> str:
    return (b"[%b]" % b",".join(rows)).decode()


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
        for found in await conn.execute(_LOAD, {"ticket_ids": ids}):
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
                await conn.execute(_TIMELINE, {"timeline": _json_array(timeline)})
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
            ticket.stored, ticket.folded = {c.name: row[c.name] for c in (*COUNTED, *SEARCHED)}, False
        moved = sorted((key, n) for key, n in counts.items() if n)  # in key order: no deadlock between folds
        if moved:
            rows["counts"] = [to_json({**dict(zip(COUNT_NAMES, key, strict=True)), "tickets": n}) for key, n in moved]
        if changed:
            rows["changed"] = changed
        if rows:
            parts = tuple(p for p in _PARTS if p in rows)
            await conn.execute(_write_of(parts), {p: _json_array(rows[p]) for p in parts})
        emptied = [{f"b_{k}": v for k, v in zip(COUNT_NAMES, key, strict=True)} for key, n in moved if n < 0]
        if emptied:
            await conn.execute(_UNCOUNT, emptied)

    async def queue(self, ctx: HandlerContext) -> None:
        await self.write(ctx.conn)


PERSONAL_TYPES = [name for name, cls in REGISTRY.items() if issubclass(cls, CarriesPersonalData)]


async def _mask_timeline(conn: AsyncConnection, ticket_id: str) -> None:
    """The ticket's timeline lines that carried the requester's words, masked as a replay after the
    erasure would have written them (so a rebuild ends the same, and `as_of` folds masked facts)."""
    tl = board_timeline.c
    rows = await conn.execute(
        select(tl.event_id, tl.event_type, tl.producer, tl.payload).where(
            tl.ticket_id == ticket_id, tl.event_type.in_(PERSONAL_TYPES)
        )
    )
    for row in rows.all():
        masked = mask_event(REGISTRY[row.event_type].model_validate(row.payload))
        entry = describe(masked, row.producer)
        await conn.execute(
            update(board_timeline)
            .where(tl.event_id == row.event_id)
            .values(actor=entry.actor, summary=entry.summary, payload=masked.model_dump(mode="json"))
        )
