"""escalation's database: per-ticket escalation state beside the events (outbox) and inbox."""
