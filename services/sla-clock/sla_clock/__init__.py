"""sla-clock: business-hour timers kept as projections; warnings, breaches and met targets."""
