"""The log's and the consumer groups' offsets, as a rebuild reads them, and the deletion of its group."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest

from supportdesk_messaging.kafka_security import kafka_client_options

log = logging.getLogger(__name__)


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])


async def log_bounds(
    bootstrap: str, partitions: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Beginning and end offsets of each partition, now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(partitions))
        return dict(await consumer.beginning_offsets(list(partitions))), dict(
            await consumer.end_offsets(list(partitions))
        )
    finally:
        await consumer.stop()


async def group_offsets(bootstrap: str, group: str, *, patience: float = 30.0) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets (absent: nothing committed). A broker still electing
    the group's coordinator (a fresh cluster, a restart) is waited for, up to `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
        try:
            await admin.start()
            committed = await admin.list_consumer_group_offsets(group)
            return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        except KafkaError as e:
            if not e.retriable or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def delete_group(bootstrap: str, group: str) -> None:
    """Delete the rebuild's own (empty) group. aiokafka 0.14's admin client has no call for it, so
    its protocol's DeleteGroupsRequest goes to the group's coordinator; if that fails the group
    only lingers, empty, until the broker expires it (offsets.retention.minutes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    await admin.start()
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
        errors = [code for _, code in response.results if code]
        if errors:
            log.warning("deleting the rebuild's consumer group %s: error code %s", group, errors[0])
    except Exception as e:
        log.warning("could not delete the rebuild's consumer group %s: %s", group, e)
    finally:
        await admin.close()
