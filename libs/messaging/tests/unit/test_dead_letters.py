"""Hostile messages decode to a reason, never an exception; dead letters always fit the limit."""

from dataclasses import dataclass

import pytest

from supportdesk_contract.envelope import UndeliverableEvent, decode
from supportdesk_messaging.dead_letters import DEAD_LETTER_MAX_BYTES, coordinates_only, dead_letter, size_of
from supportdesk_messaging.world import is_world_failure


@dataclass
class Record:
    """The fields of an aiokafka ConsumerRecord a dead letter reads."""

    value: bytes | None
    key: bytes | None = b"ticket-1"
    headers: tuple[tuple[str, bytes], ...] = ()
    topic: str = "tickets.lifecycle"
    partition: int = 2
    offset: int = 41


@pytest.mark.parametrize(
    ("value", "kind", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "undecodable", "RecursionError"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "undecodable", "RecursionError"),
        (b"\xff\xfe not utf-8", "not_json", "not JSON"),
        (b"[1, 2]", "not_an_object", "not a JSON object"),
        (None, "empty", "empty"),
        (b'{"event_type": "TicketOpened", "schema_version": 99}', "unsupported_version", "schema_version 99"),
        (b'{"event_type": "TicketOpened", "schema_version": 1, "payload": {}}', "invalid_payload", "invalid"),
    ],
)
def test_whatever_a_message_holds_decode_raises_only_undeliverable_event(
    value: bytes | None, kind: str, says: str
) -> None:
    with pytest.raises(UndeliverableEvent) as raised:
        decode(value)
    assert raised.value.kind == kind
    assert says in raised.value.reason


def test_a_small_message_is_carried_whole_with_the_reason_and_its_coordinates() -> None:
    msg = Record(b'{"not": "an event"}', headers=(("origin", b"x"),))
    letter = dead_letter(msg, reason="unknown event type None", reason_class="unknown_type", consumer="triage")
    headers = dict(letter.headers)
    assert (letter.key, letter.value) == (msg.key, msg.value)
    assert headers["origin"] == b"x"
    assert headers["dlq.source"] == b"tickets.lifecycle/2/41"
    assert headers["dlq.reason_class"] == b"unknown_type"
    assert headers["dlq.consumer"] == b"triage"
    assert not letter.truncated


@pytest.mark.parametrize("size", [1_048_400, 1_048_576, 5_000_000])
def test_a_message_near_or_over_the_limit_gets_a_truncated_dead_letter_that_fits(size: int) -> None:
    msg = Record(b"x" * size, headers=(("origin", b"x"),))
    letter = dead_letter(msg, reason="r" * 10_000, reason_class="handler_failed", consumer="sla-clock")
    assert letter.truncated
    assert size_of(letter.key, letter.value, letter.headers) <= DEAD_LETTER_MAX_BYTES
    assert letter.size > DEAD_LETTER_MAX_BYTES - 64  # as much as fits, not a token copy
    headers = dict(letter.headers)
    assert len(headers["dlq.reason"]) == 4_000
    assert headers["dlq.source"] == b"tickets.lifecycle/2/41"
    assert headers["origin"] == b"x"
    noted = dict(part.split("=") for part in headers["dlq.truncated"].decode().split())
    assert noted["value_bytes"] == str(size)
    assert msg.value is not None and letter.value == msg.value[: int(noted["kept_bytes"])]


def test_huge_headers_and_key_are_dropped_or_cut_so_the_dead_letter_still_fits() -> None:
    msg = Record(b"v" * 10, key=b"k" * 600_000, headers=(("junk", b"j" * 600_000),))
    letter = dead_letter(msg, reason="r", reason_class="invalid_payload", consumer="notifier")
    assert letter.size <= DEAD_LETTER_MAX_BYTES
    assert "junk" not in dict(letter.headers)
    assert letter.key == b"k" * 1024
    assert letter.value == b"v" * 10
    assert b"headers_dropped=1" in dict(letter.headers)["dlq.truncated"]


def test_coordinates_only_carries_no_copy_but_says_where_the_original_is() -> None:
    letter = coordinates_only(Record(b"x" * 100), reason="r", reason_class="undecodable", consumer="intake")
    assert letter.value == b""
    assert dict(letter.headers)["dlq.source"] == b"tickets.lifecycle/2/41"
    assert b"kept_bytes=0" in dict(letter.headers)["dlq.truncated"]


def test_errors_of_the_world_are_told_from_errors_of_a_message() -> None:
    import asyncpg
    from aiokafka.errors import KafkaConnectionError
    from sqlalchemy.exc import DBAPIError, IntegrityError

    def wrapped(inner: Exception) -> Exception:
        try:
            try:
                raise inner
            except Exception as e:
                raise DBAPIError("stmt", {}, e) from e
        except DBAPIError as outer:
            return outer

    assert is_world_failure(ConnectionRefusedError())
    assert is_world_failure(KafkaConnectionError())
    assert is_world_failure(wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("gone")))
    assert is_world_failure(wrapped(asyncpg.exceptions.AdminShutdownError("shutdown")))
    assert is_world_failure(wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock")))
    assert not is_world_failure(RuntimeError("a handler's bug"))
    # Timeouts may be the message's doing: the type alone does not say (the database probe does).
    assert not is_world_failure(TimeoutError())
    assert not is_world_failure(wrapped(asyncpg.exceptions.QueryCanceledError("statement timeout")))
    assert not is_world_failure(IntegrityError("stmt", {}, Exception("duplicate key")))
    assert not is_world_failure(wrapped(asyncpg.exceptions.CharacterNotInRepertoireError("NUL")))
