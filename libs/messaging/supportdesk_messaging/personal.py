"""A requester's personal data in events, erasable although the log is forever (crypto-shredding).

What it guarantees, and what it does not:
- Events that carry a requester's personal fields (address, phone, subject, description, bodies,
  attachment names: `Event.personal`) carry them sealed with AES-256-GCM under that requester's
  own data key, with `requester_id` (a random UUID, not derived from the address) in clear and
  bound to the ciphertext as associated data. The clear fields hold blanks.
- Data keys never enter the event log or an outbox row. Intake keeps each key in its own database
  and publishes it to a compacted topic (KEYS_TOPIC, keyed by requester id); services that read
  personal data (`Keyring`) hold the keys in memory, read from that topic.
- Erasure replaces the key on the topic by an ERASED_MARKER record. Compaction then removes the
  record with the key, eventually: the cleaner only works on rolled segments (segment.ms), after
  min.compaction.lag.ms; until then the key is still on the broker's disk. We use a marker instead
  of a tombstone because a tombstone itself disappears after delete.retention.ms, and then "erased"
  would look like "not published yet" to a consumer replaying old events (it would wait forever).
- A consumer that meets a sealed event whose key it has not seen reads the keys topic to its end;
  still nothing means the key is on its way (intake publishes it after the commit): the batch is
  retried like any outage (KeyNotArrived is a world failure), never dead-lettered. An erased key
  yields the event with its personal fields masked.
- Events written before sealing existed stay in clear on the topics: erasure cannot reach them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from enum import Enum
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supportdesk_contract.catalogue import ERASED_TEXT, CarriesPersonalData, Event, RequesterErased
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.kafka_security import kafka_client_options

log = logging.getLogger(__name__)

KEYS_TOPIC = "supportdesk.requester-keys"
# Compacted, with segments rolled and cleaned soon, so a replaced key leaves the disk within
# minutes rather than the default week; the latest record per requester stays forever.
KEYS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "120000",
    "min.cleanable.dirty.ratio": "0.01",
}
ERASED_MARKER = b'{"erased":true}'
_VERSION = "v1."

E = TypeVar("E", bound=Event)


class KeyNotArrived(Exception):
    """A sealed event's key is not on the keys topic yet: retry later, like an outage."""


class _Erased(Enum):
    ERASED = "erased"


ERASED = _Erased.ERASED
KeyState = str | _Erased


