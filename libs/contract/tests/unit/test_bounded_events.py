"""Bounded events by construction: long text travels as an excerpt and a reference, the encoding
is UTF-8 JSON, and events written before (whole text, no reference) still decode."""

import hashlib
import json
from datetime import UTC, datetime

import pytest

from supportdesk_contract.catalogue import (
    EXCERPT_CHARS,
    MAX_EVENT_BYTES,
    REGISTRY,
    AgentResponded,
    CarriesLongText,
    TicketOpened,
    bound_long_texts,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import decode, encode, new_envelope
from supportdesk_devstack.testing.events import opened

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_non_ascii_is_written_as_utf8_not_escapes() -> None:
    env = new_envelope(
        opened(subject="s", description="\U0001f600" * 1000), ticket_id="t", producer="intake", clock=ManualClock(T0)
    )
    _, value, _ = encode(env)
    assert "\U0001f600".encode() * 1000 in value
    assert b"\\ud83d" not in value
    assert decode(value) == env


@pytest.mark.parametrize("char", ["\U0001f600", "\x01", "a", '"'])
def test_an_event_with_the_longest_accepted_texts_stays_under_the_limit(char: str) -> None:
    # 100,000 characters is what the API accepts per field; \x01 is the worst case of JSON (6 bytes).
    whole = char * 100_000
    env = new_envelope(
        opened(subject=whole, description=whole), ticket_id="t", producer="intake", clock=ManualClock(T0)
    )
    _, value, _ = encode(env)
    assert len(value) < MAX_EVENT_BYTES
    payload = decode(value).payload
    assert isinstance(payload, TicketOpened)
    assert payload.description == whole[:EXCERPT_CHARS]
    ref = payload.full_text["description"]
    assert (ref.length, ref.sha256) == (100_000, hashlib.sha256(whole.encode()).hexdigest())
    assert set(payload.full_text) == {"subject", "description"}


def test_bounding_returns_the_whole_texts_it_cut_and_is_idempotent() -> None:
    whole = "x" * (EXCERPT_CHARS + 1)
    bounded, kept = bound_long_texts(AgentResponded(agent="ann", body=whole))
    assert kept == {hashlib.sha256(whole.encode()).hexdigest(): whole}
    assert bounded.body == whole[:EXCERPT_CHARS]
    assert bound_long_texts(bounded) == (bounded, {})
    short = AgentResponded(agent="ann", body="x" * EXCERPT_CHARS)
    assert bound_long_texts(short) == (short, {})
    assert short.full_text == {}


def test_an_event_written_before_bounding_still_decodes_whole() -> None:
    written = new_envelope(
        opened(subject="s", description="d"), ticket_id="t", producer="intake", clock=ManualClock(T0)
    )
    raw = written.model_dump(mode="json")
    del raw["payload"]["full_text"]
    raw["payload"]["description"] = "\U0001f600" * 100_000  # as the old writer left it
    env = decode(json.dumps(raw).encode())  # the old writer's \\u escapes
    assert isinstance(env.payload, TicketOpened)
    assert env.payload.description == "\U0001f600" * 100_000 and env.payload.full_text == {}


def test_every_long_text_field_is_a_string_field_of_its_event() -> None:
    carriers = [cls for cls in REGISTRY.values() if issubclass(cls, CarriesLongText)]
    assert len(carriers) >= 10
    for cls in carriers:
        assert cls.long_texts, cls.__name__
        for name in cls.long_texts:
            assert cls.model_fields[name].annotation is str, f"{cls.__name__}.{name}"
