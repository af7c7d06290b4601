"""The board's reads, the queries the service layer's views run: the filtered, sorted,
keyset-paginated list; one ticket with its timeline; the summary; and the changes the live stream
sends. Pagination is by cursor (the last row's sort key), never OFFSET: a page costs the same
however deep it is."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Integer, Row, Text, and_, func, literal, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ..domain.ticket_filter import BadCursor, Sort, TicketFilter
from .projection_store import ENGLISH
from .tables import (
    DUE_KEY,
    OPENED_KEY,
    board_attainment,
    board_changes,
    board_open_counts,
    board_tickets,
    board_timeline,
)

t = board_tickets
# What a list row and the stream show: everything but the fold's internal state and the index.
ROW_COLUMNS = [c for c in t.c if c.name not in ("state", "search")]
SLA_TARGET_CLOCKS = ("first_response", "resolution")


@dataclass(frozen=True)
class _Key:
    expr: ColumnElement[Any]
    source: str  # the row's column holding the value a cursor carries
    kind: str  # ts | int | text
    missing: str | None = None  # what a null sorts as ('infinity' / '-infinity')


_SORTS: dict[Sort, tuple[bool, tuple[_Key, ...]]] = {  # (descending, keys)
    Sort.NEXT_DUE: (False, (_Key(DUE_KEY, "next_due_at", "ts", "infinity"), _Key(t.c.ticket_id, "ticket_id", "text"))),
    Sort.UPDATED: (True, (_Key(t.c.updated_at, "updated_at", "ts"), _Key(t.c.ticket_id, "ticket_id", "text"))),
    Sort.OPENED: (True, (_Key(OPENED_KEY, "opened_at", "ts", "-infinity"), _Key(t.c.ticket_id, "ticket_id", "text"))),
    Sort.PRIORITY: (
        False,
        (
            _Key(t.c.priority_rank, "priority_rank", "int"),
            _Key(DUE_KEY, "next_due_at", "ts", "infinity"),
            _Key(t.c.ticket_id, "ticket_id", "text"),
        ),
    ),
}


def conditions(flt: TicketFilter, now: datetime) -> list[ColumnElement[bool]]:
    """The filter as the list's and the stream's WHERE (every condition must hold)."""
    where: list[ColumnElement[bool]] = []
    for column, values in (
        (t.c.status, flt.status),
        (t.c.queue, flt.queue),
        (t.c.priority, flt.priority),
        (t.c.customer_id, flt.customer),
        (t.c.channel, flt.channel),
        (t.c.escalation_level, flt.escalation_level),
        (t.c.assignee, flt.assignee),
        (t.c.team, flt.team),
    ):
        if values:
            where.append(column.in_(list(values)))
    for column, flag in ((t.c.swat, flt.swat), (t.c.breached, flt.breached), (t.c.is_open, flt.is_open)):
        if flag is not None:
            where.append(column.is_(flag))
    if flt.unassigned is not None:
        waiting = t.c.unassigned_since.is_not(None)
        where.append(waiting if flt.unassigned else ~waiting)
    if flt.at_risk_within is not None:
        where += [
            t.c.is_open,
            ~t.c.breached,  # NOT breached, as the partial index says (IS FALSE would not use it)
            t.c.next_due_at <= now + timedelta(seconds=flt.at_risk_within),
        ]
    for column, low, high in (
        (t.c.opened_at, flt.opened_from, flt.opened_to),
        (t.c.updated_at, flt.updated_from, flt.updated_to),
    ):
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column < high)
    if flt.q and flt.q.strip():
        where.append(search_condition(flt.q.strip()))
    return where


TICKET_NUMBER = re.compile(r"^[A-Za-z]+-\d+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def search_condition(q: str) -> ColumnElement[bool]:
    """A ticket number or an address is looked up exactly (its own index); anything else is full
    text. Full-text tokens of "TKT-7" ('tkt', '7') match nearly every ticket, so a number never
    goes through the GIN index."""
    if TICKET_NUMBER.match(q):
        return t.c.number == q.upper()
    if EMAIL.match(q):
        return func.lower(t.c.requester_email) == q.lower()
    return t.c.search.op("@@")(func.websearch_to_tsquery(ENGLISH, literal(q, Text)))


def encode_cursor(sort: Sort, row: Any) -> str:
    _, keys = _SORTS[sort]
    values = []
    for key in keys:
        v = getattr(row, key.source)
        values.append(v.isoformat() if isinstance(v, datetime) else v)
    raw = json.dumps({"s": sort.value, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(sort: Sort, cursor: str) -> list[ColumnElement[Any]]:
    """The bound sort key of the row a cursor points after; BadCursor when it is not ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("s") != sort.value:
            raise BadCursor("the cursor belongs to another sort order")
        _, keys = _SORTS[sort]
        values = data["k"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise BadCursor("the cursor is malformed")
        bound: list[ColumnElement[Any]] = []
        for key, v in zip(keys, values, strict=True):
            if key.kind == "ts":
                instant = datetime.fromisoformat(v) if v is not None else None
                if instant is not None and instant.tzinfo is None:
                    raise BadCursor("the cursor is malformed")
                b: ColumnElement[Any] = literal(instant, DateTime(timezone=True))
                if key.missing:
                    b = func.coalesce(b, literal_column(f"'{key.missing}'::timestamptz"))
            elif key.kind == "int":
                if not isinstance(v, int):
                    raise BadCursor("the cursor is malformed")
                b = literal(v, Integer)
            else:
                if not isinstance(v, str):
                    raise BadCursor("the cursor is malformed")
                b = literal(v, Text)
            bound.append(b)
        return bound
    except BadCursor:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as e:
        raise BadCursor("the cursor is malformed") from e


async def list_tickets(
    conn: AsyncConnection, flt: TicketFilter, sort: Sort, limit: int, cursor: str | None, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    descending, keys = _SORTS[sort]
    where = conditions(flt, now)
    if cursor:
        after = tuple_(*[k.expr for k in keys])
        bound = tuple_(*_decode_cursor(sort, cursor))
        where.append(after < bound if descending else after > bound)
    order = [k.expr.desc() if descending else k.expr.asc() for k in keys]
    rows = (await conn.execute(select(*ROW_COLUMNS).where(and_(True, *where)).order_by(*order).limit(limit + 1))).all()
    page = rows[:limit]
    next_cursor = encode_cursor(sort, page[-1]) if len(rows) > limit else None
    return [dict(r._mapping) for r in page], next_cursor


async def ticket_with_timeline(conn: AsyncConnection, ticket_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(*ROW_COLUMNS).where(t.c.ticket_id == ticket_id))).first()
    if row is None:
        return None
    tl = board_timeline
    entries = (
        await conn.execute(
            select(
                tl.c.event_id, tl.c.event_type, tl.c.topic, tl.c.occurred_at, tl.c.producer, tl.c.actor, tl.c.summary
            )
            .where(tl.c.ticket_id == ticket_id)
            .order_by(tl.c.occurred_at, tl.c.topic, tl.c.topic_seq)
        )
    ).all()
    return {**row._mapping, "timeline": [dict(e._mapping) for e in entries]}


def period_bounds(now: datetime, zone: ZoneInfo) -> dict[str, tuple[datetime, datetime]]:
    """Today and this ISO week (Monday to Monday), local to `zone`, as UTC instants."""
    local = now.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())

    def at(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    return {
        "today": (at(local), at(local + timedelta(days=1))),
        "week": (at(monday), at(monday + timedelta(days=7))),
    }


async def summary(conn: AsyncConnection, now: datetime, zone: ZoneInfo, at_risk_window: int) -> dict[str, Any]:
    c = board_open_counts
    open_counts = (
        await conn.execute(
            select(c.c.queue, c.c.priority, c.c.status, func.sum(c.c.tickets).label("tickets"))
            .group_by(c.c.queue, c.c.priority, c.c.status)
            .order_by(c.c.queue, c.c.priority, c.c.status)
        )
    ).all()
    breached_open = (
        await conn.execute(select(func.coalesce(func.sum(c.c.tickets), 0)).where(c.c.breached))
    ).scalar_one()
    levels = (
        await conn.execute(
            select(c.c.escalation_level, func.sum(c.c.tickets).label("tickets"))
            .where(c.c.escalation_level > 0)
            .group_by(c.c.escalation_level)
            .order_by(c.c.escalation_level)
        )
    ).all()
    # At risk: warned by sla-clock, or due within the window; each half has its own partial index.
    horizon = now + timedelta(seconds=at_risk_window)
    # Written as the partial indexes' predicates (NOT x, not x IS FALSE) so the planner uses them.
    unbreached = and_(t.c.is_open, ~t.c.breached)
    due_soon = (
        await conn.execute(
            select(func.count()).where(
                unbreached, t.c.next_due_at.is_not(None), t.c.next_due_at <= horizon, ~t.c.at_risk
            )
        )
    ).scalar_one()
    warned = (await conn.execute(select(func.count()).where(unbreached, t.c.at_risk))).scalar_one()
    a = board_attainment
    attainment: dict[str, Any] = {}
    for name, (start, end) in period_bounds(now, zone).items():
        # Kept-in-step counts per quarter hour (the projection's), not a join of every outcome.
        rows = (
            await conn.execute(
                select(
                    a.c.plan,
                    a.c.priority,
                    func.sum(a.c.decided).label("decided"),
                    func.sum(a.c.met).label("met"),
                )
                .where(a.c.bucket >= start, a.c.bucket < end, a.c.clock.in_(SLA_TARGET_CLOCKS))
                .group_by(a.c.plan, a.c.priority)
                .having(func.sum(a.c.decided) > 0)
                .order_by(a.c.plan, a.c.priority)
            )
        ).all()
        attainment[name] = {
            "from": start,
            "to": end,
            "rows": [
                {
                    "plan": r.plan or None,
                    "priority": r.priority or None,
                    "decided": int(r.decided),
                    "met": int(r.met),
                    "met_percent": round(100.0 * r.met / r.decided, 1) if r.decided else None,
                }
                for r in rows
            ],
        }
    return {
        "as_of": now,
        "open": [
            {"queue": r.queue or None, "priority": r.priority or None, "status": r.status, "tickets": int(r.tickets)}
            for r in open_counts
        ],
        "at_risk": due_soon + warned,
        "at_risk_window_seconds": at_risk_window,
        "breached_open": int(breached_open),
        "escalations_by_level": [{"level": r.escalation_level, "tickets": int(r.tickets)} for r in levels],
        "attainment": attainment,
    }


async def holds(conn: AsyncConnection, agent: str | None = None, *, team: str | None = None) -> bool:
    """Whether an open ticket is held by the agent (or is the team's), by the open rows' indexes."""
    where = [t.c.is_open, t.c.assignee == agent] if agent is not None else [t.c.is_open, t.c.team == team]
    return (await conn.execute(select(t.c.ticket_id).where(*where).limit(1))).first() is not None


async def held_counts(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """Per agent holding open tickets: assignee, open, at_risk, breached (as the rows say them)."""
    query = (
        select(
            t.c.assignee,
            func.count().label("open"),
            func.count().filter(t.c.at_risk).label("at_risk"),
            func.count().filter(t.c.breached).label("breached"),
        )
        .where(t.c.is_open, t.c.assignee.is_not(None))
        .group_by(t.c.assignee)
    )
    return (await conn.execute(query)).all()


async def unassigned_counts(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """Per team (None: no team) of open tickets nobody holds: team, tickets, oldest (unassigned since)."""
    query = (
        select(t.c.team, func.count().label("tickets"), func.min(t.c.unassigned_since).label("oldest"))
        .where(t.c.is_open, t.c.unassigned_since.is_not(None))
        .group_by(t.c.team)
    )
    return (await conn.execute(query)).all()


async def latest_change(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(board_changes.c.seq), 0)))).scalar_one())


