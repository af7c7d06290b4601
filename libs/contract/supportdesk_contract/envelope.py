"""The envelope every event travels in, and its encoding on Kafka.

Wire format: value = the envelope as UTF-8 JSON (non-ASCII as is, not `\\uXXXX`: an emoji is 4
bytes, not 12), key = ticket id (per-ticket order within a topic), headers = event_type,
schema_version, event_id, correlation_id (so tools can route without parsing). Every envelope's
long-text fields are bounded when it is built (`catalogue.bound_long_texts`), so an event stays
under `catalogue.MAX_EVENT_BYTES` by construction.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from supportdesk_contract.catalogue import REGISTRY, Event, bound_long_texts
from supportdesk_contract.clock import Clock, require_utc
from supportdesk_contract.ids import derived_event_id
from supportdesk_contract.upcasting import NoUpcaster, upcast

P = TypeVar("P", bound=Event)


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    ticket_id: str
    occurred_at: AwareDatetime
    producer: str
    causation_id: uuid.UUID | None
    correlation_id: uuid.UUID
    payload: P

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return require_utc(v)

    @property
    def topic(self) -> str:
        return REGISTRY[self.event_type].topic.value


def _envelope(
    payload: P,
    *,
    event_id: uuid.UUID,
    ticket_id: str,
    producer: str,
    clock: Clock,
    causation_id: uuid.UUID | None,
    correlation_id: uuid.UUID,
) -> Envelope[P]:
    # Producers that keep whole texts (intake) bound first and store what was cut; this is the
    # guarantee for every other path.
    payload, _ = bound_long_texts(payload)
    # Parametrised by the payload's own class, so the envelope validates and dumps as that class.
    cls = envelope_of(type(payload))
    return cls(
        event_id=event_id,
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        ticket_id=ticket_id,
        occurred_at=clock.now(),
        producer=producer,
        causation_id=causation_id,
        correlation_id=correlation_id,
        payload=payload,
    )


def new_envelope(
    payload: P,
    *,
    ticket_id: str,
    producer: str,
    clock: Clock,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
) -> Envelope[P]:
    """An event that starts a causal chain (a command or an inbound message)."""
    eid = event_id or uuid.uuid4()
    return _envelope(
        payload,
        event_id=eid,
        ticket_id=ticket_id,
        producer=producer,
        clock=clock,
        causation_id=None,
        correlation_id=correlation_id or eid,
    )


def derived_envelope(
    cause: Envelope[Any],
    payload: P,
    *,
    producer: str,
    clock: Clock,
    discriminator: str = "",
) -> Envelope[P]:
    """An event caused by `cause`: its id is a function of the cause, so replay re-derives it."""
    return _envelope(
        payload,
        event_id=derived_event_id(cause.event_id, payload.event_type, discriminator),
        ticket_id=cause.ticket_id,
        producer=producer,
        clock=clock,
        causation_id=cause.event_id,
        correlation_id=cause.correlation_id,
    )


def anchored_envelope(
    payload: P,
    *,
    ticket_id: str,
    anchor: uuid.UUID,
    discriminator: str,
    producer: str,
    clock: Clock,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None = None,
) -> Envelope[P]:
    """An event that more than one cause may lead to (or a timer, with no cause event): its id is
    derived from a stable `anchor` and `discriminator`, so whichever path emits it, it is one event."""
    return _envelope(
        payload,
        event_id=derived_event_id(anchor, payload.event_type, discriminator),
        ticket_id=ticket_id,
        producer=producer,
        clock=clock,
        causation_id=causation_id,
        correlation_id=correlation_id,
    )


class UndeliverableEvent(Exception):
    """A message no handler can accept; it goes to the dead-letter topic with `reason`.

    `kind` is the class of reason, few and fixed (for metrics and for sorting dead letters):
    `empty`, `not_json`, `not_an_object`, `unknown_type`, `unsupported_version`, `invalid_payload`,
    `undecodable` (anything else the parser raised: nesting too deep, out of memory, ...)."""

    def __init__(self, reason: str, kind: str = "undecodable") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


Headers = list[tuple[str, bytes]]


def encode(env: Envelope[Any]) -> tuple[bytes, bytes, Headers]:
    return encode_recorded(env.model_dump(mode="json"))


def wire_headers(event_type: object, schema_version: object, event_id: object, correlation_id: object) -> Headers:
    return [
        ("event_type", str(event_type).encode()),
        ("schema_version", str(schema_version).encode()),
        ("event_id", str(event_id).encode()),
        ("correlation_id", str(correlation_id).encode()),
    ]


def encode_value(env: dict[str, Any]) -> bytes:
    """UTF-8 JSON; raises UnicodeEncodeError for text that is not valid Unicode (a lone surrogate)."""
    return json.dumps(env, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_recorded(env: dict[str, Any]) -> tuple[bytes, bytes, Headers]:
    """Key, value and headers for an envelope as recorded (JSON-ready dict)."""
    headers = wire_headers(env["event_type"], env["schema_version"], env["event_id"], env["correlation_id"])
    return str(env["ticket_id"]).encode(), encode_value(env), headers


def decode(value: bytes | None, event_type: str | None = None) -> Envelope[Event]:
    """Parse and validate a message; raise UndeliverableEvent with the reason if we cannot.

    Nothing else escapes: whatever the parser or the validator raises on hostile input (a
    RecursionError from JSON nested thousands deep, a MemoryError, a ValueError from a library) is
    a fact about the message, so it is a dead letter, never a retry.

    `event_type`, from the message's header, lets the common case (the current version of that
    type) be parsed and validated in one pass by pydantic's own JSON parser, strictly, about half
    the time of `json.loads` and validating the dict. The header is only a hint: anything that pass
    does not accept as is (another type or version, a value the lax path would coerce, a lone
    surrogate) goes the full way below, which alone decides what is a dead letter and why."""
    if event_type is not None and value is not None:
        cls = REGISTRY.get(event_type)
        if cls is not None:
            try:
                env = envelope_of(cls).model_validate_json(value, strict=True)
            except Exception:
                pass
            else:
                if env.event_type == event_type and env.schema_version == cls.schema_version:
                    return env
    try:
        return _decode(value)
    except UndeliverableEvent:
        raise
    except Exception as e:
        raise UndeliverableEvent(f"cannot decode the message: {type(e).__name__}: {e}") from e


def _decode(value: bytes | None) -> Envelope[Event]:
    if value is None:
        raise UndeliverableEvent("empty message value", "empty")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UndeliverableEvent(f"value is not JSON: {e}", "not_json") from e
    if not isinstance(raw, dict):
        raise UndeliverableEvent("value is not a JSON object", "not_an_object")
    return read_recorded(raw)


@functools.cache
def envelope_of(cls: type[Event]) -> type[Envelope[Any]]:
    """`Envelope[cls]`, built once per event class: pydantic's own parametrisation costs ~75 us a
    call, paid on every event a consumer decodes and every event a service records."""
    parametrised = Envelope.__class_getitem__(cls)
    assert isinstance(parametrised, type) and issubclass(parametrised, Envelope)
    return parametrised


def read_recorded(raw: dict[str, Any]) -> Envelope[Event]:
    """An envelope as JSON (from Kafka, or as a service recorded it), read as the current version of
    its event type: older versions go through the catalogue's upcasters. Wherever events are read."""
    event_type = raw.get("event_type")
    cls = REGISTRY.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise UndeliverableEvent(f"unknown event type {event_type!r}", "unknown_type")
    version = raw.get("schema_version")
    if not isinstance(version, int) or version > cls.schema_version:
        raise UndeliverableEvent(
            f"{event_type} schema_version {version!r} is not one this consumer reads "
            f"(it reads up to {cls.schema_version})",
            "unsupported_version",
        )
    if version < cls.schema_version:
        payload = raw.get("payload")
        if not isinstance(payload, dict):
            raise UndeliverableEvent(f"invalid {event_type}: payload is not an object", "invalid_payload")
        try:
            raw = {**raw, "payload": upcast(cls.event_type, version, payload), "schema_version": cls.schema_version}
        except NoUpcaster as e:
            raise UndeliverableEvent(str(e), "unsupported_version") from e
    try:
        return envelope_of(cls).model_validate(raw)
    except ValidationError as e:
        raise UndeliverableEvent(f"invalid {event_type}: {e}", "invalid_payload") from e
