"""How the outside world reaches escalation: the HTTP app and the command line."""