async def changes_after(
    conn: AsyncConnection, after: int, flt: TicketFilter, now: datetime, window: int = 1000
) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Tickets changed after change `after` (each once, at its latest change, in change order) that
    match the filter, and the change id read up to. Bounded: at most `window` changes at a time."""
    c = board_changes
    # The next `window` ids, by the index, however far apart (rolled-back ids leave gaps).
    next_ids = select(c.c.seq).where(c.c.seq > after).order_by(c.c.seq).limit(window).subquery()
    upto = int((await conn.execute(select(func.coalesce(func.max(next_ids.c.seq), after)))).scalar_one())
    if upto == after:
        return [], after
    latest = (
        select(c.c.ticket_id, func.max(c.c.seq).label("seq"))
        .where(c.c.seq > after, c.c.seq <= upto)
        .group_by(c.c.ticket_id)
        .subquery()
    )
    rows = (
        await conn.execute(
            select(latest.c.seq, *ROW_COLUMNS)
            .select_from(latest.join(t, t.c.ticket_id == latest.c.ticket_id))
            .where(and_(True, *conditions(flt, now)))
            .order_by(latest.c.seq)
        )
    ).all()
    out = []
    for r in rows:
        data = dict(r._mapping)
        seq = int(data.pop("seq"))
        out.append((seq, data))
    return out, upto
