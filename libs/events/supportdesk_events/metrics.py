"""Prometheus metrics of the shared plumbing; each service adds its own beside them."""

from prometheus_client import Counter, Histogram

OUTBOX_PUBLISHED = Counter("supportdesk_outbox_published_total", "Events relayed to Kafka", ["service"])
EVENTS_CONSUMED = Counter(
    "supportdesk_events_consumed_total",
    "Messages a consumer took from Kafka, by outcome (applied, duplicate, ignored, dead_lettered)",
    ["consumer", "event_type", "outcome"],
)
BATCH_SECONDS = Histogram("supportdesk_consumer_batch_seconds", "Time to apply one batch", ["consumer"])
