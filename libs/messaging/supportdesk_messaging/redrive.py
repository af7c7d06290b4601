"""Dead letters an operator can work with: list them, show one, and redrive them after a fix.

The consumer keeps every message it could not apply in its database's `dead_letters` table (whole:
key, value, headers, the reason, and the source topic/partition/offset) beside the copy it sends to
`deadletter.<service>`. A redrive takes a row and puts its message through the consumer's own apply
path (`EventConsumer.apply_one`: the inbox insert, then the service's handler) in one transaction
that also marks the row redriven. So a message is applied at most once whatever happens: a row
already redriven is skipped (the row lock serialises two operators), and an event the consumer has
applied since (re-delivered after a fix) is a `duplicate` by the inbox. A handler that still fails
is rolled back to its savepoint and its error kept on the row (`redrive_attempts`,
`last_redrive_error`); the row stays pending.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import MetaData, Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.clock import Clock
from supportdesk_contract.envelope import Envelope, UndeliverableEvent, decode
from supportdesk_messaging.db import dead_letter_table
from supportdesk_messaging.dead_letters import failure_reason
from supportdesk_observability import metrics
from supportdesk_observability.logs import event_context

# The table's shape, bound to no service's metadata: every service's tables.py declares the same one.
DEAD_LETTERS = dead_letter_table(MetaData())

Outcome = Literal["applied", "duplicate", "ignored", "already_redriven", "failed"]
# Applies one event inside the given transaction; False when the inbox has already seen it.
ApplyOne = Callable[[AsyncConnection, Envelope[Any]], Awaitable[bool]]


def storable(value: str) -> str:
    """Text PostgreSQL can store: reasons quote hostile input (NUL, lone surrogates)."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _header(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return storable(bytes(value).decode("utf-8", "replace"))
    return None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Failure:
    """A message the consumer could not apply, and why (what `keep` stores)."""

    msg: Any  # aiokafka ConsumerRecord
    reason: str
    reason_class: str
    env: Envelope[Any] | None = None  # when it could be decoded


