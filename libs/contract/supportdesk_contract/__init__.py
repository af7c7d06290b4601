"""The event contract every service speaks: what travels on Kafka, and nothing that runs.

- catalogue: every event type, its payload and version
- upcasting: reading events written under an older version; calendar_definition: a calendar as data
- envelope: the wire format around a payload, encode/decode, derived envelopes
- vocabulary: the support domain's enums (priority, channel, clock kind...)
- topics: topic names; ids: deterministic (derived) event ids
- requester_view: which events a requester may see
- clock: the injected clock; the only place that reads the wall clock

Depends on pydantic only (a contract in `make lint` keeps it so).
"""
