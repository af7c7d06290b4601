import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from supportdesk_contract.catalogue import REGISTRY, TicketOpened
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import UndeliverableEvent, decode, derived_envelope, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing.events import opened, triaged

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_round_trip_keeps_every_field_and_keys_by_ticket() -> None:
    env = new_envelope(
        opened(requester_email="a@example.com"), ticket_id="t-1", producer="intake", clock=ManualClock(T0)
    )
    key, value, headers = encode(env)
    assert key == b"t-1"
    assert dict(headers)["event_type"] == b"TicketOpened"
    assert dict(headers)["event_id"] == str(env.event_id).encode()
    back = decode(value)
    assert back == env
    assert isinstance(back.payload, TicketOpened)
    assert back.topic == Topic.LIFECYCLE


def test_occurred_at_is_normalised_to_utc() -> None:
    pacific = timezone(timedelta(hours=-8))
    env = new_envelope(opened(), ticket_id="t", producer="intake", clock=ManualClock(T0.astimezone(pacific)))
    assert env.occurred_at.utcoffset() == timedelta(0)
    assert env.occurred_at == T0


def test_a_causal_chain_keeps_its_correlation_id() -> None:
    clock = ManualClock(T0)
    cause = new_envelope(opened(), ticket_id="t", producer="intake", clock=clock)
    assert cause.correlation_id == cause.event_id
    child = derived_envelope(
        cause,
        triaged(queue="q", opened_at=T0),
        producer="triage",
        clock=clock,
    )
    assert child.causation_id == cause.event_id
    assert child.correlation_id == cause.correlation_id
    assert child.ticket_id == "t"


def test_derived_ids_are_the_same_on_replay_and_differ_by_discriminator() -> None:
    cause = new_envelope(opened(), ticket_id="t", producer="intake", clock=ManualClock(T0))
    payload = opened(number="TKT-2")
    first = derived_envelope(cause, payload, producer="x", clock=ManualClock(T0))
    replay = derived_envelope(cause, payload, producer="x", clock=ManualClock(T0 + timedelta(days=3)))
    other = derived_envelope(cause, payload, producer="x", clock=ManualClock(T0), discriminator="2")
    assert first.event_id == replay.event_id
    assert first.event_id != other.event_id
    assert first.event_id != cause.event_id


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message value"),
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event_type": "TicketTeleported", "schema_version": 1}', "unknown event type 'TicketTeleported'"),
        (b'{"event_type": "TicketOpened", "schema_version": 2}', "schema_version 2 is not one this consumer reads"),
        (b'{"event_type": "TicketOpened", "schema_version": 1, "payload": {}}', "invalid TicketOpened"),
    ],
)
def test_undeliverable_messages_say_why(value: bytes | None, reason: str) -> None:
    with pytest.raises(UndeliverableEvent) as e:
        decode(value)
    assert reason in e.value.reason


def test_an_unknown_optional_field_from_a_newer_producer_is_tolerated() -> None:
    env = new_envelope(opened(), ticket_id="t", producer="intake", clock=ManualClock(T0))
    raw = json.loads(encode(env)[1])
    raw["payload"]["added_later"] = "x"
    assert decode(json.dumps(raw).encode()).payload == env.payload


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ManualClock(datetime(2026, 1, 1))


def test_every_event_type_is_registered_once_on_its_topic() -> None:
    assert len(REGISTRY) == len({cls.__name__ for cls in REGISTRY.values()})
    assert {cls.topic for cls in REGISTRY.values()} == set(Topic)


def test_the_header_hint_reads_exactly_what_the_full_way_reads() -> None:
    env = new_envelope(opened(subject="s"), ticket_id="t-1", producer="intake", clock=ManualClock(T0))
    _, value, _ = encode(env)
    assert decode(value, "TicketOpened") == decode(value) == env
    # A header that lies, or a value the strict pass refuses, goes the full way: same answer.
    assert decode(value, "TicketTriaged") == env
    assert decode(value, "NoSuchEvent") == env
    assert decode(value.replace(b'"subject":"s"', b'"subject":"\\ud800"'), "TicketOpened").payload.subject == "\ud800"
    # What the full way refuses stays refused with its reason, whatever the header says.
    for bad in (b'"schema_version":1.0', b'"schema_version":"1"'):
        with pytest.raises(UndeliverableEvent) as refused:
            decode(value.replace(b'"schema_version":1', bad), "TicketOpened")
        assert refused.value.kind == "unsupported_version"
    with pytest.raises(UndeliverableEvent) as refused:
        decode(b"[]", "TicketOpened")
    assert refused.value.kind == "not_an_object"
