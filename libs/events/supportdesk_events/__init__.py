"""supportdesk_events: the one definition of every event, and the plumbing every service shares.

- catalogue: event payloads and enums; topics: topic names; envelope: the wire format
- outbox: record events in the read model's transaction, relay them to Kafka
- consumer: the idempotent consumer with inbox and dead-letter topic
- web / cli / migrations / settings / logs / metrics: the common shape of a service
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalogue import REGISTRY, Channel, ClockKind, ClosureCode, Event, Priority, RequestType
    from .clock import Clock, ManualClock, SystemClock, require_utc
    from .consumer import EventConsumer, Handler, HandlerContext
    from .envelope import Envelope, UndeliverableEvent, decode, derived_envelope, encode, new_envelope
    from .handlers import Handlers
    from .ids import derived_event_id
    from .outbox import OutboxRelay, record
    from .topics import Topic, dead_letter_topic

# Each name is imported from its module on first use: importing one light module of the package
# (e.g. `supportdesk_events.catalogue` for `sla-clock preview`) must not load Kafka, SQLAlchemy and
# the web stack through this file.
_HOME = {
    **dict.fromkeys(
        ["REGISTRY", "Channel", "ClockKind", "ClosureCode", "Event", "Priority", "RequestType"], "catalogue"
    ),
    **dict.fromkeys(["Clock", "ManualClock", "SystemClock", "require_utc"], "clock"),
    **dict.fromkeys(["EventConsumer", "Handler", "HandlerContext"], "consumer"),
    **dict.fromkeys(
        ["Envelope", "UndeliverableEvent", "decode", "derived_envelope", "encode", "new_envelope"], "envelope"
    ),
    "Handlers": "handlers",
    "derived_event_id": "ids",
    **dict.fromkeys(["OutboxRelay", "record"], "outbox"),
    **dict.fromkeys(["Topic", "dead_letter_topic"], "topics"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once
    return value


__all__ = [
    "REGISTRY",
    "Channel",
    "Clock",
    "ClockKind",
    "ClosureCode",
    "Envelope",
    "Event",
    "EventConsumer",
    "Handler",
    "HandlerContext",
    "Handlers",
    "ManualClock",
    "OutboxRelay",
    "Priority",
    "RequestType",
    "SystemClock",
    "Topic",
    "UndeliverableEvent",
    "dead_letter_topic",
    "decode",
    "derived_envelope",
    "derived_event_id",
    "encode",
    "new_envelope",
    "record",
    "require_utc",
]
