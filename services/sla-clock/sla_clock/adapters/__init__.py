"""sla-clock's database: clocks read model beside the events (outbox) and inbox."""
