"""What the servers hold, as the judge reads it: which table of each read model holds a ticket,
every message on the desk's topics, and the partitions whose consumer group has not committed up
to the log end."""

from __future__ import annotations

import time
from collections.abc import Sequence

from supportdesk_contract.topics import SERVICE_NAMES, Topic, dead_letter_topic

# Which read model holds a ticket once the service has consumed it: (database table, extra condition).
READ_MODELS: dict[str, tuple[str, str]] = {
    "intake": ("tickets", "true"),
    "triage": ("ticket_triage", "true"),
    "sla-clock": ("clocks", "true"),
    "escalation": ("ticket_escalations", "true"),
    "notifier": ("ticket_contacts", "number <> ''"),
    "board": ("board_tickets", "true"),
}
# Topics each consumer group reads at least (more are picked up from its committed offsets).
SUBSCRIPTIONS: dict[str, tuple[Topic, ...]] = {
    "intake": (Topic.SLA,),
    "triage": (Topic.LIFECYCLE,),
    "sla-clock": (Topic.LIFECYCLE, Topic.TRIAGE),
    "escalation": (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA),
    "notifier": (Topic.LIFECYCLE, Topic.ESCALATION),
}


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[tuple[str, int]]:
    """(topic, partition) for each partition of `topics`, from the broker's metadata."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    out = []
    for t in described:
        name = t.get("topic", t.get("name"))
        for p in t.get("partitions", []):
            out.append((str(name), int(p.get("partition", p.get("partition_index", 0)))))
    return sorted(out)


async def read_log(bootstrap: str, prefix: str) -> dict[str, list[tuple[dict[str, str], bytes | None]]]:
    """Every message on the five topics and the dead-letter topics: (headers, value)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    names = [t.value for t in Topic] + [dead_letter_topic(s) for s in SERVICE_NAMES]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=8 * 1024 * 1024,
    )
    parts = [TopicPartition(t, p) for t, p in await partitions_of(bootstrap, [prefix + n for n in names])]
    await consumer.start()
    out: dict[str, list[tuple[dict[str, str], bytes | None]]] = {n: [] for n in names}
    try:
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        remaining = {tp for tp in parts if ends[tp] > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                name = tp.topic[len(prefix) :]
                for m in msgs:
                    headers = {k: v.decode(errors="replace") for k, v in (m.headers or ())}
                    out[name].append((headers, m.value))
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return out


async def stuck_partitions(bootstrap: str, prefix: str) -> list[str]:
    """Partitions whose consumer group has not committed up to the log end, one line each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    lines: list[str] = []
    try:
        for service in SERVICE_NAMES:
            group = prefix + service
            try:
                committed = await admin.list_consumer_group_offsets(group)
            except KafkaError:  # no such group yet (it never joined): nothing committed
                committed = {}
            subscribed = {prefix + t.value for t in SUBSCRIPTIONS.get(service, ())}
            topics = subscribed | {tp.topic for tp in committed}
            known = await partitions_of(bootstrap, sorted(topics))
            parts = [TopicPartition(t, p) for t, p in known]
            ends = await consumer.end_offsets(parts)
            for tp in parts:
                meta = committed.get(tp)
                at = meta.offset if meta is not None and meta.offset >= 0 else 0
                if at < ends[tp]:
                    topic = tp.topic[len(prefix) :]
                    lines.append(f"{service} on {topic}[{tp.partition}]: committed {at} < log end {ends[tp]}")
    finally:
        await consumer.stop()
        await admin.close()
    return lines
