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
OUTBOX_PRODUCER_RENEWALS = Counter(
    "supportdesk_outbox_producer_renewals_total",
    "Kafka producers the relay replaced after they lost step with the broker",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "supportdesk_consumer_lag",
    "Messages waiting in a partition: its high watermark minus the next offset the consumer will apply",
    ["consumer", "topic", "partition"],
)
CONSUMER_PROGRESS_AGE = Gauge(
    "supportdesk_consumer_last_progress_age_seconds",
    "Seconds since the consumer last committed a batch or found nothing waiting",
    ["consumer"],
)
DEAD_LETTERS = Counter(
    "supportdesk_dead_letters_total",
    "Messages written to the consumer's dead-letter topic, by reason class "
    "(handler_failed, not_json, unknown_type, unsupported_version, invalid_payload, undecodable, ...)",
    ["consumer", "reason"],
)
DEAD_LETTERS_TRUNCATED = Counter(
    "supportdesk_dead_letters_truncated_total",
    "Dead letters too large to carry the whole original, written with a truncated copy",
    ["consumer"],
)
BATCH_FAILURES = Counter(
    "supportdesk_consumer_batch_failures_total",
    "Batches that failed: cause 'world' (database or broker unavailable; retried from their first "
    "offsets) or 'message' (applied again one by one, the failing messages dead-lettered)",
    ["consumer", "cause"],
)
DEAD_LETTERED = Counter(
    "supportdesk_dead_lettered_messages_total",
    "Messages the consumer dead-lettered, by reason class and the topic they came from",
    ["consumer", "reason", "topic"],
)
DEAD_LETTERS_PENDING = Gauge(
    "supportdesk_dead_letters_pending",
    "Dead letters not yet redriven (the consumer's dead_letters table; refreshed on every scrape)",
    ["consumer"],
)
DEAD_LETTERS_REDRIVEN = Counter(
    "supportdesk_dead_letters_redriven_total",
    "Redrive attempts by outcome (applied, duplicate, ignored, already_redriven, failed)",
    ["consumer", "outcome"],
)
RATE_LIMITED = Counter(
    "supportdesk_rate_limited_total",
    "Requests refused with 429 by a rate limit, by route (its path template) and limit",
    ["service", "route", "limit"],
)
