"""Creating the topics: infinite retention, because the event log is the history."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from .topics import all_topics

TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


async def ensure_topics(bootstrap_servers: str, prefix: str = "", partitions: int = 6,
                        replication_factor: int = 1) -> list[str]:
    """Create any missing topic; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [prefix + t for t in all_topics()]
        missing = [t for t in wanted if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, partitions, replication_factor, topic_configs=TOPIC_CONFIG) for t in missing]
            )
        return missing
    finally:
        await admin.close()
