"""Triage rules: pure functions of what a ticket says, no framework imports."""
