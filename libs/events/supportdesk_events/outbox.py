"""Recording events (the outbox) and relaying them to Kafka in order.

A service records events with `record()` inside the transaction that changes its read model.
The `OutboxRelay` publishes unpublished rows in `position` order with an idempotent producer,
woken by LISTEN/NOTIFY. If it crashes between publishing and marking, rows are published again:
delivery is at least once, and every consumer's inbox makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import metrics
from .db import OUTBOX_CHANNEL, asyncpg_dsn, plumbing_tables
from .envelope import Envelope, encode_recorded
from .health import HEALTHY, Health
from .timers import pause

log = logging.getLogger(__name__)

EVENTS, INBOX = plumbing_tables(MetaData())

# One relay per service database publishes; others wait on this lock (order needs one writer).
_RELAY_LOCK_KEY = 0x5D_0B_0C


async def record(
    conn: AsyncConnection, envelopes: Sequence[Envelope[Any]], *, stream_version: int | None = None
) -> list[Envelope[Any]]:
    """Append events to the service's event table; return those that were new.

    With `stream_version` (the version the caller read the ticket at) the events get the next
    versions and a concurrent writer of the same ticket fails on the unique index instead of
    interleaving. Events whose id is already recorded (a re-derived event) are dropped.
    """
    recorded: list[Envelope[Any]] = []
    for i, env in enumerate(envelopes):
        stmt = (
            insert(EVENTS)
            .values(
                event_id=env.event_id,
                topic=env.topic,
                ticket_id=env.ticket_id,
                stream_version=None if stream_version is None else stream_version + i + 1,
                event_type=env.event_type,
                occurred_at=env.occurred_at,
                envelope=env.model_dump(mode="json"),
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(EVENTS.c.position)
        )
        if (await conn.execute(stmt)).first() is not None:
            recorded.append(env)
    if recorded:
        await conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))  # delivered at commit
    return recorded


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        service: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        idle_poll_seconds: float = 2.0,
    ) -> None:
        self.engine = engine
        self.service = service
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=2
        )
        await self.producer.start()
        listener = await asyncpg.connect(asyncpg_dsn(self.engine.url))
        woken = asyncio.Event()
        try:
            await listener.add_listener(OUTBOX_CHANNEL, lambda *_: woken.set())
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                if await pause(stop, self.idle_poll_seconds):
                    return
            log.info("outbox relay active", extra={"service": self.service})
            while not stop.is_set():
                woken.clear()
                try:
                    published = await self.publish_batch()
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    published = 0
                    if await pause(stop, 1.0):
                        return
                if published < self.batch_size:
                    await _first(stop, woken, self.idle_poll_seconds)
        finally:
            await listener.close()
            await self.producer.stop()

    def health(self) -> Health:
        """Whether the relay is publishing (filled in by the liveness work: age, parked rows)."""
        return HEALTHY

    async def publish_batch(self) -> int:
        assert self.producer is not None
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(EVENTS.c.position, EVENTS.c.topic, EVENTS.c.envelope)
                    .where(EVENTS.c.published_at.is_(None))
                    .order_by(EVENTS.c.position)
                    .limit(self.batch_size)
                )
            ).all()
        if not rows:
            return 0
        sends = []
        for row in rows:
            key, value, headers = encode_recorded(row.envelope)
            sends.append(await self.producer.send(self.topic_prefix + row.topic, value=value, key=key, headers=headers))
        await asyncio.gather(*sends)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(EVENTS)
                .where(EVENTS.c.position.in_([r.position for r in rows]))
                .values(published_at=text("now()"))
            )
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)


async def _first(stop: asyncio.Event, woken: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
