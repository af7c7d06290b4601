"""What every service tells its operators, the same way everywhere.

- logs: JSON log lines carrying the event and correlation ids in context
- metrics: the Prometheus counters and gauges of the shared plumbing
- tracing: OpenTelemetry across HTTP and Kafka (off unless OTEL_TRACES_EXPORTER asks)
- health: the state a background part reports (ok, degraded, failing)
"""