def new_data_key() -> str:
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def seal_fields(key: str, requester_id: str, fields: dict[str, Any]) -> str:
    nonce = os.urandom(12)
    data = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = AESGCM(base64.urlsafe_b64decode(key)).encrypt(nonce, data, requester_id.encode())
    return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_fields(key: str, requester_id: str, sealed: str) -> dict[str, Any] | None:
    """The fields, or None when this key (for this requester) cannot open them."""
    if not sealed.startswith(_VERSION):
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_VERSION) :])
        data = AESGCM(base64.urlsafe_b64decode(key)).decrypt(raw[:12], raw[12:], requester_id.encode())
        fields = json.loads(data)
    except (InvalidTag, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def _blank(payload: Event, name: str, text: str) -> object:
    info = type(payload).model_fields[name]
    return text if info.is_required() else info.get_default(call_default_factory=True)


def seal_event(payload: E, requester_id: str, key: str) -> E:
    """The payload with its personal fields sealed under the requester's key and blanked in clear."""
    if not isinstance(payload, CarriesPersonalData) or payload.sealed_personal is not None:
        return payload
    dumped = payload.model_dump(mode="json", include=set(payload.personal))
    blanks = {name: _blank(payload, name, "") for name in payload.personal}
    sealed = seal_fields(key, requester_id, dumped)
    return payload.model_copy(update={**blanks, "requester_id": requester_id, "sealed_personal": sealed})


def open_event(payload: E, key: str) -> E | None:
    """The payload with its personal fields back (and no ciphertext); None if the key cannot open it."""
    if not isinstance(payload, CarriesPersonalData) or payload.sealed_personal is None:
        return payload
    fields = open_fields(key, payload.requester_id or "", payload.sealed_personal)
    if fields is None:
        return None
    known = {k: v for k, v in fields.items() if k in payload.personal}
    data = {**payload.model_dump(mode="json"), **known, "sealed_personal": None}
    return type(payload).model_validate(data)


def mask_event(payload: E) -> E:
    """The payload with its personal fields masked and its ciphertext dropped (the key is gone)."""
    if not isinstance(payload, CarriesPersonalData):
        return payload
    masks = {name: _blank(payload, name, ERASED_TEXT) for name in payload.personal}
    return payload.model_copy(update={**masks, "sealed_personal": None})


class Keyring:
    """The data keys of every requester, read from the compacted keys topic into memory.

    No consumer group: every process reads the whole topic (it holds one small record per
    requester). `catch_up` reads to the end offsets as they are when it is called."""

    def __init__(self, bootstrap_servers: str, topic_prefix: str = "", key_wait_seconds: float = 2.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        # A key is published beside the event that needs it, not before it: an event may come a
        # moment ahead of its key. Waiting that moment here costs only the wait; KeyNotArrived
        # would hold back the consumer's whole batch for its retry back-off.
        self.key_wait_seconds = key_wait_seconds
        self.topic = topic_prefix + KEYS_TOPIC
        self._keys: dict[str, KeyState] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._lock = asyncio.Lock()

    def state(self, requester_id: str) -> KeyState | None:
        """The key, ERASED, or None when not seen (yet)."""
        return self._keys.get(requester_id)

    def learn(self, record: ConsumerRecord[Any, Any]) -> None:
        if record.key is None:
            return
        requester_id = bytes(record.key).decode()
        value = record.value
        if value is None or bytes(value) == ERASED_MARKER:
            self._keys[requester_id] = ERASED
        elif self._keys.get(requester_id) is not ERASED:  # erasure is for good
            self._keys[requester_id] = bytes(value).decode()

    def forget(self, requester_id: str) -> None:
        self._keys[requester_id] = ERASED

    async def catch_up(self) -> None:
        async with self._lock:
            consumer = await self._started()
            end = await consumer.end_offsets(self._partitions)
            while True:
                behind = [tp for tp in self._partitions if await consumer.position(tp) < end[tp]]
                if not behind:
                    return
                batch = await consumer.getmany(*behind, timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        self.learn(record)

    async def await_key(self, requester_id: str, seconds: float) -> None:
        """Read what arrives on the keys topic for up to `seconds`, until the requester's is seen."""
        async with self._lock:
            consumer = await self._started()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    while self.state(requester_id) is None:
                        batch = await consumer.getmany(*self._partitions, timeout_ms=100)
                        for records in batch.values():
                            for record in records:
                                self.learn(record)

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is not None:
            return self._consumer
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, **kafka_client_options())
        await admin.start()
        try:
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        partitions = sorted(p["partition"] for d in described if not d["error_code"] for p in d["partitions"])
        if not partitions:
            raise KeyNotArrived(f"the keys topic {self.topic} does not exist yet")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            **kafka_client_options(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            self._partitions = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return consumer

    async def run(self, stop: asyncio.Event) -> None:
        """Keep learning (new keys, erasures) while the service runs."""
        while not stop.is_set():
            try:
                await self.catch_up()
            except Exception as e:  # the broker is away: the next round tries again
                log.warning("keyring could not read %s: %s", self.topic, e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def open(self, env: Envelope[Any]) -> Envelope[Any]:
        """The envelope with its payload's personal fields opened, or masked if erased. A
        RequesterErased also drops the key here at once (the topic's marker may come later)."""
        payload: Event = env.payload
        if isinstance(payload, RequesterErased):
            self.forget(payload.requester_id)
            return env
        if not isinstance(payload, CarriesPersonalData) or payload.sealed_personal is None:
            return env
        requester_id = payload.requester_id or ""
        if self.state(requester_id) is None:
            await self.catch_up()
        if self.state(requester_id) is None and self.key_wait_seconds > 0:
            await self.await_key(requester_id, self.key_wait_seconds)
        key = self.state(requester_id)
        if key is None:
            raise KeyNotArrived(f"no key yet for requester {requester_id} on {self.topic}")
        opened = mask_event(payload) if key is ERASED else open_event(payload, key)
        if opened is None:  # a key that does not open it: nobody could, so it counts as erased
            log.warning("requester %s's key does not open event %s; masking it", requester_id, env.event_id)
            opened = mask_event(payload)
        return env.model_copy(update={"payload": opened})
