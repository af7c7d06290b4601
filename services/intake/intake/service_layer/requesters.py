"""Publishing requesters' data keys (and erasures) to the compacted keys topic.

Each requester row says what the topic must hold for it: its key, or the erased marker once its
key is destroyed. Rows not yet published are sent with acks=all and then marked, under a row lock
(FOR NO KEY UPDATE SKIP LOCKED) held until the broker has them: an erasure (FOR UPDATE on the same
row) waits for a key being sent and is then sent after it, so a stale key can never land last.
Tickets being opened for the requester (FOR KEY SHARE) do not wait for it.
Replicas share the work (the lock); sending one twice is harmless (compaction keeps the last)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_events.personal import ERASED_MARKER, KEYS_TOPIC
from supportdesk_events.timers import pause
from supportdesk_events.web import ServiceRuntime

from ..adapters.tables import requesters
from ..settings import Settings

log = logging.getLogger(__name__)

BATCH = 200


async def publish_pending(engine: AsyncEngine, producer: AIOKafkaProducer, topic: str) -> int:
    """Publish up to BATCH unpublished rows; how many were."""
    r = requesters
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(r.c.requester_id, r.c.data_key)
                .where(r.c.key_published.is_(False))
                .limit(BATCH)
                .with_for_update(skip_locked=True, key_share=True)  # FOR NO KEY UPDATE
            )
        ).all()
        if not rows:
            return 0
        sent: list[asyncio.Future[Any]] = []
        for row in rows:
            value = row.data_key.encode() if row.data_key else ERASED_MARKER
            sent.append(await producer.send(topic, key=row.requester_id.encode(), value=value))
        await asyncio.gather(*sent)
        ids = [row.requester_id for row in rows]
        await conn.execute(update(r).where(r.c.requester_id.in_(ids)).values(key_published=True))
    return len(rows)


async def run_key_publisher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    settings = runtime.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    try:
        await producer.start()  # inside: a broker that is down fails the start, and the stop still runs
        while not stop.is_set():
            if await publish_pending(runtime.engine, producer, settings.topic_prefix + KEYS_TOPIC) == 0:
                await pause(stop, 0.2)
    finally:
        await producer.stop()
