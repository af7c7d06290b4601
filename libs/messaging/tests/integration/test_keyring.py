"""The keyring on the real broker: keys from the compacted keys topic, the erased marker, a key
not there yet (KeyNotArrived: the consumer retries, it is not a poison message)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from supportdesk_contract.catalogue import ERASED_TEXT, RequesterErased, TicketOpened
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_devstack.testing import Sandbox, produce
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.personal import (
    ERASED_MARKER,
    KEYS_TOPIC,
    KeyNotArrived,
    Keyring,
    new_data_key,
    seal_event,
)
from supportdesk_messaging.world import is_world_failure

pytestmark = pytest.mark.integration


async def test_the_keys_topic_is_compacted(space: Sandbox) -> None:
    # A topic just created may not be known to the broker's config handler yet (KRaft applies the
    # metadata a moment later): describe answers UNKNOWN_TOPIC_OR_PARTITION with no configs. Ask
    # again until it knows the topic; the assertion is on the config, not on the timing.
    admin = AIOKafkaAdminClient(bootstrap_servers=space.servers.bootstrap_servers)
    await admin.start()
    try:
        for _ in range(50):
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, space.prefix + KEYS_TOPIC)]
            )
            error_code, _message, _type, _name, entries = described[0].resources[0]
            if error_code == 0:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    assert error_code == 0, f"the broker does not know {space.prefix + KEYS_TOPIC}: error {error_code}"
    configs = {c[0]: c[1] for c in entries}
    assert configs["cleanup.policy"] == "compact"


async def test_keyring_opens_masks_and_waits(space: Sandbox) -> None:
    clock = SystemClock()
    alive, erased, late = (str(uuid.uuid4()) for _ in range(3))
    alive_key, erased_key, late_key = new_data_key(), new_data_key(), new_data_key()
    await produce(
        space,
        KEYS_TOPIC,
        [
            (alive.encode(), alive_key.encode()),
            (erased.encode(), erased_key.encode()),
            (erased.encode(), ERASED_MARKER),  # erasure: the latest record for the requester
        ],
    )
    keyring = Keyring(space.servers.bootstrap_servers, space.prefix)
    try:

        def env(rid: str, key: str) -> Envelope[TicketOpened]:
            sealed = seal_event(opened(requester_email="ines.vale@customer.example", subject="Cannot log in"), rid, key)
            return envelope(sealed, str(uuid.uuid4()), producer="intake", clock=clock)

        got = (await keyring.open(env(alive, alive_key))).payload
        assert (got.requester_email, got.subject, got.sealed_personal) == (
            "ines.vale@customer.example",
            "Cannot log in",
            None,
        )
        masked = (await keyring.open(env(erased, erased_key))).payload
        assert (masked.requester_email, masked.subject) == (None, ERASED_TEXT)

        keyring.key_wait_seconds = 0.5  # the key never comes: waited for, then KeyNotArrived
        with pytest.raises(KeyNotArrived) as waited:
            await keyring.open(env(late, late_key))
        assert is_world_failure(waited.value)  # retried with the batch, never dead-lettered
        await produce(space, KEYS_TOPIC, [(late.encode(), late_key.encode())])
        assert (await keyring.open(env(late, late_key))).payload.subject == "Cannot log in"

        # A key on its way (published a moment after the event that needs it is read) is waited
        # for: the event opens without KeyNotArrived, so the consumer's batch is not held back.
        following, following_key = str(uuid.uuid4()), new_data_key()

        async def publish_soon() -> None:
            await asyncio.sleep(0.3)
            await produce(space, KEYS_TOPIC, [(following.encode(), following_key.encode())])

        keyring.key_wait_seconds = 30  # bounds a loaded machine's produce(); found long before
        publishing = asyncio.create_task(publish_soon())
        assert (await keyring.open(env(following, following_key))).payload.subject == "Cannot log in"
        await publishing

        # A RequesterErased seen in the stream drops the key at once, before the marker arrives.
        ticket = str(uuid.uuid4())
        await keyring.open(
            new_envelope(
                RequesterErased(requester_id=alive, erased_at=clock.now()),
                ticket_id=ticket,
                producer="intake",
                clock=clock,
            )
        )
        assert (await keyring.open(env(alive, alive_key))).payload.subject == ERASED_TEXT
        # and a key record read later does not bring it back
        await produce(space, KEYS_TOPIC, [(alive.encode(), alive_key.encode())])
        await keyring.catch_up()
        assert (await keyring.open(env(alive, alive_key))).payload.subject == ERASED_TEXT
    finally:
        await keyring.close()
