"""Creating the topics: infinite retention, because the event log is the history, and a message
size limit that matches what our producers send (topics.MAX_MESSAGE_BYTES)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from .topics import MAX_MESSAGE_BYTES, all_topics, dead_letter_topic

# Per topic, keyed by ticket id: a consumer group runs at most this many busy replicas.
DEFAULT_PARTITIONS = 12
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)}


async def ensure_topics(
    bootstrap_servers: str,
    prefix: str = "",
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    extra_consumers: tuple[str, ...] = (),
) -> list[str]:
    """Create any missing topic (and dead-letter topics for `extra_consumers`); return those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [prefix + t for t in all_topics()] + [prefix + dead_letter_topic(c) for c in extra_consumers]
        missing = [t for t in wanted if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, partitions, replication_factor, topic_configs=TOPIC_CONFIG) for t in missing]
            )
        return missing
    finally:
        await admin.close()
