"""What the service does: handlers of consumed events, commands, background workers.
Each loads what it needs, calls the domain, and saves once."""
