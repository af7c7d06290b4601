"""How the outside world reaches sla-clock: the HTTP app and the command line."""
