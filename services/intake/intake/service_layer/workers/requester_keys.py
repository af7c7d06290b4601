"""Publishing requesters' data keys (and erasures) to the compacted keys topic.

Each requester row says what the topic must hold for it: its key, or the erased marker once its
key is destroyed. Rows not yet published are marked and sent with acks=all in one transaction,
which commits the mark once the broker has them, under a row lock (FOR NO KEY UPDATE SKIP LOCKED):
an erasure (FOR UPDATE on the same row) waits for a key being sent and is then sent after it, so a
stale key can never land last.
Tickets being opened for the requester (FOR KEY SHARE) do not wait for it.
Replicas share the work (the lock); sending one twice is harmless (compaction keeps the last)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_messaging.personal import ERASED_MARKER, KEYS_TOPIC
from supportdesk_messaging.timers import first_of
from supportdesk_service.runtime import ServiceRuntime

from ...adapters import requesters
from ...settings import Settings

log = logging.getLogger(__name__)

BATCH = 200
IDLE_POLL_SECONDS = 0.5  # a missed NOTIFY (a relay reconnecting): well within the keyring wait
WAKE_LINGER_SECONDS = 0.005
PRODUCER_WAIT_SECONDS = 0.05  # the relay's producer starting (or renewed): soon there


async def publish_pending(engine: AsyncEngine, producer: AIOKafkaProducer, topic: str) -> int:
    """Publish up to BATCH unpublished rows; how many were."""
    async with engine.begin() as conn:
        claimed = await requesters.claim_unpublished(conn, BATCH)
        if not claimed:
            return 0
        sent: list[asyncio.Future[Any]] = []
        for requester in claimed:
            value = requester.data_key.encode() if requester.data_key else ERASED_MARKER
            sent.append(await producer.send(topic, key=requester.requester_id.encode(), value=value))
        await asyncio.gather(*sent)  # before the commit: an erasure waits on the rows until then
    return len(claimed)


async def run_key_publisher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Publish keys as soon as the commits that create them (or erase them) are notified.

    Every such commit also records an event (TicketOpened, RequesterErased), so the relay's NOTIFY
    wakes us: the key is on its way within milliseconds of the event, and a consumer rarely has
    to wait for it (the keyring waits a moment when it does). A commit from another process
    without an event, or one whose notification was missed, is caught by the idle poll.

    The keys go through the relay's producer (idempotent, acks=all): woken by the same NOTIFY, a
    key and its event usually share one produce request. While the relay has none (starting, or
    renewing it), we wait."""
    settings = runtime.settings
    relay = runtime.relay
    commits = relay.commits
    topic = settings.topic_prefix + KEYS_TOPIC
    while not stop.is_set():
        producer = relay.producer
        if producer is None:
            await first_of(PRODUCER_WAIT_SECONDS, stop)
            continue
        commits.clear()
        try:
            published = await publish_pending(runtime.engine, producer, topic)
        except KafkaError as e:  # e.g. the relay renewed its producer mid-send: rolled back, retried
            log.warning("requester keys not published; retrying: %s", e)
            await first_of(1.0, stop)
            continue
        if published < BATCH:
            await first_of(IDLE_POLL_SECONDS, stop, commits)
            if commits.is_set():
                # Commits arriving together go out as one batch, as the relay's do.
                await first_of(WAKE_LINGER_SECONDS, stop)
