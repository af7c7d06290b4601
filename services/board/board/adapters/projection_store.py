"""Where the projection's fold (`service_layer.projection.Fold`) keeps the board: the tickets'
rows read and locked for a batch, the batch's writes as one statement, SLA outcomes and their
attainment tallies, and the timeline lines an erasure masks. The fold decides what to write; this
module only knows how.

The batch's writes go to PostgreSQL as one statement (`write_batch`): timeline lines, ticket rows
(each written once, however many of its events came), the net change of the open counts and the
change sequence, each a JSON array unpacked in a data-modifying CTE (emptied count rows are deleted
by a second statement, which must see the upsert)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Text, bindparam, cast, delete, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement, TextClause

from .tables import board_attainment, board_open_counts, board_sla_outcomes, board_tickets, board_timeline

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

BUCKET_SECONDS = 900  # board_attainment's quarter hours, from the epoch (as date_bin from 2000-01-01)


def bucket_of(instant: datetime) -> datetime:
    epoch = int(instant.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_SECONDS, UTC)


async def tally(
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


async def decided_outcomes(conn: AsyncConnection, ticket_id: str) -> Sequence[Row[str, bool, datetime]]:
    """The ticket's decided clocks: (clock, met, decided_at)."""
    o = board_sla_outcomes
    return (await conn.execute(select(o.c.clock, o.c.met, o.c.decided_at).where(o.c.ticket_id == ticket_id))).all()


def _outcome_key(ticket_id: str, clock: str, cycle: int) -> tuple[ColumnElement[bool], ...]:
    o = board_sla_outcomes
    return (o.c.ticket_id == ticket_id, o.c.clock == clock, o.c.cycle == cycle)


async def outcome_for_update(
    conn: AsyncConnection, ticket_id: str, clock: str, cycle: int
) -> Row[bool, datetime] | None:
    """A clock cycle's outcome decided earlier (met, decided_at), locked; None if none was."""
    o = board_sla_outcomes
    key = _outcome_key(ticket_id, clock, cycle)
    return (await conn.execute(select(o.c.met, o.c.decided_at).where(*key).with_for_update())).first()


async def insert_outcome(
    conn: AsyncConnection, ticket_id: str, clock: str, cycle: int, met: bool, decided_at: datetime
) -> None:
    await conn.execute(
        insert(board_sla_outcomes).values(ticket_id=ticket_id, clock=clock, cycle=cycle, met=met, decided_at=decided_at)
    )


async def mark_breached(conn: AsyncConnection, ticket_id: str, clock: str, cycle: int) -> None:
    await conn.execute(update(board_sla_outcomes).where(*_outcome_key(ticket_id, clock, cycle)).values(met=False))


# What the search vector is made of (`search_texts`): loaded with the row, so that a batch that
# leaves them as they were does not make PostgreSQL stem the words again.
SEARCHED = [
    board_tickets.c[name] for name in ("number", "requester_email", "requester_phone", "subject", "description_excerpt")
]
# The columns a loaded ticket keeps as the table has them (`load_tickets`' rows but the state).
KEPT = tuple(c.name for c in (*COUNTED, *SEARCHED))
# The state comes as its JSON text, parsed and validated by pydantic in one pass (a third of the
# time of the driver's json.loads and then validating the dicts).
_LOAD = (
    select(board_tickets.c.ticket_id, cast(board_tickets.c.state, Text).label("state"), *COUNTED, *SEARCHED)
    .where(board_tickets.c.ticket_id == func.any(bindparam("ticket_ids", type_=ARRAY(Text))))
    .order_by(board_tickets.c.ticket_id)  # locked in ticket order: two folds sharing tickets never deadlock
    .with_for_update()
)


async def load_tickets(conn: AsyncConnection, ticket_ids: list[str]) -> Iterable[Row[Any]]:
    """The rows of these tickets that exist, locked: ticket_id, the state's JSON text, then `KEPT`."""
    return await conn.execute(_LOAD, {"ticket_ids": ticket_ids})


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

# Each part of the write: its SQL and its parameter (a JSON array of rows), in the order they run.
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


async def insert_timeline(conn: AsyncConnection, lines: list[bytes]) -> None:
    """Timeline lines (each its JSON object) inserted now, ahead of the batch's write."""
    await conn.execute(_TIMELINE, {"timeline": _json_array(lines)})


async def write_batch(conn: AsyncConnection, rows: dict[str, list[bytes]], emptied: list[CountKey]) -> None:
    """A batch's rows (by part: calendars, timeline, searched and unsearched ticket rows, counts,
    changed; each row its JSON object) in one statement, then the count rows that emptied deleted."""
    if rows:
        parts = tuple(p for p in _PARTS if p in rows)
        await conn.execute(_write_of(parts), {p: _json_array(rows[p]) for p in parts})
    if emptied:
        await conn.execute(_UNCOUNT, [{f"b_{k}": v for k, v in zip(COUNT_NAMES, key, strict=True)} for key in emptied])


async def timeline_lines_of_types(
    conn: AsyncConnection, ticket_id: str, event_types: list[str]
) -> Sequence[Row[uuid.UUID, str, str, Any]]:
    """The ticket's timeline lines of these event types: event_id, event_type, producer, payload."""
    tl = board_timeline.c
    rows = await conn.execute(
        select(tl.event_id, tl.event_type, tl.producer, tl.payload).where(
            tl.ticket_id == ticket_id, tl.event_type.in_(event_types)
        )
    )
    return rows.all()


async def rewrite_timeline_line(
    conn: AsyncConnection, event_id: Any, actor: str, summary: str, payload: dict[str, Any]
) -> None:
    await conn.execute(
        update(board_timeline)
        .where(board_timeline.c.event_id == event_id)
        .values(actor=actor, summary=summary, payload=payload)
    )
