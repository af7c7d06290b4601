"""supportdesk_events: the one definition of every event, and the plumbing every service shares.

- catalogue: event payloads and enums; topics: topic names; envelope: the wire format
- outbox: record events in the read model's transaction, relay them to Kafka
- consumer: the idempotent consumer with inbox and dead-letter topic
- web / cli / migrations / settings / logs / metrics: the common shape of a service
"""

from .catalogue import REGISTRY, Channel, ClockKind, ClosureCode, Event, Priority, RequestType
from .clock import Clock, ManualClock, SystemClock, require_utc
from .consumer import EventConsumer, Handler, HandlerContext
from .envelope import Envelope, UndeliverableEvent, decode, derived_envelope, encode, new_envelope
from .handlers import Handlers
from .ids import derived_event_id
from .outbox import OutboxRelay, record
from .topics import Topic, dead_letter_topic

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
