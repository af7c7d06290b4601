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
from sqlalchemy import Text, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_events.personal import ERASED_MARKER, KEYS_TOPIC
from supportdesk_events.timers import first_of
from supportdesk_events.web import ServiceRuntime

from ..adapters.tables import requesters
from ..settings import Settings

log = logging.getLogger(__name__)

BATCH = 200
IDLE_POLL_SECONDS = 0.5  # a missed NOTIFY (a relay reconnecting): well within the keyring wait
WAKE_LINGER_SECONDS = 0.005


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
        # = ANY(array): one statement text whatever the batch size (IN (...) prepares one per size).
        published = r.c.requester_id == any_(bindparam("ids", ids, type_=ARRAY(Text)))
        await conn.execute(update(r).where(published).values(key_published=True))
    return len(rows)


async def run_key_publisher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Publish keys as soon as the commits that create them (or erase them) are notified.

    Every such commit also records an event (TicketOpened, RequesterErased), so the relay's NOTIFY
    wakes us: the key is on its way within milliseconds of the event, and a consumer rarely has
    to wait for it (the keyring waits a moment when it does). A commit from another process
    without an event, or one whose notification was missed, is caught by the idle poll."""
    settings = runtime.settings
    commits = runtime.relay.commits
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    try:
        await producer.start()  # inside: a broker that is down fails the start, and the stop still runs
        while not stop.is_set():
            commits.clear()
            if await publish_pending(runtime.engine, producer, settings.topic_prefix + KEYS_TOPIC) < BATCH:
                await first_of(IDLE_POLL_SECONDS, stop, commits)
                if commits.is_set():
                    # Commits arriving together go out as one batch, as the relay's do.
                    await first_of(WAKE_LINGER_SECONDS, stop)
    finally:
        await producer.stop()
