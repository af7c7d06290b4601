"""How the outside world reaches triage: the HTTP app and the command line."""
