"""Exactly-once effects on at-least-once delivery, on Kafka and PostgreSQL.

- db: engines, the plumbing tables (outbox, inbox, dead letters) every service database has
- outbox: record events in the read model's transaction; relay: the fenced relay that publishes them
- consumer: the Kafka loop (poison messages dead-lettered, offsets, health); inbox: batches applied
  through the inbox as sets; handler_context: what a handler is given; world: outage or bad message
- handlers: a service's typed handlers by event type
- dead_letters, redrive: what a consumer could not apply, and putting it back in line
- personal: requesters' data keys (sealing personal fields, erasure by destroying the key)
- admin: topic creation; producers: when a producer must be replaced
- timers, bulk, sealing: small helpers of the above
"""
