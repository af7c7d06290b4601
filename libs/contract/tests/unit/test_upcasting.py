"""An event type at schema_version 2 reads the v1 events already in the log through its upcaster,
wherever events are read (`decode` from Kafka, `read_recorded` from a service's own table); with no
upcaster a v1 event is a dead letter that says so, not a crash."""

import json
from typing import Any

import pytest

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.envelope import UndeliverableEvent, decode, read_recorded
from supportdesk_contract.topics import Topic
from supportdesk_contract.upcasting import UPCASTERS, Payload


class CallbackScheduled(Event):
    """v2: `when` became `at`, and a `reason` was added."""

    at: str
    reason: str


CallbackScheduled.event_type = "CallbackScheduled"
CallbackScheduled.topic = Topic.LIFECYCLE
CallbackScheduled.schema_version = 2


def v1_to_v2(payload: Payload) -> Payload:
    return {"at": payload.pop("when"), "reason": "(not recorded before v2)", **payload}


V1 = {
    "event_id": "7d2a1c70-6f0e-5f55-9a43-3f7d2b6b9e01",
    "event_type": "CallbackScheduled",
    "schema_version": 1,
    "ticket_id": "t-1",
    "occurred_at": "2026-11-23T14:30:05Z",
    "producer": "intake",
    "causation_id": None,
    "correlation_id": "00000000-0000-0000-0000-000000000001",
    "payload": {"when": "tomorrow 09:00"},
}


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(REGISTRY, "CallbackScheduled", CallbackScheduled)


def test_a_v1_event_reads_as_v2_from_kafka_and_from_a_table(registered: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UPCASTERS, ("CallbackScheduled", 1), v1_to_v2)
    for env in (decode(json.dumps(V1).encode()), read_recorded(dict(V1))):
        assert env.schema_version == 2
        assert env.payload == CallbackScheduled(at="tomorrow 09:00", reason="(not recorded before v2)")


def test_without_an_upcaster_a_v1_event_is_a_dead_letter_naming_the_gap(registered: Any) -> None:
    with pytest.raises(UndeliverableEvent, match="no upcaster from v1") as raised:
        decode(json.dumps(V1).encode())
    assert raised.value.kind == "unsupported_version"


def test_every_event_type_at_a_later_version_has_its_upcasters() -> None:
    for name, cls in REGISTRY.items():
        for version in range(1, cls.schema_version):
            assert (name, version) in UPCASTERS, f"{name} is at v{cls.schema_version}: add an upcaster from v{version}"
