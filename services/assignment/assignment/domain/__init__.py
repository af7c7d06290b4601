"""Who works here and who gets which ticket: pure decisions, no I/O, time passed in."""
