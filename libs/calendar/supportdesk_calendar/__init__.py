"""Business calendars and holiday sets: pure computation (no I/O), exact to the second."""
