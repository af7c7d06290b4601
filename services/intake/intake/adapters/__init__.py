"""Intake's database: tickets read model, ticket numbers, beside the events (outbox) and inbox."""
