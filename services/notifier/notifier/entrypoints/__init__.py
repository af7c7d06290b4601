"""How the outside world reaches notifier: the HTTP app and the command line."""
