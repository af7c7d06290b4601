"""Prometheus metrics of the shared plumbing; each service adds its own beside them."""

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("supportdesk_outbox_published_total", "Events relayed to Kafka", ["service"])
EVENTS_CONSUMED = Counter(
    "supportdesk_events_consumed_total",
    "Messages a consumer took from Kafka, by outcome (applied, duplicate, ignored, dead_lettered)",
    ["consumer", "event_type", "outcome"],
)
BATCH_SECONDS = Histogram("supportdesk_consumer_batch_seconds", "Time to apply one batch", ["consumer"])
OUTBOX_PARKED_TOTAL = Counter(
    "supportdesk_outbox_parked_total", "Outbox rows parked because they can never be published", ["service"]
)
OUTBOX_UNPUBLISHED = Gauge(
    "supportdesk_outbox_unpublished_rows", "Outbox rows waiting to be published (not parked, not held)", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "supportdesk_outbox_oldest_unpublished_age_seconds", "Age of the oldest row waiting to be published", ["service"]
)
OUTBOX_PARKED = Gauge("supportdesk_outbox_parked_rows", "Outbox rows parked (GET /v1/ops/outbox/parked)", ["service"])
OUTBOX_HELD = Gauge(
    "supportdesk_outbox_held_rows", "Outbox rows waiting behind a parked row of the same ticket", ["service"]
)
OUTBOX_RELAY_ACTIVE = Gauge(
    "supportdesk_outbox_relay_active", "1 while this process holds the relay lock and publishes", ["service"]
)
