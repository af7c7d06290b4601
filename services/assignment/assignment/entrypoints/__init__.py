"""How the outside world reaches assignment: the HTTP app and the command line."""
