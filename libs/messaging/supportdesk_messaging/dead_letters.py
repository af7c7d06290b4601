"""What a consumer writes to its dead-letter topic (`deadletter.<service>`), and how it always fits.

A dead letter is the original message (key, value, headers) plus headers saying why and where from:
`dlq.reason` (the reason, at most 4,000 characters), `dlq.reason_class` (`handler_failed` or one of
`UndeliverableEvent.kind`), `dlq.consumer` and `dlq.source` (`topic/partition/offset` of the
original, which stays in its topic: re-read it from there). A message near the broker's limit plus
those headers would be over it, and a dead letter that cannot be written would stop the partition
again; so when the whole copy does not fit, the dead letter keeps the coordinates, the reason, and as
much of the value as fits, and says so in `dlq.truncated`
(`value_bytes=<original> kept_bytes=<kept> key_bytes=<original> headers_dropped=<n>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from sqlalchemy.exc import DBAPIError

from supportdesk_contract.topics import MAX_MESSAGE_BYTES
from supportdesk_messaging.kafka_security import kafka_client_options

# What our topics accept (max.message.bytes, set where topics are created); the estimate below is an
# upper bound of the whole one-record batch, so a dead letter sized to it fits.
DEAD_LETTER_MAX_BYTES = MAX_MESSAGE_BYTES
REASON_MAX_CHARS = 4_000
# In a truncated dead letter, the original's key and headers are kept only up to these sizes.
KEY_KEPT_BYTES = 1_024
HEADERS_KEPT_BYTES = 16_384

Headers = list[tuple[str, bytes]]

# What a database error may say of itself in a reason: names of things, never values.
_DATABASE_ERROR_NAMES = ("sqlstate", "constraint_name", "table_name", "column_name")


def failure_reason(event_type: str, e: BaseException) -> str:
    """Why a handler failed, for the dead letter (kept in `dead_letters`, on the dead-letter topic
    and in the log)."""
    return f"{event_type} handler failed: {described(e)}"


def described(e: BaseException) -> str:
    """An exception in words. A database error is named by its class, SQLSTATE, constraint, table
    and column, never by its text: PostgreSQL's message and DETAIL quote the values (`Key
    (email)=(...)`, `Failing row contains (...)`, `invalid input syntax ...: "..."`), and those are
    opened personal fields."""
    if not isinstance(e, DBAPIError):
        return f"{type(e).__name__}: {e}"
    driver = e.orig.__cause__ if e.orig is not None and e.orig.__cause__ is not None else e.orig
    named = [f"{type(driver).__name__}"] if driver is not None else []
    for name in _DATABASE_ERROR_NAMES:
        value = getattr(driver, name, None)
        if isinstance(value, str) and value:
            named.append(f"{name.removesuffix('_name')} {value}")
    return f"{type(e).__name__} ({', '.join(named)}); the database's message is withheld"


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def size(self) -> int:
        return size_of(self.key, self.value, self.headers)

    @property
    def truncated(self) -> bool:
        return any(k == "dlq.truncated" for k, _ in self.headers)


def size_of(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The producer's own upper bound for a one-record batch (what it checks max_request_size on)."""
    sized: list[tuple[str, bytes | None]] = list(headers)
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, sized))


def dlq_headers(msg: Any, *, reason: str, reason_class: str, consumer: str) -> Headers:
    return [
        ("dlq.reason", reason[:REASON_MAX_CHARS].encode()),
        ("dlq.reason_class", reason_class.encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode()),
    ]


def dead_letter(
    msg: Any, *, reason: str, reason_class: str, consumer: str, max_bytes: int = DEAD_LETTER_MAX_BYTES
) -> DeadLetter:
    """The dead letter of `msg` (an aiokafka ConsumerRecord), at most `max_bytes` as the producer
    counts, whatever the size of the original."""
    ours = dlq_headers(msg, reason=reason, reason_class=reason_class, consumer=consumer)
    original: Headers = [(k, v if v is not None else b"") for k, v in (msg.headers or ())]
    key: bytes | None = msg.key
    value: bytes | None = msg.value
    if size_of(key, value, original + ours) <= max_bytes:
        return DeadLetter(key, value, original + ours)
    kept_headers = original if size_of(None, None, original) <= HEADERS_KEPT_BYTES else []
    kept_key = key[:KEY_KEPT_BYTES] if key is not None else None
    value_bytes = len(value) if value is not None else 0

    def note(kept: int) -> Headers:
        described = (
            f"value_bytes={value_bytes} kept_bytes={kept} key_bytes={len(key) if key is not None else 0} "
            f"headers_dropped={len(original) - len(kept_headers)}"
        )
        return [("dlq.truncated", described.encode())]

    headers = kept_headers + ours
    kept = max(0, min(value_bytes, max_bytes - size_of(kept_key, b"", headers + note(value_bytes))))
    letter = DeadLetter(kept_key, value[:kept] if value is not None else None, headers + note(kept))
    # Length prefixes are varints, so a longer value can need a byte or two more: shave those off.
    while (over := letter.size - max_bytes) > 0 and kept > 0:
        kept = max(0, kept - over)
        letter = DeadLetter(kept_key, value[:kept] if value is not None else None, headers + note(kept))
    return letter


def coordinates_only(msg: Any, *, reason: str, reason_class: str, consumer: str) -> DeadLetter:
    """The smallest dead letter: no copy of the original at all (for a topic that takes less than
    we were told). `dlq.source` still says where the original is."""
    value_bytes = len(msg.value) if msg.value is not None else 0
    headers = dlq_headers(msg, reason=reason, reason_class=reason_class, consumer=consumer)
    headers.append(("dlq.truncated", f"value_bytes={value_bytes} kept_bytes=0 omitted=all".encode()))
    key = msg.key[:KEY_KEPT_BYTES] if msg.key is not None else None
    return DeadLetter(key, b"", headers)  # an empty value, not none: Kafka wants a key or a value


async def read_dead_letters(bootstrap_servers: str, topic: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The first `limit` dead letters in `topic`, described (what `<service> dead-letters` prints)."""
    from aiokafka import AIOKafkaConsumer

    # No group: every partition is ours, nobody's offsets move.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        **kafka_client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found: list[dict[str, Any]] = []
        for messages in (await consumer.getmany(timeout_ms=2000, max_records=limit)).values():
            found.extend(_described(m) for m in messages)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while len(found) < limit and any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for messages in (await consumer.getmany(timeout_ms=1000, max_records=limit)).values():
                found.extend(_described(m) for m in messages)
        return sorted(found, key=lambda d: int(d["dead_lettered_at_ms"]))[:limit]
    finally:
        await consumer.stop()


def _described(m: Any) -> dict[str, Any]:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers or ()}
    return {
        "dead_lettered_at_ms": m.timestamp,
        "at": f"{m.topic}/{m.partition}/{m.offset}",
        "source": headers.get("dlq.source"),
        "consumer": headers.get("dlq.consumer"),
        "reason_class": headers.get("dlq.reason_class"),
        "reason": headers.get("dlq.reason"),
        "truncated": headers.get("dlq.truncated"),
        "event_type": headers.get("event_type"),
        "event_id": headers.get("event_id"),
        "key": m.key.decode("utf-8", "replace") if m.key is not None else None,
        "value_bytes": len(m.value) if m.value is not None else 0,
    }
