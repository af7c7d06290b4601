"""Escalation rules: levels and triggers. Pure Python, no framework imports."""
