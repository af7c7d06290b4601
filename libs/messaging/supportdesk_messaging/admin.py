"""Creating the topics: infinite retention, because the event log is the history, and a message
size limit that matches what our producers send (topics.MAX_MESSAGE_BYTES)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from supportdesk_contract.topics import MAX_MESSAGE_BYTES, all_topics, dead_letter_topic
from supportdesk_messaging.kafka_security import kafka_client_options
from supportdesk_messaging.personal import KEYS_TOPIC, KEYS_TOPIC_CONFIG

# Per topic, keyed by ticket id: a consumer group runs at most this many busy replicas.
DEFAULT_PARTITIONS = 12
_ALREADY_EXISTS = 36  # Kafka's TOPIC_ALREADY_EXISTS: another process was first
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)}


async def ensure_topics(
    bootstrap_servers: str,
    prefix: str = "",
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    extra_consumers: tuple[str, ...] = (),
) -> list[str]:
    """Create any missing topic (and dead-letter topics for `extra_consumers`); return those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **kafka_client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [prefix + t for t in all_topics()] + [prefix + dead_letter_topic(c) for c in extra_consumers]
        # Requesters' data keys: compacted, not kept forever (supportdesk_messaging.personal).
        configs = {t: TOPIC_CONFIG for t in wanted} | {prefix + KEYS_TOPIC: KEYS_TOPIC_CONFIG}
        missing = [t for t in configs if t not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(t, partitions, replication_factor, topic_configs=configs[t]) for t in missing]
            )
            # aiokafka reports per-topic errors in the response instead of raising them.
            failed = [(t, code, why) for t, code, why in response.topic_errors if code not in (0, _ALREADY_EXISTS)]
            if failed:
                raise RuntimeError(f"could not create topics: {failed}")
        return missing
    finally:
        await admin.close()