async def keep(conn: AsyncConnection, *, consumer: str, failures: Sequence[Failure], now: datetime) -> int:
    """Store the failures (a re-delivered one is the same row); the number of new rows."""
    if not failures:
        return 0
    rows = []
    for f in failures:
        headers = [(k, v) for k, v in (f.msg.headers or ())]
        key: bytes | None = f.msg.key
        rows.append(
            {
                "consumer": consumer,
                "source_topic": f.msg.topic,
                "source_partition": f.msg.partition,
                "source_offset": f.msg.offset,
                "source_timestamp_ms": f.msg.timestamp,
                "event_id": f.env.event_id if f.env is not None else _uuid(_header(headers, "event_id")),
                "event_type": f.env.event_type if f.env is not None else _header(headers, "event_type"),
                "ticket_id": (
                    f.env.ticket_id
                    if f.env is not None
                    else (storable(key.decode("utf-8", "replace")) if key is not None else None)
                ),
                "reason_class": storable(f.reason_class),
                "reason": storable(f.reason),
                "key": key,
                "value": f.msg.value,
                "headers": [[storable(k), base64.b64encode(v or b"").decode()] for k, v in headers],
                "dead_lettered_at": now,
            }
        )
    stmt = insert(DEAD_LETTERS).values(rows).on_conflict_do_nothing(constraint="dead_letters_source")
    result = await conn.execute(stmt.returning(DEAD_LETTERS.c.id))
    return len(result.all())


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which dead letters: by id, or by filters (all given must match); `pending` = not redriven."""

    ids: tuple[int, ...] = ()
    reason: str | None = None  # the reason class, or a piece of the reason's text
    event_type: str | None = None
    topic: str | None = None
    ticket_id: str | None = None
    pending: bool | None = None  # None: both

    def where(self, query: Select[Any]) -> Select[Any]:
        t = DEAD_LETTERS.c
        if self.ids:
            query = query.where(t.id.in_(self.ids))
        if self.reason is not None:
            query = query.where((t.reason_class == self.reason) | t.reason.icontains(self.reason, autoescape=True))
        if self.event_type is not None:
            query = query.where(t.event_type == self.event_type)
        if self.topic is not None:
            # The name without the deployment's prefix matches too.
            query = query.where((t.source_topic == self.topic) | t.source_topic.endswith(self.topic, autoescape=True))
        if self.ticket_id is not None:
            query = query.where(t.ticket_id == self.ticket_id)
        if self.pending is True:
            query = query.where(t.redriven_at.is_(None))
        elif self.pending is False:
            query = query.where(t.redriven_at.is_not(None))
        return query

    @property
    def empty(self) -> bool:
        return not self.ids and all(
            v is None for v in (self.reason, self.event_type, self.topic, self.ticket_id, self.pending)
        )


def summary(row: Any, now: datetime) -> dict[str, Any]:
    """A dead letter as `list` shows it (JSON-ready)."""
    return {
        "id": row.id,
        "consumer": row.consumer,
        "source": {"topic": row.source_topic, "partition": row.source_partition, "offset": row.source_offset},
        "event_type": row.event_type,
        "event_id": str(row.event_id) if row.event_id is not None else None,
        "ticket_id": row.ticket_id,
        "reason_class": row.reason_class,
        "reason": row.reason,
        "dead_lettered_at": row.dead_lettered_at.isoformat(),
        "age_seconds": round((now - row.dead_lettered_at).total_seconds(), 3),
        "redriven_at": row.redriven_at.isoformat() if row.redriven_at is not None else None,
        "redriven_by": row.redriven_by,
        "redrive_outcome": row.redrive_outcome,
        "redrive_attempts": row.redrive_attempts,
        "last_redrive_error": row.last_redrive_error,
    }


def detail(row: Any, now: datetime) -> dict[str, Any]:
    """A dead letter as `show` shows it: the summary, the raw message and its headers."""
    headers = [(name, base64.b64decode(value)) for name, value in row.headers]
    value: bytes | None = row.value
    text_value: str | None = None
    if value is not None:
        try:
            text_value = value.decode("utf-8")
        except UnicodeDecodeError:
            text_value = None
    return summary(row, now) | {
        "source_timestamp_ms": row.source_timestamp_ms,
        "key": row.key.decode("utf-8", "replace") if row.key is not None else None,
        "headers": [{"name": n, "value": v.decode("utf-8", "replace")} for n, v in headers],
        "value_bytes": len(value) if value is not None else 0,
        # The message as it came: text when it is UTF-8, else base64.
        "value": text_value,
        "value_base64": base64.b64encode(value).decode() if value is not None and text_value is None else None,
    }


async def list_dead_letters(
    engine: AsyncEngine, selection: Selection, *, now: datetime, limit: int = 100
) -> list[dict[str, Any]]:
    """Oldest first."""
    async with engine.connect() as conn:
        query = selection.where(select(DEAD_LETTERS)).order_by(DEAD_LETTERS.c.id).limit(limit)
        return [summary(r, now) for r in await conn.execute(query)]


async def show_dead_letter(engine: AsyncEngine, dead_letter_id: int, *, now: datetime) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(DEAD_LETTERS).where(DEAD_LETTERS.c.id == dead_letter_id))).first()
        return detail(row, now) if row is not None else None


async def pending_count(engine: AsyncEngine, consumer: str) -> int:
    async with engine.connect() as conn:
        query = (
            select(func.count())
            .select_from(DEAD_LETTERS)
            .where(DEAD_LETTERS.c.consumer == consumer, DEAD_LETTERS.c.redriven_at.is_(None))
        )
        return int((await conn.execute(query)).scalar_one())


async def refresh_pending_gauge(engine: AsyncEngine, consumer: str) -> None:
    metrics.DEAD_LETTERS_PENDING.labels(consumer).set(await pending_count(engine, consumer))


# -- redriving --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redriven:
    id: int
    outcome: Outcome
    event_type: str | None
    ticket_id: str | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "event_type": self.event_type,
            "ticket_id": self.ticket_id,
            "error": self.error,
        }


async def redrive(
    engine: AsyncEngine,
    selection: Selection,
    *,
    consumer: str,
    handled: Callable[[str], bool],
    apply_one: ApplyOne,
    clock: Clock,
    by: str,
    limit: int = 10_000,
) -> list[Redriven]:
    """Redrive the selected dead letters of `consumer` not yet redriven, oldest first, each in its
    own transaction. An id already redriven answers `already_redriven` and changes nothing."""
    if selection.empty:
        raise ValueError("say which dead letters: ids, a filter, or all")
    async with engine.connect() as conn:
        query = selection.where(select(DEAD_LETTERS.c.id).where(DEAD_LETTERS.c.consumer == consumer))
        if not selection.ids:
            query = query.where(DEAD_LETTERS.c.redriven_at.is_(None))  # a filter means the pending ones
        chosen = list((await conn.execute(query.order_by(DEAD_LETTERS.c.id).limit(limit))).scalars())
    results = []
    for dead_letter_id in chosen:
        # An id asked for by name is answered, `already_redriven` if it was.
        results.append(await _redrive_one(engine, dead_letter_id, handled, apply_one, clock, by))
    await refresh_pending_gauge(engine, consumer)
    return results


async def _redrive_one(
    engine: AsyncEngine, dead_letter_id: int, handled: Callable[[str], bool], apply_one: ApplyOne, clock: Clock, by: str
) -> Redriven:
    t = DEAD_LETTERS.c
    async with engine.begin() as conn:
        # The row lock: two operators redriving the same letter wait for each other, then the second
        # finds it redriven.
        row = (await conn.execute(select(DEAD_LETTERS).where(t.id == dead_letter_id).with_for_update())).one()
        if row.redriven_at is not None:
            metrics.DEAD_LETTERS_REDRIVEN.labels(row.consumer, "already_redriven").inc()
            return Redriven(row.id, "already_redriven", row.event_type, row.ticket_id)
        outcome: Outcome
        error: str | None = None
        try:
            env = decode(row.value)
        except UndeliverableEvent as e:
            outcome, error = "failed", f"still cannot be read: {e.reason}"
        else:
            if not handled(env.event_type):
                outcome = "ignored"  # the service no longer handles this type: nothing to apply
            else:
                with event_context(env.ticket_id, env.correlation_id):
                    try:
                        async with conn.begin_nested():
                            outcome = "applied" if await apply_one(conn, env) else "duplicate"
                    except Exception as e:
                        # Whatever the handler did is rolled back with the savepoint; the error is kept.
                        outcome, error = "failed", failure_reason(env.event_type, e)
        if outcome == "failed":
            values: dict[str, Any] = {
                "redrive_attempts": t.redrive_attempts + 1,
                "last_redrive_error": storable(error or "")[:4000],
            }
        else:
            values = {
                "redriven_at": clock.now(),
                "redriven_by": storable(by),
                "redrive_outcome": outcome,
                "redrive_attempts": t.redrive_attempts + 1,
            }
        await conn.execute(update(DEAD_LETTERS).where(t.id == dead_letter_id).values(**values))
    metrics.DEAD_LETTERS_REDRIVEN.labels(row.consumer, outcome).inc()  # committed
    return Redriven(row.id, outcome, row.event_type, row.ticket_id, error)
