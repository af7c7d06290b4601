"""The reader of hops: the lifecycle, triage, sla and assignment topics read back from Kafka, each
hop's instant the record's own timestamp."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox

from .run import HOPS, PARTITIONS, Run


async def watch(space: Sandbox, run: Run, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """Read lifecycle, triage and sla as they are published, from their ends when it starts (sets
    `ready` once it is there: earlier phases' records are not read again). Each hop's instant is the
    record's timestamp (CreateTime: the producing relay's client stamps it when the relay hands it
    the record), so how late this loop reads it does not matter."""
    topics = [space.prefix + t for t in (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA, Topic.ASSIGNMENT)]
    for attempt in range(5):  # a broker starved of CPU (a loaded machine) may miss a bootstrap
        consumer = AIOKafkaConsumer(
            bootstrap_servers=space.servers.bootstrap_servers,
            enable_auto_commit=False,
            # When it reads does not matter (instants are the records' own), so it asks for little:
            # a fetch per quarter second at a trickle, not one per event (its CPU and the broker's).
            fetch_max_wait_ms=250,
            fetch_min_bytes=256 * 1024,
        )
        try:
            await consumer.start()
            break
        except KafkaConnectionError:
            await consumer.stop()
            if attempt == 4:
                raise
            await asyncio.sleep(2)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolves the end offsets now, before any ticket of this phase is sent
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for messages in batch.values():
                for m in messages:
                    env = json.loads(m.value)
                    if env["event_type"] in HOPS:
                        if env["event_type"] == "SlaClockStarted" and env["payload"]["clock"] != "first_response":
                            continue
                        if env["event_type"] == "TicketAssigned" and env["payload"].get("agent") is None:
                            continue  # into the team's pool, not yet to an agent
                        run.seen.setdefault((env["event_type"], env["ticket_id"]), m.timestamp / 1000)
                        run.timestamp_types.add(m.timestamp_type)
    finally:
        await consumer.stop()


async def watching(space: Sandbox, run: Run, stop: asyncio.Event) -> asyncio.Task[None]:
    """`watch` as a task, once it reads from the ends of the topics (or its error, if it failed)."""
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(space, run, stop, ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([watcher, waiting], return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiting.cancel()
        await watcher  # raises what stopped it
    return watcher
