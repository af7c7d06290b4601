"""assignment's database: agents, teams and the ticket pool beside the shared events (outbox) and inbox tables."""
