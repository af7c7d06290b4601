"""intake: every request by web, email or phone becomes a ticket, and its lifecycle is decided here."""
