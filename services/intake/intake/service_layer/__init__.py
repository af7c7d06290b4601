"""What the service does: handlers of consumed events, commands, read views, and background
workers (all in `workers`). Each loads what it needs, calls the domain, and saves once."""
