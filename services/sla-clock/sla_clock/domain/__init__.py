"""SLA rules: calendars, policies, targets. Pure Python, no framework imports."""
