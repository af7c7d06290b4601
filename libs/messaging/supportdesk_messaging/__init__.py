"""Exactly-once effects on at-least-once delivery, on Kafka and PostgreSQL.

- db: engines, the plumbing tables (outbox, inbox, dead letters) every service database has
- outbox: record events in the read model's transaction; the fenced relay that publishes them
- consumer: the inbox consumer (batches applied as sets, poison messages dead-lettered)
- handlers: a service's typed handlers by event type
- dead_letters, redrive: what a consumer could not apply, and putting it back in line
- personal: requesters' data keys (sealing personal fields, erasure by destroying the key)
- admin: topic creation; producers: when a producer must be replaced
- timers, bulk, sealing: small helpers of the above
"""
