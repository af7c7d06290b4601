"""Recording events (the outbox): a service records events with `record()` inside the transaction
that changes its read model; the relay (`relay.OutboxRelay`) publishes them to Kafka in order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, Integer, Text, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.db import OUTBOX_CHANNEL
from supportdesk_observability import tracing

# All of one call's events in ONE round trip: a multi-row INSERT from arrays (the text is the same
# whatever the count, so asyncpg prepares it once per connection), ON CONFLICT dropping re-derived
# ids (also a repeat within the call), and the relay's wake-up folded into the same statement.
# pg_notify runs once per new row, but PostgreSQL delivers identical notifications of one
# transaction once, at commit; a rolled-back savepoint takes its notifications with it, like its rows.
# Rows are inserted in `ordinality` order, so `position` (the relay's publishing order) follows the
# order of `envelopes`.
_RECORD_SQL = """
WITH {ctes}new AS (
    INSERT INTO events (event_id, topic, ticket_id, stream_version, event_type, occurred_at, envelope, trace_context)
    SELECT r.event_id, r.topic, r.ticket_id, r.stream_version, r.event_type, r.occurred_at, r.envelope::jsonb,
           r.trace_context::jsonb
    FROM unnest(:event_ids, :topics, :ticket_ids, :stream_versions, :event_types, :occurred_ats, :envelopes,
                :trace_contexts)
        WITH ORDINALITY AS r(event_id, topic, ticket_id, stream_version, event_type, occurred_at, envelope,
                             trace_context, n)
    {where}
    ORDER BY r.n
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
SELECT new.event_id, pg_notify('{channel}', '') FROM new
"""


@dataclass(frozen=True)
class Along:
    """What rides in `record`'s one statement (a round trip less): `ctes`, SQL of `name AS (...)`
    items, comma-separated (e.g. the read model's INSERT), bound by `params` (named so as not to
    clash; typed by CASTs), and `condition`, without which nothing is recorded (e.g. that a row a
    CTE locked is still as the caller read it). The CTEs run whatever the condition says: guard
    their writes with it too."""

    ctes: str
    condition: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@functools.cache
def _record_statement(ctes: str = "", condition: str = "") -> TextClause:
    """Built once per shape (asyncpg then prepares it once per connection)."""
    sql = _RECORD_SQL.format(
        ctes=f"{ctes},\n" if ctes else "",
        where=f"WHERE {condition}" if condition else "",
        channel=OUTBOX_CHANNEL,
    )
    return text(sql).bindparams(
        bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True))),
        bindparam("topics", type_=ARRAY(Text)),
        bindparam("ticket_ids", type_=ARRAY(Text)),
        bindparam("stream_versions", type_=ARRAY(Integer)),
        bindparam("event_types", type_=ARRAY(Text)),
        bindparam("occurred_ats", type_=ARRAY(DateTime(timezone=True))),
        bindparam("envelopes", type_=ARRAY(Text)),
        bindparam("trace_contexts", type_=ARRAY(Text)),
    )


async def record(
    conn: AsyncConnection,
    envelopes: Sequence[Envelope[Any]],
    *,
    stream_version: int | None = None,
    trace_contexts: Sequence[str | None] | None = None,
    along: Along | None = None,
) -> list[Envelope[Any]]:
    """Append events to the service's event table; return those that were new.

    With `stream_version` (the version the caller read the ticket at) the events get the next
    versions and a concurrent writer of the same ticket fails on the unique index instead of
    interleaving. Events whose id is already recorded (a re-derived event) are dropped.
    `trace_contexts` (one per envelope, from `stored_trace_context()`) is for events queued under
    one span and recorded later under another; by default every event gets the current span's.
    `along`: further writes in the same statement, and a condition for recording anything.
    """
    if not envelopes:
        return []
    if trace_contexts is None:
        trace_contexts = [stored_trace_context()] * len(envelopes)
    params = {
        "event_ids": [env.event_id for env in envelopes],
        "topics": [env.topic for env in envelopes],
        "ticket_ids": [env.ticket_id for env in envelopes],
        "stream_versions": [None if stream_version is None else stream_version + i + 1 for i in range(len(envelopes))],
        "event_types": [env.event_type for env in envelopes],
        "occurred_ats": [env.occurred_at for env in envelopes],
        # pydantic's own encoder, once per event; PostgreSQL parses it into the jsonb column.
        "envelopes": [env.model_dump_json() for env in envelopes],
        # The recording span's context (SQL NULL while tracing is off), for the relay's Kafka headers.
        "trace_contexts": list(trace_contexts),
    }
    statement = _record_statement()
    if along is not None:
        statement = _record_statement(along.ctes, along.condition)
        params.update(along.params)
    new = set((await conn.execute(statement, params)).scalars())
    recorded: list[Envelope[Any]] = []
    for env in envelopes:
        if env.event_id in new:
            new.discard(env.event_id)  # a repeat within the call was dropped by ON CONFLICT
            recorded.append(env)
    return recorded


def stored_trace_context() -> str | None:
    """The current span's context as the outbox stores it (None while tracing is off)."""
    context = tracing.capture()
    return None if context is None else json.dumps(context)
