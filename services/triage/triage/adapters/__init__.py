"""Triage's database: its read model beside the shared events (outbox) and inbox tables."""
