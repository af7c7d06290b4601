"""notifier's database: contacts per ticket and the delivery ledger, beside the events (outbox) and inbox."""
