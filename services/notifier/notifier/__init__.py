"""notifier: tells customers and staff by email and signed webhooks, exactly once per event."""
