"""What the idempotent producers (the outbox relay's, the dead-letter sender's) need to survive.

aiokafka's idempotent producer can lose step with the broker's sequence numbers after an outage
(a batch times out, the broker comes back, and every later batch is refused with
OutOfOrderSequenceNumber: aio-libs/aiokafka#1017). It never recovers by itself, so the pipeline
would stop while the broker is fine. The remedy the Kafka clients agree on is a new producer id:
stop that producer and start a new one. Rows not marked published are sent again, which the
consumers' inboxes make harmless.
"""

from __future__ import annotations

from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

# Errors about the producer's own identity or sequence state: retrying with it cannot help.
PRODUCER_STATE_ERRORS: tuple[type[KafkaError], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    ProducerClosed,
)

# Any other broker error this many times in a row also gets a new producer: a state we do not
# know of must not stop the desk either, and a new producer costs one metadata round trip.
RENEW_AFTER_FAILURES = 3


def needs_new_producer(error: BaseException, failures_in_a_row: int) -> bool:
    """Whether the producer that failed with `error` (the n-th failure in a row) must be replaced."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PRODUCER_STATE_ERRORS):
            return True
        current = current.__cause__
    return failures_in_a_row >= RENEW_AFTER_FAILURES
