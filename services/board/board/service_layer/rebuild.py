"""Rebuilding the board from the Kafka log: the board holds nothing the log does not, so its
database can be dropped and re-made. Run with the board stopped: `board rebuild`, then serve."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supportdesk_events.db import drop_database
from supportdesk_events.migrations import migrate
from supportdesk_events.topics import Topic

from ..settings import Settings

SERVICE = "board"


async def forget_offsets(settings: Settings) -> None:
    """Move the board's consumer group back to the start of every topic it reads, so the next
    start re-reads the whole log (aiokafka's admin client cannot delete a group)."""
    names = [settings.topic_prefix + topic.value for topic in Topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.topic_prefix + SERVICE,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        beginning = await consumer.beginning_offsets(partitions)
        await consumer.commit(dict(beginning))
    finally:
        await consumer.stop()


def rebuild(settings: Settings) -> None:
    asyncio.run(forget_offsets(settings))
    asyncio.run(drop_database(settings.database_url, settings.database_name))
    migrate(settings, "board:migrations")
