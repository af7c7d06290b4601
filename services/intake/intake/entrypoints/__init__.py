"""How the outside world reaches intake: the HTTP app and the command line."""
